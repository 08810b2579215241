"""The ASGI application: health, and the routes other modules contribute (webhooks, the
REST API at ``/api/v1``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from .. import __version__
from .limits import BODY_TIMEOUT, MAX_BODY, MAX_REQUESTS, EdgeLimits
from .ready import readiness
from .webhooks import webhook_routes

__all__ = ("create_app",)


def create_app(host: Any, engine: Any = None, *,
               state: Mapping[str, Any] | None = None,
               checks: Mapping[str, Callable[[], str | None]] | None = None,
               max_body: int = MAX_BODY, body_timeout: float = BODY_TIMEOUT,
               max_requests: int = MAX_REQUESTS, api: bool = True,
               on_runs: Any = None) -> Starlette:
    """The ASGI app of *host* (an :class:`~orchestra_core.Orchestra`) whose runs execute on
    *engine* (an :class:`~orchestra_core.Engine`; its event channel receives webhook
    events). *state* is extra information the health endpoint reports, read at each request
    (``orchestra serve`` passes the scheduler's and the worker pool's figures).

    ``GET /health`` answers while the process runs; ``GET /health/ready`` also checks that
    the store answers and runs *checks* (name -> a callable returning ``None`` when fine,
    else the reason; see :mod:`orchestra_core._server.ready`). Every request goes through
    :class:`~orchestra_core._server.limits.EdgeLimits`: at most *max_requests* at once, a
    body of at most *max_body* bytes received within *body_timeout* seconds.

    With an *engine* (and *api*), the REST API is mounted at ``/api/v1`` on the engine's
    store (see :func:`orchestra_core.create_api` and ``docs/api.md``); *on_runs* is told the
    runs it queues.

    Webhook answers and the server's log lines are masked with *host*'s redactor
    (``host.redactor``), and the webhook secrets the server reads are registered with it.
    """
    info = state if state is not None else {}

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__, **info})

    routes = [Route("/health", health, methods=["GET"]),
              Route("/health/ready", readiness(checks), methods=["GET"])]
    routes += webhook_routes()  # POST /webhooks/{integration}[/{connection}]
    store = getattr(engine, "store", None)
    if store is not None and api:  # the REST API on the engine's store
        from .._api import create_api

        api_app = create_api(host, store, clock=getattr(engine, "clock", None),
                             on_runs=on_runs)
        routes.append(Mount("/api/v1", api_app))
        from .._dashboard import PagesMount, create_dashboard  # the pages, on top of the API

        routes.append(PagesMount(create_dashboard(api_app)))
    limits = Middleware(EdgeLimits, max_body=max_body, body_timeout=body_timeout,
                        max_requests=max_requests)
    app = Starlette(routes=routes, middleware=[limits])
    app.state.host = host
    app.state.engine = engine
    return app
