"""Guided resolutions of a failed task, in the store: retry it, skip it, cancel the run, or
rerun the run from a task.

- **retry**: the task and every dependent that did not succeed go back to ``pending``, and
  the run is queued again; a worker (``orchestra serve``) resumes it, so tasks that
  succeeded are not run again.
- **skip**: the task is marked ``skipped`` and its dependents run **as if it had
  succeeded** (the walk reads :data:`SKIPPED_BY_RESOLUTION` like a task outside the run
  type); the run is queued again.
- **cancel**: the run ends ``cancelled`` (a running one is asked to cancel); nothing is
  offered any more.
- **rerun_from** (any ended run): a new run of the same definition in which the task and everything
  downstream of it start afresh, and every other task that succeeded (or was skipped) keeps
  its recorded result.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .._errors import OrchestraError
from .._serialize import pipeline_from_definition
from .._store.schema import pipeline_runs, task_runs
from ._dag import SEEN_AS_SUCCEEDED, Graph
from ._states import BAD

__all__ = ("RESOLUTIONS", "SKIPPED_BY_RESOLUTION", "ResolutionRefused", "downstream",
           "offered", "reopen", "resolve")

#: The ``error`` of a task skipped by a resolution: its dependents see it as succeeded.
SKIPPED_BY_RESOLUTION = SEEN_AS_SUCCEEDED[1]
RESOLUTIONS = ("retry", "skip", "cancel", "rerun_from")
_ENDED = ("succeeded", "failed", "cancelled")
_RESET = dict(state="pending", external_id=None, external=None, started_at=None,
              ended_at=None, next_attempt_at=None, error=None, outcome=None, intent=None,
              end_seq=None)


class ResolutionRefused(OrchestraError):
    """The resolution does not apply to the run or task in its current state."""


def downstream(definition: dict[str, Any], task_id: str) -> list[str]:
    """Every node (task or stage) that depends on *task_id*, directly or not, in order."""
    graph = Graph(pipeline_from_definition(definition, source=None))
    if task_id not in graph.deps:
        raise ResolutionRefused(f"no task {task_id!r} in the run")
    seen: list[str] = []
    todo = list(graph.dependents.get(task_id, ()))
    while todo:
        node = todo.pop(0)
        if node not in seen:
            seen.append(node)
            todo += graph.dependents.get(node, ())
    return seen


def offered(run_state: str, task_state: str) -> list[str]:
    """The resolutions offered for a task in *task_state* of a run in *run_state*."""
    if run_state not in ("failed", "cancelled"):
        return ["rerun_from"] if run_state == "succeeded" else []
    if task_state in BAD:
        return list(RESOLUTIONS)
    return ["rerun_from"]


def _rows(conn: sa.Connection, run_id: str) -> dict[str, dict[str, Any]]:
    rows = conn.execute(sa.select(task_runs).where(task_runs.c.run_id == run_id)
                        .order_by(task_runs.c.id)).mappings().all()
    return {r["task_id"]: dict(r) for r in rows}


def resolve(store: Any, run: dict[str, Any], action: str, task_id: str | None,
            now: datetime) -> dict[str, Any]:
    """Apply resolution *action* to task *task_id* of *run* (a stored run record); return
    ``{"run_id", "state", "reset_tasks", "detail"}``. The run ``id`` returned by
    ``rerun_from`` is the new run's."""
    if action not in RESOLUTIONS:
        raise ResolutionRefused(f"unknown resolution {action!r}: one of {', '.join(RESOLUTIONS)}")
    run_id, state = run["id"], run["state"]
    if action == "cancel":
        return _cancel(store, run, now)
    if action == "rerun_from" and state not in _ENDED:
        raise ResolutionRefused(f"run {run_id} is {state}: a run is rerun once it has ended")
    if action != "rerun_from" and state not in ("failed", "cancelled"):
        raise ResolutionRefused(f"run {run_id} is {state}: tasks are resolved once the run has "
                                "failed or been cancelled (cancel it first)")
    if task_id is None:
        raise ResolutionRefused(f"resolution {action!r} needs a task")
    after = downstream(run["definition"], task_id)
    with store.engine.begin() as conn:
        rows = _rows(conn, run_id)
        if action == "rerun_from":
            return _rerun(conn, run, rows, [task_id, *after], now)
        if rows[task_id]["state"] not in BAD:
            raise ResolutionRefused(f"task {task_id!r} is {rows[task_id]['state']}: only a "
                                    "failed, timed-out or cancelled task can be retried or "
                                    "skipped (rerun the run from it instead)")
        reset = [n for n in after if rows[n]["state"] != "succeeded"]
        first = dict(_RESET) if action == "retry" else dict(
            _RESET, state="skipped", error=SKIPPED_BY_RESOLUTION, ended_at=now)
        _update(conn, run_id, task_id, {**first, "updated_at": now})
        for node in reset:
            _update(conn, run_id, node, {**_RESET, "updated_at": now})
        conn.execute(pipeline_runs.update().where(pipeline_runs.c.id == run_id).values(
            state="pending", ended_at=None, end_seq=None, error=None, cancel_requested=False,
            owner=None, heartbeat_at=None))
    detail = (f"task {task_id!r} will be tried again" if action == "retry" else
              f"task {task_id!r} is skipped; its dependents run as if it had succeeded")
    return {"run_id": run_id, "state": "pending",
            "reset_tasks": ([task_id] if action == "retry" else []) + reset,
            "detail": detail + "; the run is queued for a worker to resume"}


