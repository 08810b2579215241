"""The simulated Census Management API v1: routes, auth, envelopes and error bodies.

Answers as the real API does: ``{"status": "success", "data": ...}`` envelopes,
``{"status": "created", ...}`` on creation, ``{"status": "cancelled", "data": {}}`` on
cancel, and errors as ``{"status": <HTTP code>, "message": "..."}``. Auth is the workspace
token as ``Authorization: Bearer <token>``, or HTTP Basic with user ``bearer`` and the token
as password (the older documented form).
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestra_core.testing import is_loopback

if TYPE_CHECKING:
    from . import CensusSimulator

__all__ = ("API_PREFIX", "census_routes", "error")

API_PREFIX = "/api/v1"

WEBHOOK_EVENTS = ("sync.triggered", "sync.started", "sync.completed", "sync.success",
                  "sync.failed", "sync.alert.raised", "sync.alert.resolved")

_TRUE = {"true", "1", "yes"}


def error(status: int, message: str) -> JSONResponse:
    """An error answer in Census's shape."""
    return JSONResponse({"status": status, "message": message}, status_code=status)


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def _page(request: Request, items: list[Any]) -> dict[str, Any]:
    """A page of *items* per ``page``/``per_page`` (max 100), with Census's pagination."""
    try:
        page = max(1, int(request.query_params.get("page", "1")))
        per_page = min(100, max(1, int(request.query_params.get("per_page", "25"))))
    except ValueError:
        page, per_page = 1, 25
    last = max(1, math.ceil(len(items) / per_page))
    chunk = items[(page - 1) * per_page: page * per_page]
    return {
        "status": "success",
        "data": chunk,
        "pagination": {
            "total_records": len(items), "per_page": per_page, "page": page,
            "prev_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if page < last else None, "last_page": last,
        },
    }


def census_routes(sim: CensusSimulator) -> list[Route]:
    """The API routes of *sim* (the simulator checks the token before any of them)."""
    ws = sim.workspace

    def sync_of(request: Request) -> Any:
        sync_id = _int(request.path_params["sync_id"])
        if sync_id is None:
            return None
        sync = ws.syncs.get(sync_id)
        if sync is None and sim.auto_create:
            with sim.lock:
                sync = ws.syncs.get(sync_id) or sim.add_sync(sync_id)
        return sync

    def run_of(request: Request) -> Any:
        run_id = _int(request.path_params["run_id"])
        return ws.runs.get(run_id) if run_id is not None else None

    def run_json(run: Any) -> dict[str, Any]:
        return sim.run_json(run)

    async def list_syncs(request: Request) -> Response:
        order = request.query_params.get("order", "desc")
        syncs = sorted(ws.syncs.values(), key=lambda s: s.id, reverse=order != "asc")
        return JSONResponse(_page(request, [s.to_json() for s in syncs]))

    async def get_sync(request: Request) -> Response:
        sync = sync_of(request)
        if sync is None:
            return error(404, "Resource not found")
        return JSONResponse({"status": "success", "data": sync.to_json()})

    async def trigger(request: Request) -> Response:
        sync = sync_of(request)
        if sync is None:
            return error(404, "Resource not found")
        full = request.query_params.get("force_full_sync", "").lower() in _TRUE
        raw = await request.body()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                return error(400, "Request body is not valid JSON")
            if isinstance(body, dict) and body.get("force_full_sync") is True:
                full = True
        run = sim.trigger(sync.id, full_sync=full)
        return JSONResponse({"status": "success", "data": {"sync_run_id": run.id}})

    async def list_runs(request: Request) -> Response:
        sync = sync_of(request)
        if sync is None:
            return error(404, "Resource not found")
        order = request.query_params.get("order", "desc")
        runs = ws.runs_of(sync.id, descending=order != "asc")
        return JSONResponse(_page(request, [run_json(r) for r in runs]))

    async def get_run(request: Request) -> Response:
        run = run_of(request)
        if run is None:
            return error(404, "Resource not found")
        return JSONResponse({"status": "success", "data": run_json(run)})

    async def cancel_run(request: Request) -> Response:
        run = run_of(request)
        if run is None:
            return error(404, "Resource not found")
        sim.cancel(run.id)
        return JSONResponse({"status": "cancelled", "data": {}})

    async def create_webhook(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return error(400, "Request body is not valid JSON")
        if not isinstance(body, dict):
            return error(400, "Request body must be a JSON object")
        name, endpoint = body.get("name"), body.get("endpoint")
        if not isinstance(name, str) or not name.strip():
            return error(400, "name is required")
        if not isinstance(endpoint, str) or not endpoint:
            return error(400, "endpoint is required")
        parts = urlsplit(endpoint)
        loopback = is_loopback(parts.hostname)
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback
                                            and sim.allow_http_webhooks):
            return error(400, "endpoint must be an HTTPS URL")
        if not loopback:
            return error(400, "the simulator only delivers webhooks to this machine "
                              "(127.0.0.1 or localhost)")
        events = body.get("events") or list(WEBHOOK_EVENTS)
        if not isinstance(events, list):
            return error(400, "events must be a list")
        unknown = [str(e) for e in events if e not in WEBHOOK_EVENTS]
        if unknown:
            return error(400, f"unknown events: {', '.join(unknown)}")
        target = sim.create_webhook(name, endpoint, events, body.get("description"))
        return JSONResponse({"status": "created", "data": sim.webhook_json(target, True)},
                            status_code=201)

    async def list_webhooks(request: Request) -> Response:
        return JSONResponse(_page(request, [sim.webhook_json(t) for t in sim.census_webhooks()]))

    async def one_webhook(request: Request) -> Response:
        hook_id = _int(request.path_params["webhook_id"])
        target = next((t for t in sim.census_webhooks() if t.data["census_id"] == hook_id),
                      None)
        if target is None:
            return error(404, "Resource not found")
        if request.method == "DELETE":
            sim.remove_webhook(target)
            return JSONResponse({"status": "deleted"})
        if request.method == "PATCH":
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                return error(400, "Request body is not valid JSON")
            if not isinstance(body, dict):
                return error(400, "Request body must be a JSON object")
            for key in ("name", "description"):
                if key in body:
                    target.data[key] = body[key]
            if isinstance(body.get("events"), list):
                target.events = tuple(body["events"])
        return JSONResponse({"status": "success", "data": sim.webhook_json(target)})

    p = API_PREFIX
    return [
        Route(f"{p}/syncs", list_syncs, methods=["GET"]),
        Route(f"{p}/syncs/{{sync_id}}", get_sync, methods=["GET"]),
        Route(f"{p}/syncs/{{sync_id}}/trigger", trigger, methods=["POST"]),
        Route(f"{p}/syncs/{{sync_id}}/sync_runs", list_runs, methods=["GET"]),
        Route(f"{p}/sync_runs/{{run_id}}", get_run, methods=["GET"]),
        Route(f"{p}/sync_runs/{{run_id}}/cancel", cancel_run, methods=["POST"]),
        Route(f"{p}/webhooks", create_webhook, methods=["POST"]),
        Route(f"{p}/webhooks", list_webhooks, methods=["GET"]),
        Route(f"{p}/webhooks/{{webhook_id}}", one_webhook, methods=["GET", "PATCH", "DELETE"]),
    ]
