"""``/logs``: the log lines of the client's runs with the filters of ``orchestra logs``, and
``/logs/tail``: the same as server-sent events, live."""

from __future__ import annotations

import json
from typing import Any

import anyio
import sqlalchemy as sa
from starlette.responses import StreamingResponse

from ..._store import LEVELS
from ..._store.schema import clients, events, pipeline_runs, pipelines
from ..endpoint import Call, Endpoint, limit_param, query
from ..schema import INT, TIME, arr, enum, ref
from ._scope import find_run, iso

__all__ = ("ENDPOINTS",)

#: Seconds between two looks for new lines in a tail.
TAIL_POLL = 0.5


def _query(call: Call, after_id: int | None = None) -> Any:
    run_ids = (sa.select(pipeline_runs.c.id)
               .join(pipelines, pipelines.c.id == pipeline_runs.c.pipeline_id)
               .join(clients, clients.c.id == pipelines.c.client_id)
               .where(clients.c.name == call.client))
    q = sa.select(events).where(events.c.run_id.in_(run_ids))
    if call["since"]:
        q = q.where(events.c.time >= call["since"])
    if call["until"]:
        q = q.where(events.c.time <= call["until"])
    if call["level"]:
        q = q.where(events.c.level.in_(LEVELS[LEVELS.index(call["level"]):]))
    if call["pipeline"]:
        q = q.where(events.c.pipeline == call["pipeline"])
    if call["run_id"]:
        q = q.where(events.c.run_id == find_run(call.api.store, call.client,
                                                call["run_id"])["id"])
    if call["task"]:
        q = q.where(events.c.task_id == call["task"])
    if after_id is not None:
        q = q.where(events.c.id > after_id)
    return q


def _line(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "time": iso(row["time"]), "level": row["level"],
            "pipeline": row["pipeline"], "run_id": row["run_id"], "task_id": row["task_id"],
            "message": row["message"]}


def list_logs(call: Call) -> list[dict[str, Any]]:
    """Log lines of the client's runs, oldest first, filtered by time, minimum level,
    pipeline, run and task (as ``orchestra logs``)."""
    q = _query(call).order_by(events.c.time, events.c.id).limit(call["limit"])
    with call.api.store.engine.connect() as conn:
        return [_line(r) for r in conn.execute(q).mappings()]


async def tail_logs(call: Call) -> StreamingResponse:
    """The matching log lines as server-sent events (``event: log``, ``data:`` one JSON
    line each, ``id:`` the line's number), then every new one as it is written. A
    ``Last-Event-ID`` header (or ``after_id``) continues after that line. Ends when the run
    asked for (``run_id``) has ended, or after ``max_seconds``."""
    api = call.api
    after = call["after_id"]
    last = call.request.headers.get("last-event-id")
    if last is not None and last.isdigit():
        after = int(last)
    await anyio.to_thread.run_sync(_query, call)  # a bad run id answers 404 now
    run_id = call["run_id"]

    def fetch(after_id: int | None) -> tuple[list[dict[str, Any]], bool]:
        q = _query(call, after_id).order_by(events.c.id).limit(500)
        with api.store.engine.connect() as conn:
            rows = [_line(r) for r in conn.execute(q).mappings()]
        ended = False
        if run_id:
            ended = find_run(api.store, call.client, run_id)["state"] in (
                "succeeded", "failed", "cancelled")
        return rows, ended

    async def stream() -> Any:
        nonlocal after
        with anyio.move_on_after(call["max_seconds"]):
            while True:
                rows, ended = await anyio.to_thread.run_sync(fetch, after)
                for row in rows:
                    after = row["id"]
                    data = json.dumps(api.redactor.mask_obj(row))
                    yield f"id: {row['id']}\nevent: log\ndata: {data}\n\n"
                if ended and not rows:
                    yield "event: end\ndata: {}\n\n"
                    return
                if not rows:
                    yield ": keep-alive\n\n"
                    await anyio.sleep(TAIL_POLL)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})


_FILTERS = (
    query("since", TIME, "From this time (ISO 8601)."),
    query("until", TIME, "Up to this time."),
    query("level", enum(*LEVELS), "Minimum level."),
    query("pipeline", description="Only this pipeline."),
    query("run_id", description="Only this run."),
    query("task", description="Only this task."),
)
T = "logs"
ENDPOINTS = [
    Endpoint("GET", "/logs", list_logs, "read", "Read log lines", T,
             (*_FILTERS, limit_param(1000, 5000)), response=arr(ref("LogLine")),
             errors=(404,)),
    Endpoint("GET", "/logs/tail", tail_logs, "read", "Follow log lines (server-sent events)",
             T, (*_FILTERS, query("after_id", {**INT, "minimum": 0}, "Start after this line."),
                 query("max_seconds", {**INT, "minimum": 1, "maximum": 3600, "default": 300},
                       "Stop after this long.")),
             response={"type": "string"}, media_type="text/event-stream", stream=True,
             errors=(404,)),
]
