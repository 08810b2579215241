"""The simulated Census Management API v1: routes, auth, envelopes and error bodies.

Answers as the real API does: ``{"status": "success", "data": ...}`` envelopes,
``{"status": "created", ...}`` on creation, ``{"status": "cancelled", "data": {}}`` on
cancel, and errors as ``{"status": <HTTP code>, "message": "..."}``. Auth is the workspace
token as ``Authorization: Bearer <token>``, or HTTP Basic with user ``bearer`` and the token
as password (the older documented form).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._state import iso

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


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return password if user == "bearer" else None
    return None


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
    """The API routes of *sim*, each checking the token first."""
    ws = sim.workspace

    def authed(handler: Callable[[Request], Awaitable[Response]]) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            token = _token(request)
            if token is None or token not in sim.tokens:
                return error(401, "Invalid credentials")
            return await handler(request)

        return endpoint

    def sync_of(request: Request) -> Any:
        sync_id = _int(request.path_params["sync_id"])
        return ws.syncs.get(sync_id) if sync_id is not None else None

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
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback
                                            and sim.allow_http_webhooks):
            return error(400, "endpoint must be an HTTPS URL")
        events = body.get("events") or list(WEBHOOK_EVENTS)
        unknown = [e for e in events if e not in WEBHOOK_EVENTS]
        if not isinstance(events, list) or unknown:
            return error(400, f"unknown events: {', '.join(map(str, unknown))}")
        hook = ws.add_webhook(name, endpoint, list(events), body.get("description"),
                              iso(sim.clock.now()))
        return JSONResponse({"status": "created", "data": hook.to_json(with_secret=True)},
                            status_code=201)

    async def list_webhooks(request: Request) -> Response:
        hooks = sorted(ws.webhooks.values(), key=lambda h: h.id)
        return JSONResponse(_page(request, [h.to_json() for h in hooks]))

    async def one_webhook(request: Request) -> Response:
        hook_id = _int(request.path_params["webhook_id"])
        hook = ws.webhooks.get(hook_id) if hook_id is not None else None
        if hook is None:
            return error(404, "Resource not found")
        if request.method == "DELETE":
            del ws.webhooks[hook.id]
            return JSONResponse({"status": "deleted"})
        if request.method == "PATCH":
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                return error(400, "Request body is not valid JSON")
            for key in ("name", "endpoint", "description", "events"):
                if isinstance(body, dict) and key in body:
                    setattr(hook, key, body[key])
        return JSONResponse({"status": "success", "data": hook.to_json()})

    p = API_PREFIX
    return [
        Route(f"{p}/syncs", authed(list_syncs), methods=["GET"]),
        Route(f"{p}/syncs/{{sync_id}}", authed(get_sync), methods=["GET"]),
        Route(f"{p}/syncs/{{sync_id}}/trigger", authed(trigger), methods=["POST"]),
        Route(f"{p}/syncs/{{sync_id}}/sync_runs", authed(list_runs), methods=["GET"]),
        Route(f"{p}/sync_runs/{{run_id}}", authed(get_run), methods=["GET"]),
        Route(f"{p}/sync_runs/{{run_id}}/cancel", authed(cancel_run), methods=["POST"]),
        Route(f"{p}/webhooks", authed(create_webhook), methods=["POST"]),
        Route(f"{p}/webhooks", authed(list_webhooks), methods=["GET"]),
        Route(f"{p}/webhooks/{{webhook_id}}", authed(one_webhook),
              methods=["GET", "PATCH", "DELETE"]),
    ]
