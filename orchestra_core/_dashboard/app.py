"""The dashboard's ASGI app: pages, forms, the sign-in, and the vendored static files."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from .actions import ACTIONS
from .apicall import ApiCaller
from .auth import login, login_form, logout
from .pages import PAGES
from .sessions import Sessions
from .web import HEADERS, HERE, render

__all__ = ("PagesMount", "create_dashboard")


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


class PagesMount(Mount):
    """The dashboard mounted at ``/`` that claims only the paths it has a page for, so the
    routes beside it (``/health``, ``/webhooks/...``, ``/api/v1``) keep their own answers
    (a wrong method there is still their 405)."""

    def __init__(self, app: Starlette) -> None:
        super().__init__("", app=app)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """A full match only when one of the dashboard's routes matches the path."""
        match, child = super().matches(scope)
        if match is Match.NONE:
            return match, child
        inner = {**scope, **child}
        if any(route.matches(inner)[0] is not Match.NONE for route in self.app.routes):
            return match, child
        return Match.NONE, {}