def _update(conn: sa.Connection, run_id: str, task_id: str, values: dict[str, Any]) -> None:
    conn.execute(task_runs.update().where(task_runs.c.run_id == run_id,
                                          task_runs.c.task_id == task_id).values(**values))


def _cancel(store: Any, run: dict[str, Any], now: datetime) -> dict[str, Any]:
    run_id = run["id"]
    if run["state"] in _ENDED:
        if run["state"] == "succeeded":
            raise ResolutionRefused(f"run {run_id} succeeded: there is nothing to cancel")
        with store.engine.begin() as conn:
            conn.execute(pipeline_runs.update().where(pipeline_runs.c.id == run_id).values(
                state="cancelled", error=(run["error"] or "") + "; cancelled by a resolution"
                if run["error"] else "cancelled by a resolution"))
        return {"run_id": run_id, "state": "cancelled", "reset_tasks": [],
                "detail": "the run is closed as cancelled"}
    store.request_cancel(run_id)
    return {"run_id": run_id, "state": run["state"], "reset_tasks": [],
            "detail": "cancel requested: the process running it cancels its tasks"}


def _rerun(conn: sa.Connection, run: dict[str, Any], rows: dict[str, dict[str, Any]],
           fresh: list[str], now: datetime) -> dict[str, Any]:
    new_id = str(uuid.uuid4())
    conn.execute(pipeline_runs.insert().values(
        id=new_id, pipeline_id=run["pipeline_id"], run_type=run["run_type"],
        trigger=f"rerun:{run['id']}"[:64], state="pending", definition=run["definition"],
        created_at=now, cancel_requested=False, owner=None))
    copied = ("state", "attempt", "external_id", "external", "started_at", "ended_at",
              "error", "meta", "outcome")
    out = []
    for task_id, row in rows.items():
        keep = task_id not in fresh and row["state"] in ("succeeded", "skipped")
        values = {k: row[k] for k in copied} if keep else {**_RESET, "attempt": 0, "meta": None}
        out.append(dict(run_id=new_id, task_id=task_id, kind=row["kind"],
                        integration=row["integration"], job=row["job"], updated_at=now,
                        **values))
    conn.execute(task_runs.insert(), out)  # the engine restores the finished ones
    return {"run_id": new_id, "state": "pending", "reset_tasks": fresh,
            "detail": f"new run {new_id} starts from task {fresh[0]!r}; the tasks before it "
                      "keep their results"}


def reopen(store: Any, run: dict[str, Any], now: datetime) -> list[str]:
    """Continue failed or cancelled *run*: every task that did not succeed (failed,
    timed out, cancelled, skipped because of them, never reached) goes back to ``pending``
    and the run is queued again; return the tasks reset."""
    if run["state"] not in ("failed", "cancelled"):
        raise ResolutionRefused(f"run {run['id']} is {run['state']}: only a failed or "
                                "cancelled run can be resumed (the workers resume "
                                "interrupted runs by themselves)")
    with store.engine.begin() as conn:
        rows = _rows(conn, run["id"])
        reset = [n for n, r in rows.items() if r["state"] != "succeeded"
                 and not (r["state"] == "skipped" and r["error"] in SEEN_AS_SUCCEEDED)]
        for node in reset:
            _update(conn, run["id"], node, {**_RESET, "updated_at": now})
        conn.execute(pipeline_runs.update().where(pipeline_runs.c.id == run["id"]).values(
            state="pending", ended_at=None, end_seq=None, error=None, cancel_requested=False,
            owner=None, heartbeat_at=None))
    return reset
