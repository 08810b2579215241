"""``/runs``: list (filters, cursor paging), show, start, cancel, resume."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import sqlalchemy as sa

from ..._engine._resolutions import offered, reopen
from ..._scheduling.pending_runs import insert_pending_runs
from ..._store.schema import clients, pipeline_runs, pipeline_versions, pipelines
from ..endpoint import Call, Endpoint, limit_param, path_param, query
from ..problems import ApiError
from ..schema import OBJ, STR, TIME, enum, obj, ref
from ._scope import find_run, iso, run_summary, runs_query

__all__ = ("ENDPOINTS", "RUN_ID")

RUN_ID = path_param("run_id", "The run's id (or at least 8 characters of it).")
RUN_TYPES = ("full", "refresh", "source")


def _cursor(row: dict[str, Any]) -> str:
    raw = json.dumps([iso(row["created_at"]), row["id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _uncursor(text: str) -> tuple[Any, str]:
    from datetime import datetime

    try:
        created, run_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        return datetime.fromisoformat(created), str(run_id)
    except (ValueError, TypeError):
        raise ApiError(400, "query parameter 'cursor': not a cursor this API gave") from None


def list_runs(call: Call) -> dict[str, Any]:
    """Runs of the client's pipelines, newest first, filtered; ``next_cursor`` fetches the
    next page (``null`` on the last)."""
    r = pipeline_runs.c
    q = runs_query()
    if call["pipeline"]:
        q = q.where(clients.c.name == call.client, pipelines.c.name == call["pipeline"])
    else:  # walk the runs newest first (an index) and keep the client's
        mine = (sa.select(pipelines.c.id).join(clients, clients.c.id == pipelines.c.client_id)
                .where(clients.c.name == call.client))
        column: Any = r.pipeline_id
        if call.api.store.engine.dialect.name == "sqlite":  # "+": not by the pipeline index
            column = sa.literal_column("+pipeline_runs.pipeline_id")
        q = q.where(column.in_(mine))
    if call["state"]:
        q = q.where(r.state == call["state"])
    if call["run_type"]:
        q = q.where(r.run_type == call["run_type"])
    if call["trigger_kind"]:
        kind = call["trigger_kind"]
        q = q.where(sa.or_(r.trigger == kind, r.trigger.startswith(kind + ":", autoescape=True)))
    if call["since"]:
        q = q.where(r.created_at >= call["since"])
    if call["until"]:
        q = q.where(r.created_at <= call["until"])
    if call["cursor"]:
        created, run_id = _uncursor(call["cursor"])
        q = q.where(sa.or_(r.created_at < created,
                           sa.and_(r.created_at == created, r.id < run_id)))
    limit = call["limit"]
    q = q.order_by(r.created_at.desc(), r.id.desc()).limit(limit + 1)
    with call.api.store.engine.connect() as conn:
        rows = [dict(x) for x in conn.execute(q).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    return {"runs": [run_summary(x) for x in rows],
            "next_cursor": _cursor(rows[-1]) if more and rows else None}


def run_detail(call: Call, run_id: str) -> dict[str, Any]:
    """A run of the caller's client with its tasks and the resolutions each offers."""
    summary = find_run(call.api.store, call.client, run_id)
    tasks = call.api.store.task_runs(summary["id"])
    out = run_summary(summary)
    out["tasks"] = [{
        "task_id": t["task_id"], "kind": t["kind"], "integration": t["integration"],
        "job": t["job"], "state": t["state"], "attempt": t["attempt"],
        "external_id": t["external_id"], "external": t["external"],
        "started_at": iso(t["started_at"]), "ended_at": iso(t["ended_at"]),
        "next_attempt_at": iso(t["next_attempt_at"]), "error": t["error"],
        "metadata": t["meta"], "outcome": t["outcome"],
        "resolutions": offered(out["state"], t["state"]) if t["kind"] == "task" else [],
    } for t in tasks]
    return out


def show_run(call: Call) -> dict[str, Any]:
    """A run: state, times, error, and every task with its attempt, external run, metadata
    and the guided resolutions it offers."""
    return run_detail(call, call["run_id"])


