"""The simulated Fivetran REST API v1: routes, auth, envelopes, error bodies.

Every answer uses Fivetran's envelope ``{"code": "Success", "message"?, "data"?}``; errors
carry a code such as ``NotFound_Connection`` or ``AuthFailed``. Connections are served under
both ``/v1/connections/{id}`` (current) and ``/v1/connectors/{id}`` (older, still used by
peers), including the undocumented ``POST .../force``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from . import FivetranSimulator

__all__ = ("WEBHOOK_EVENTS", "error", "fivetran_routes")

#: Events a webhook may subscribe to.
WEBHOOK_EVENTS = (
    "sync_start", "sync_end", "status", "dbt_run_start", "dbt_run_succeeded", "dbt_run_failed",
    "transformation_run_start", "transformation_run_succeeded", "transformation_run_failed",
    "connection_successful", "connection_failure", "create_connector", "pause_connector",
    "resume_connector", "edit_connector", "delete_connector", "force_update_connector",
)

Handler = Callable[[Request], Awaitable[Response]]


def error(status: int, code: str, message: str) -> JSONResponse:
    """An error answer in Fivetran's shape."""
    return JSONResponse({"code": code, "message": message}, status_code=status)


def ok(data: Any = None, message: str | None = None) -> JSONResponse:
    """A success answer."""
    body: dict[str, Any] = {"code": "Success"}
    if message:
        body["message"] = message
    if data is not None:
        body["data"] = data
    return JSONResponse(body)


