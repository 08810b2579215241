"""The dashboard's pages (GET): each reads through the API with the session's token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response

from .._store.schema import pipeline_runs
from .graph import layout
from .sessions import Session
from .web import api, checked, page, render, seg

__all__ = ("PAGES",)

ENDED = ("succeeded", "failed", "cancelled")
SCHEDULES = ("cron", "interval", "single")
#: Log lines of each task shown on the run page (the newest).
TASK_LINES = 20
LOG_FILTERS = ("since", "until", "level", "pipeline", "run_id", "task")


def _q(request: Request, *names: str) -> dict[str, str]:
    return {n: request.query_params.get(n, "").strip() for n in names}


@page
async def pipelines(request: Request, session: Session) -> Response:
    """Every pipeline of the client: status, next fire, last run, actions."""
    found = checked(await api(request, session, "GET", "/pipelines"))
    return render(request, "pipelines.html", title="Pipelines", answer=found,
                  pipelines=found.body if found.ok else [])


@page
async def runs(request: Request, session: Session) -> Response:
    """Runs, newest first, filtered, a page at a time."""
    filters = _q(request, "pipeline", "state", "cursor")
    found = checked(await api(request, session, "GET", "/runs",
                              params={**filters, "limit": 50}))
    body = found.body if found.ok else {"runs": [], "next_cursor": None}
    return render(request, "runs.html", title="Runs", answer=found, filters=filters, **body)


def _definition(store: Any, run_id: str) -> dict[str, Any]:
    """The pipeline definition run *run_id* executes (its tasks and their dependencies)."""
    with store.engine.connect() as conn:
        found = conn.execute(sa.select(pipeline_runs.c.definition)
                             .where(pipeline_runs.c.id == run_id)).scalar()
    return found or {}


async def run_view(request: Request, session: Session, run_id: str) -> dict[str, Any]:
    """What the run page and its live part show: the run, its graph and per-task details."""
    found = checked(await api(request, session, "GET", f"/runs/{seg(run_id)}"))
    if not found.ok:
        return {"answer": found}
    run = found.body
    store = request.app.state.api_context.store  # the run is the client's: the API said so
    definition = await anyio.to_thread.run_sync(_definition, store, run["id"])
    states = {t["task_id"]: t["state"] for t in run["tasks"]}
    graph = layout(definition, states)
    lines = await api(request, session, "GET", "/logs",
                      params={"run_id": run["id"], "limit": 1000})
    by_task: dict[str, list[dict[str, Any]]] = {}
    for line in lines.body if lines.ok else []:
        by_task.setdefault(line["task_id"] or "", []).append(line)
    return {"answer": found, "run": run, "graph": graph, "ended": run["state"] in ENDED,
            "task_logs": {k: v[-TASK_LINES:] for k, v in by_task.items()}}


@page
async def run_page(request: Request, session: Session) -> Response:
    """One run: its DAG, coloured by state and updated live, and each task's details."""
    view = await run_view(request, session, request.path_params["run_id"])
    status = 200 if view["answer"].ok else view["answer"].status
    return render(request, "run.html", status=status, title="Run", **view)


@page
async def run_live(request: Request, session: Session) -> Response:
    """The live part of the run page (polled until the run ends)."""
    view = await run_view(request, session, request.path_params["run_id"])
    return render(request, "run_live.html", **view)


def log_params(request: Request) -> dict[str, str]:
    """The log filters of the query (``since`` defaults to a day ago)."""
    filters = _q(request, *LOG_FILTERS)
    for key in ("since", "until"):  # datetime-local inputs: no zone, read as UTC
        if filters[key] and len(filters[key]) == 16:
            filters[key] += ":00"
        if filters[key] and "+" not in filters[key] and not filters[key].endswith("Z"):
            filters[key] += "+00:00"
    if not filters["since"]:
        filters["since"] = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    return filters


@page
async def logs(request: Request, session: Session) -> Response:
    """Log lines with filters, and a live tail of new lines."""
    filters = log_params(request)
    found = checked(await api(request, session, "GET", "/logs",
                              params={**filters, "limit": 1000}))
    lines = found.body if found.ok else []
    return render(request, "logs.html", title="Logs", answer=found, lines=lines,
                  form=_q(request, *LOG_FILTERS, "live"), filters=filters,
                  last=lines[-1] if lines else None)


