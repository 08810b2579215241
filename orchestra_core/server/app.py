"""The ASGI application: health, and the routes other modules contribute (webhooks, ...)."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .. import __version__

__all__ = ("create_app",)


def create_app(host: Any, engine: Any = None, *, state: dict[str, Any] | None = None) -> Starlette:
    """The ASGI app of *host* (an :class:`~orchestra_core.Orchestra`) whose runs execute on
    *engine* (an :class:`~orchestra_core.engine.Engine`; its event channel receives webhook
    events). *state* is extra information the health endpoint reports (e.g. the scheduler's)."""
    info = state if state is not None else {}

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__, **info})

    routes = [Route("/health", health, methods=["GET"])]
    app = Starlette(routes=routes)
    app.state.host = host
    app.state.engine = engine
    return app