def fivetran_routes(sim: FivetranSimulator) -> list[Route]:
    """The routes of *sim*'s API."""

    def endpoint(fn: Callable[[Request], Awaitable[Response]]) -> Handler:
        async def wrapped(request: Request) -> Response:
            if request.method in ("POST", "PATCH") and (await request.body()).strip() and \
                    not request.headers.get("content-type", "").startswith("application/json"):
                return error(415, "UnsupportedMediaType",
                             "Content-Type must be application/json")
            with sim.lock:
                sim.state.advance()
            return await fn(request)

        return wrapped

    def connector_or_404(request: Request) -> Any:
        cid = request.path_params["id"]
        connector = sim.state.connectors.get(cid)
        if connector is None and sim.auto_create:
            with sim.lock:
                connector = sim.state.connectors.get(cid) or sim.state.add_connector(cid)
        if connector is None:
            kind = "Connector" if "/connectors/" in request.url.path else "Connection"
            return error(404, f"NotFound_{kind}", f"{kind} with id '{cid}' does not exist.")
        return connector

    async def json_body(request: Request) -> Any:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def details(request: Request) -> Response:
        c = connector_or_404(request)
        return c if isinstance(c, Response) else ok(c.details())

    async def patch(request: Request) -> Response:
        c = connector_or_404(request)
        if isinstance(c, Response):
            return c
        body = await json_body(request)
        if body is None:
            return error(400, "InvalidInput", "the body must be a JSON object")
        if "paused" in body and not isinstance(body["paused"], bool):
            return error(400, "InvalidInput", "paused must be true or false")
        if "schedule_type" in body and body["schedule_type"] not in ("auto", "manual"):
            return error(400, "InvalidInput", "schedule_type must be 'auto' or 'manual'")
        with sim.lock:
            sim.state.patch(c, body)
        return ok(c.details(), "Connection has been updated")

    async def sync(request: Request) -> Response:
        c = connector_or_404(request)
        if isinstance(c, Response):
            return c
        body = await json_body(request)
        if body is None or not isinstance(body.get("force", False), bool):
            return error(400, "InvalidInput", "the body must be {\"force\": true|false}")
        return sim.trigger_response(c, bool(body.get("force", False)))

    async def force(request: Request) -> Response:
        c = connector_or_404(request)
        return c if isinstance(c, Response) else sim.trigger_response(c, True)

    async def schemas(request: Request) -> Response:
        c = connector_or_404(request)
        return c if isinstance(c, Response) else ok(c.schema_config())

    async def create_webhook(request: Request) -> Response:
        body = await json_body(request)
        if body is None:
            return error(400, "InvalidInput", "the body must be a JSON object")
        group_id = request.path_params.get("group_id")
        url, events = body.get("url"), body.get("events")
        if not isinstance(url, str) or not url:
            return error(400, "InvalidInput", "url is required")
        if not isinstance(events, list) or not events or not all(
                isinstance(e, str) and e in WEBHOOK_EVENTS for e in events):
            return error(400, "InvalidInput", "events must list known webhook events")
        problem = sim.url_problem(url)
        if problem:
            return error(400, "InvalidInput", problem)
        active = body.get("active", True)
        secret = body.get("secret")
        if not isinstance(active, bool) or (secret is not None and not isinstance(secret, str)):
            return error(400, "InvalidInput", "active must be a boolean and secret a string")
        hook = sim.add_fivetran_webhook(url, events=events, secret=secret, group_id=group_id,
                                        active=False)
        if active:  # Fivetran test-posts to the URL and refuses an endpoint that fails
            record = await sim.test_webhook(hook, "sync_end")
            if not record.ok:
                sim.remove_webhook(hook)
                what = f"HTTP {record.status}" if record.status else record.error
                return error(400, "InvalidInput", f"the webhook endpoint failed the test "
                                                  f"event: {what}")
            hook.active = True
        kind = "Group" if group_id else "Account"
        return ok(sim.webhook_json(hook), f"{kind} webhook has been created")

    def webhook_or_404(request: Request) -> Any:
        hook = sim.fivetran_webhook(request.path_params["id"])
        if hook is None:
            return error(404, "NotFound_Webhook",
                         f"Webhook with id '{request.path_params['id']}' does not exist.")
        return hook

    async def list_webhooks(request: Request) -> Response:
        hooks = sorted(sim.fivetran_webhooks(), key=lambda h: h.id)
        try:
            limit = int(request.query_params.get("limit", 100))
            start = int(request.query_params.get("cursor") or 0)
        except ValueError:
            return error(400, "InvalidInput", "limit and cursor must be numbers")
        if not 1 <= limit <= 1000:
            return error(400, "InvalidInput", "limit must be between 1 and 1000")
        page = hooks[start:start + limit]
        data: dict[str, Any] = {"items": [sim.webhook_json(h) for h in page]}
        if start + limit < len(hooks):
            data["next_cursor"] = str(start + limit)
        return ok(data)

    async def webhook(request: Request) -> Response:
        hook = webhook_or_404(request)
        if isinstance(hook, Response):
            return hook
        if request.method == "DELETE":
            sim.remove_webhook(hook)
            return ok(message="Webhook has been deleted")
        if request.method == "PATCH":
            body = await json_body(request)
            if body is None:
                return error(400, "InvalidInput", "the body must be a JSON object")
            if "url" in body:
                problem = sim.url_problem(str(body["url"]))
                if problem:
                    return error(400, "InvalidInput", problem)
                hook.url = str(body["url"])
            if "events" in body:
                hook.events = tuple(body["events"])
            if "secret" in body:
                hook.secret = body["secret"]
            if "active" in body:
                hook.active = bool(body["active"])
            return ok(sim.webhook_json(hook), "Webhook has been updated")
        return ok(sim.webhook_json(hook))

    async def test_webhook(request: Request) -> Response:
        hook = webhook_or_404(request)
        if isinstance(hook, Response):
            return hook
        body = await json_body(request) or {}
        record = await sim.test_webhook(hook, str(body.get("event") or "sync_start"))
        return ok({"succeed": record.ok, "status": record.status or 0,
                   "message": "Success" if record.ok else
                   f"the endpoint answered {record.status or record.error}"})

    async def sim_connectors(request: Request) -> Response:
        """Simulator only (no auth): every connection's counters, for tests and benchmarks
        that run the simulator as a separate process."""
        with sim.lock:
            sim.state.advance()
            return JSONResponse({c.id: {"triggers": c.triggers, "syncs": c.syncs,
                                        "sync_state": c.sync_state,
                                        "succeeded_at": c.details()["succeeded_at"],
                                        "failed_at": c.details()["failed_at"]}
                                 for c in sim.state.connectors.values()})

    routes = []
    for kind in ("connections", "connectors"):
        base = f"/v1/{kind}/{{id}}"
        routes += [
            Route(base, endpoint(details), methods=["GET"]),
            Route(base, endpoint(patch), methods=["PATCH"]),
            Route(f"{base}/sync", endpoint(sync), methods=["POST"]),
            Route(f"{base}/force", endpoint(force), methods=["POST"]),
            Route(f"{base}/schemas", endpoint(schemas), methods=["GET"]),
        ]
    routes += [
        Route("/v1/webhooks/account", endpoint(create_webhook), methods=["POST"]),
        Route("/v1/webhooks/group/{group_id}", endpoint(create_webhook), methods=["POST"]),
        Route("/v1/webhooks", endpoint(list_webhooks), methods=["GET"]),
        Route("/v1/webhooks/{id}", endpoint(webhook), methods=["GET", "PATCH", "DELETE"]),
        Route("/v1/webhooks/{id}/test", endpoint(test_webhook), methods=["POST"]),
        Route("/_simulator/connections", sim_connectors, methods=["GET"]),
    ]
    return routes


