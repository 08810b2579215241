"""The dashboard's ASGI app: pages, forms, the sign-in, and the vendored static files."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .actions import ACTIONS
from .apicall import ApiCaller
from .auth import login, login_form, logout
from .pages import PAGES
from .sessions import Sessions
from .web import HEADERS, HERE, render

__all__ = ("create_dashboard",)


def create_dashboard(api_app: Any) -> Starlette:
    """The dashboard on top of *api_app* (what :func:`orchestra_core.create_api` returns):
    every page reads and every form changes through that app's routes with the token the
    user signed in with (``orchestra tokens create``). Mount it at ``/``."""

    async def home(request: Request) -> Response:
        return RedirectResponse("/pipelines", status_code=303)

    async def not_found(request: Request, exc: Exception) -> Response:
        return render(request, "error.html", status=404, title="Not found",
                      message="There is no such page.")

    routes = [Route("/", home, methods=["GET"]),
              Route("/login", login_form, methods=["GET"]),
              Route("/login", login, methods=["POST"]),
              Route("/logout", logout, methods=["POST"]),
              Mount("/static", StaticFiles(directory=HERE / "static"), name="static")]
    routes += [Route(path, fn, methods=["GET"]) for path, fn in PAGES]
    routes += [Route(path, fn, methods=["POST"]) for path, fn in ACTIONS]
    app = Starlette(routes=routes, exception_handlers={404: not_found})
    app.state.sessions = Sessions()
    app.state.api_context = api_app.state.api
    app.state.api_call = ApiCaller(api_app)
    app.state.headers = HEADERS
    return app