@page
async def log_tail(request: Request, session: Session) -> Response:
    """The lines written after ``after_id`` (the live tail of the logs page)."""
    filters = log_params(request)
    after = int(request.query_params.get("after_id", "0") or 0)
    since = request.query_params.get("after_time") or filters["since"]
    found = checked(await api(request, session, "GET", "/logs",
                              params={**filters, "since": since, "limit": 1000}))
    lines = [x for x in (found.body if found.ok else []) if x["id"] > after]
    last = lines[-1] if lines else {"id": after, "time": since}
    return render(request, "log_tail.html", lines=lines, filters=filters, last=last)


@page
async def triggers(request: Request, session: Session) -> Response:
    """Each pipeline's triggers and the next fire times of the schedules."""
    found = checked(await api(request, session, "GET", "/triggers",
                              params=_q(request, "pipeline")))
    rows = found.body if found.ok else []
    for t in rows:
        t["preview"] = []
        if t["kind"] in SCHEDULES and t["active"]:
            ahead = await api(request, session, "GET", f"/triggers/{seg(t['id'])}/preview",
                              params={"count": 5})
            t["preview"] = ahead.body["times"] if ahead.ok else []
    return render(request, "triggers.html", title="Triggers", answer=found, triggers=rows)


@page
async def queues(request: Request, session: Session) -> Response:
    """Every queue with its elements counted by status, and one queue's elements."""
    found = checked(await api(request, session, "GET", "/queues"))
    name = request.query_params.get("queue", "")
    elements = None
    if name:
        listed = await api(request, session, "GET", f"/queues/{seg(name)}/elements",
                           params={"limit": 100})
        elements = listed.body if listed.ok else []
    return render(request, "queues.html", title="Queues", answer=found,
                  queues=found.body if found.ok else [], queue=name, elements=elements)


@page
async def settings(request: Request, session: Session) -> Response:
    """Constants and credentials by name (never a value), with forms to set them."""
    constants = checked(await api(request, session, "GET", "/constants"))
    credentials = await api(request, session, "GET", "/credentials")
    return render(request, "settings.html", title="Constants and credentials",
                  answer=constants,
                  constants=[{"name": c["name"], "description": c.get("description"),
                              "updated_at": c.get("updated_at")}
                             for c in (constants.body if constants.ok else [])],
                  credentials=credentials.body if credentials.ok else [])


@page
async def audit(request: Request, session: Session) -> Response:
    """The audit log of the client, newest first, filtered, a page at a time."""
    filters = _q(request, "actor", "action", "target", "before_id")
    found = checked(await api(request, session, "GET", "/audit",
                              params={**filters, "limit": 100}))
    rows = found.body if found.ok else []
    return render(request, "audit.html", title="Audit log", answer=found, rows=rows,
                  filters=filters, older=rows[-1]["id"] if len(rows) == 100 else None)


@page
async def destinations(request: Request, session: Session) -> Response:
    """Each orchestration of the client's pipelines: destination, template, run mode, its
    last delivery's run, status and rows."""
    found = checked(await api(request, session, "GET", "/orchestrations"))
    return render(request, "destinations.html", title="Destinations", answer=found,
                  rows=found.body if found.ok else [])


@page
async def notifications(request: Request, session: Session) -> Response:
    """The notifications pane (on every page, refreshed by itself)."""
    found = checked(await api(request, session, "GET", "/notifications",
                              params={"acknowledged": "false", "limit": 20}))
    return render(request, "notifications.html", items=found.body if found.ok else [],
                  back_to=request.query_params.get("back", "/pipelines"))


PAGES = [("/pipelines", pipelines), ("/runs", runs), ("/runs/{run_id}", run_page),
         ("/runs/{run_id}/live", run_live), ("/logs", logs), ("/logs/tail", log_tail),
         ("/triggers", triggers), ("/destinations", destinations), ("/queues", queues),
         ("/settings", settings),
         ("/audit", audit), ("/notifications", notifications)]
