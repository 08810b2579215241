"""Signing in with an API token (into a server-side session behind an HttpOnly,
SameSite=Strict cookie) and signing out."""

from __future__ import annotations

import secrets

import anyio
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from .sessions import COOKIE
from .web import HEADERS, back, read_form, render, safe_next, same_origin, session_of

__all__ = ("login", "login_form", "logout")

#: The cookie holding the sign-in form's CSRF token (before there is a session).
LOGIN_COOKIE = "orchestra_login"


def _cookie(response: Response, request: Request, name: str, value: str,
            max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


async def login_form(request: Request) -> Response:
    """``GET /login``: the sign-in form."""
    if session_of(request) is not None:
        return back(request.query_params.get("next"))
    csrf = secrets.token_urlsafe(24)
    response = render(request, "login.html", csrf=csrf,
                      next=safe_next(request.query_params.get("next")))
    _cookie(response, request, LOGIN_COOKIE, csrf, 600)
    return response


async def login(request: Request) -> Response:
    """``POST /login``: check the token as the API does and open a session for it."""
    form = await read_form(request)
    expected = request.cookies.get(LOGIN_COOKIE) or ""
    if not same_origin(request) or not expected or not secrets.compare_digest(
            form.get("csrf", ""), expected):
        return PlainTextResponse("refused: the sign-in form's CSRF token is missing or wrong "
                                 "(reload /login)", status_code=403, headers=HEADERS)
    token = form.get("token", "").strip()
    ctx = request.app.state.api_context
    info = await anyio.to_thread.run_sync(ctx.verify, token) if token else None
    if info is None:
        response = render(request, "login.html", status=401, csrf=expected,
                          next=safe_next(form.get("next")),
                          login_error="That token is unknown or revoked. Create one on the "
                          "server with: orchestra tokens create NAME --client C --scope run")
        return response
    sid = request.app.state.sessions.open(token, info.name, info.client, info.scope)
    response = back(form.get("next"))
    _cookie(response, request, COOKIE, sid, None)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


async def logout(request: Request) -> Response:
    """``POST /logout`` (CSRF-checked): end the session and forget its token."""
    session = session_of(request)
    form = await read_form(request)
    if session is not None and (not same_origin(request) or not session.csrf_ok(
            form.get("csrf"))):
        return PlainTextResponse("refused: the form's CSRF token is missing or wrong",
                                 status_code=403, headers=HEADERS)
    request.app.state.sessions.close(request.cookies.get(COOKIE))
    response = back("/login", notice="Signed out.")
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