def _override(definition: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    definition = copy.deepcopy(definition)
    tasks = {t["id"]: t for t in definition.get("tasks", [])}
    errors = []
    for task_id, values in parameters.items():
        if task_id not in tasks:
            errors.append({"path": f"$.parameters.{task_id}",
                           "message": f"no task {task_id!r} in the pipeline"})
        elif not isinstance(values, dict):
            errors.append({"path": f"$.parameters.{task_id}", "message": "expected an object"})
        else:
            tasks[task_id]["parameters"] = {**tasks[task_id].get("parameters", {}), **values}
    if errors:
        raise ApiError(422, errors[0]["message"], errors=errors)
    return definition


def _check_parameters(call: Call, definition: dict[str, Any], task_ids: list[str]) -> None:
    from ..._serialize import pipeline_from_definition

    try:
        pipeline = pipeline_from_definition(definition, source=None)
    except Exception as exc:
        raise ApiError(422, f"the parameters do not fit the pipeline: {exc}") from None
    host = call.api.host
    errors = []
    for task in pipeline.tasks:
        if task.id not in task_ids:
            continue
        job = host.find_job(task.integration, task.integration_job)
        if job is None:
            continue
        _, problems = host.structure_parameters(job, task.parameters,
                                                f"$.parameters.{task.id}")
        errors += [{"path": p.path, "message": p.message} for p in problems]
    if errors:
        raise ApiError(422, f"{errors[0]['path']}: {errors[0]['message']}", errors=errors)


def start_run(call: Call) -> dict[str, Any]:
    """Queue a run of a registered pipeline (its latest version) with a run type and,
    optionally, parameters overriding those of some tasks (``{task_id: {name: value}}``)
    for this run only. A worker (``orchestra serve``) executes it; follow it with
    ``GET /runs/{run_id}`` or ``GET /logs/tail?run_id=...``."""
    body = call.body
    name = body["pipeline"]
    run_type = body.get("run_type", "full")
    parameters = body.get("parameters") or {}
    now = call.api.now()
    with call.api.store.engine.begin() as conn:
        row = conn.execute(sa.select(pipelines.c.id, pipeline_versions.c.definition)
                           .join(clients, clients.c.id == pipelines.c.client_id)
                           .join(pipeline_versions,
                                 pipeline_versions.c.pipeline_id == pipelines.c.id)
                           .where(pipelines.c.name == name, clients.c.name == call.client)
                           .order_by(pipeline_versions.c.version.desc()).limit(1)).first()
        if row is None:
            raise ApiError(404, f"no registered pipeline {name!r}")
        definition = row.definition
        if parameters:
            definition = _override(definition, parameters)
            _check_parameters(call, definition, list(parameters))
        run_id = insert_pending_runs(conn, [(row.id, definition, run_type,
                                             f"api:{call.token.name}", None)], now)[0]
        call.audit("run.start", run_id, None, {"pipeline": name, "run_type": run_type,
                                                "parameters": parameters}, conn=conn)
    call.api.queued(run_id)
    return run_summary(find_run(call.api.store, call.client, run_id))


def cancel_run(call: Call) -> dict[str, Any]:
    """Ask the process running the run to cancel it (running tasks are cancelled at the
    vendor). A run that already ended is answered as it is."""
    run = find_run(call.api.store, call.client, call["run_id"])
    state = call.api.store.request_cancel(run["id"])
    if state not in ("succeeded", "failed", "cancelled"):
        call.audit("run.cancel", run["id"], {"state": state}, {"cancel_requested": True})
    return run_summary(find_run(call.api.store, call.client, run["id"]))


def resume_run(call: Call) -> dict[str, Any]:
    """Continue a failed or cancelled run: every task that did not succeed (failed, timed
    out, cancelled, skipped because of them, never reached) goes back to pending, tasks that
    succeeded keep their results, and the run is queued for a worker. (An interrupted run is
    resumed by the workers by themselves.)"""
    store = call.api.store
    summary = find_run(store, call.client, call["run_id"])
    reset = reopen(store, store.get_run(summary["id"]), call.api.now())
    call.audit("run.resume", summary["id"], {"state": summary["state"]},
               {"state": "pending", "reset_tasks": reset})
    call.api.queued(summary["id"])
    return run_summary(find_run(store, call.client, summary["id"]))


_FILTERS = (
    query("pipeline", description="Only runs of this pipeline."),
    query("state", enum("pending", "running", "succeeded", "failed", "cancelled")),
    query("run_type", enum(*RUN_TYPES)),
    query("trigger_kind", description="manual, api, cron, interval, single, queue, after, "
          "changes, rerun."),
    query("since", TIME, "Created at or after (ISO 8601)."),
    query("until", TIME, "Created at or before (ISO 8601)."),
    query("cursor", description="The next_cursor of the previous page."),
    limit_param(),
)
T = "runs"
START = obj(pipeline=STR)
START["properties"].update(run_type=enum(*RUN_TYPES), parameters={
    "type": "object", "additionalProperties": OBJ,
    "description": "Per task id, parameters that override the file's for this run."})
START["additionalProperties"] = False
ENDPOINTS = [
    Endpoint("GET", "/runs", list_runs, "read", "List runs", T, _FILTERS,
             response=ref("RunPage")),
    Endpoint("POST", "/runs", start_run, "run", "Start a run", T, body=START,
             response=ref("RunSummary"), status=201, errors=(404,)),
    Endpoint("GET", "/runs/{run_id}", show_run, "read", "Show a run", T, (RUN_ID,),
             response=ref("Run"), errors=(404, 409)),
    Endpoint("POST", "/runs/{run_id}/cancel", cancel_run, "run", "Cancel a run", T,
             (RUN_ID,), response=ref("RunSummary"), errors=(404, 409)),
    Endpoint("POST", "/runs/{run_id}/resume", resume_run, "run", "Resume a failed run", T,
             (RUN_ID,), response=ref("RunSummary"), errors=(404, 409)),
]
