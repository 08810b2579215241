"""What every dashboard handler shares: templates, the signed-in session, the CSRF check on
every state-changing request, redirects with a notice, and the API caller."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from .apicall import ApiAnswer
from .sessions import COOKIE, Session

__all__ = ("action", "api", "back", "page", "render", "session_of")

HERE = Path(__file__).parent
ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                         autoescape=True, trim_blocks=True, lstrip_blocks=True)
#: What every page may load: only this server's own files; no frame may embed a page.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
}
MAX_FORM = 256 * 1024


def seg(value: str) -> str:
    """*value* as one URL path segment (a ``/``, ``?`` or ``#`` in it cannot reach
    another API route)."""
    return quote(str(value), safe="")


def session_of(request: Request) -> Session | None:
    """The signed-in session of *request*, or ``None``."""
    return request.app.state.sessions.get(request.cookies.get(COOKIE))


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """*template* rendered with *context*, the session, the notice and the current path."""
    html = ENV.get_template(template).render(
        request=request, session=session_of(request), path=request.url.path,
        here=_here(request), notice=request.query_params.get("notice"),
        error=request.query_params.get("error"), **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _here(request: Request) -> str:
    query = "&".join(f"{k}={quote(v)}" for k, v in request.query_params.items()
                     if k not in ("notice", "error"))
    return request.url.path + (f"?{query}" if query else "")


def safe_next(target: str | None, default: str = "/pipelines") -> str:
    """*target* when it is a path of this site (never another origin), else *default*."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else default


def back(target: str | None, *, notice: str | None = None, error: str | None = None,
         default: str = "/pipelines") -> RedirectResponse:
    """A 303 to *target* (a local path) carrying a notice or an error to show."""
    url = safe_next(target, default).split("#")[0]
    for key, value in (("notice", notice), ("error", error)):
        if value:
            url += ("&" if "?" in url else "?") + f"{key}={quote(value[:500])}"
    return RedirectResponse(url, status_code=303)


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form of *request* (at most 256 KiB)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            break
    return dict(parse_qsl(body[:MAX_FORM].decode("utf-8", "replace"), keep_blank_values=True))


def same_origin(request: Request) -> bool:
    """Whether the request's ``Origin`` (when the browser sent one) is this server."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def api(request: Request, session: Session, method: str, path: str,
              **kwargs: Any) -> ApiAnswer:
    """``method /api/v1path`` with the session's token."""
    return await request.app.state.api_call(session.token, method, path, **kwargs)


class SignedOut(Exception):
    """The session's token is no longer accepted (revoked): sign in again."""


def _login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(_here(request))}", status_code=303)


Handler = Callable[..., Awaitable[Response]]


def page(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A GET handler ``fn(request, session)`` for signed-in users only."""
    @functools.wraps(fn)
    async def handle(request: Request) -> Response:
        session = session_of(request)
        if session is None:
            return _login(request)
        try:
            return await fn(request, session)
        except SignedOut:
            request.app.state.sessions.close(request.cookies.get(COOKIE))
            return _login(request)
    return handle


def action(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A POST handler ``fn(request, session, form)``: signed in, same origin, and the form's
    ``csrf`` field (or the ``X-CSRF-Token`` header) is the session's CSRF token; anything
    else is refused with 403 and changes nothing."""
    @functools.wraps(fn)
    async def handle(request: Request) -> Response:
        session = session_of(request)
        if session is None:
            return PlainTextResponse("sign in first (/login)", status_code=401, headers=HEADERS)
        form = await read_form(request)
        presented = form.get("csrf") or request.headers.get("x-csrf-token")
        if not same_origin(request) or not session.csrf_ok(presented):
            return PlainTextResponse("refused: the form's CSRF token is missing or wrong "
                                     "(reload the page and try again)", status_code=403,
                                     headers=HEADERS)
        try:
            return await fn(request, session, form)
        except SignedOut:
            request.app.state.sessions.close(request.cookies.get(COOKIE))
            return _login(request)
    return handle


def checked(answer: ApiAnswer) -> ApiAnswer:
    """*answer*, unless the token was refused (raises :class:`SignedOut`)."""
    if answer.status == 401:
        raise SignedOut
    return answer


__all__ += ("HEADERS", "SignedOut", "checked", "read_form", "safe_next", "same_origin", "seg")

URL_KEYS = ("url", "run_url", "html_url", "web_url", "dashboard_url", "link")


def vendor_link(task: dict[str, Any]) -> str | None:
    """The vendor's page of a task's external run, when the runner recorded one (an
    ``http(s)`` URL under ``url``, ``run_url``, ``html_url``, ... in the external run's data or
    the task's metadata)."""
    for source in ((task.get("external") or {}).get("data"), task.get("external"),
                   task.get("metadata")):
        if isinstance(source, dict):
            for key in URL_KEYS:
                value = source.get(key)
                if isinstance(value, str) and value.startswith(("https://", "http://")):
                    return value
    return None


ENV.filters["vendor_link"] = vendor_link
