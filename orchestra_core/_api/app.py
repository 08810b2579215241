"""The ``/api/v1`` ASGI app: authentication, the checks each :class:`Endpoint` declares, the
handlers, and errors as problem details. :func:`create_api` builds it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._errors import OrchestraError
from .context import ApiContext
from .endpoint import Call, Endpoint
from .openapi import openapi_document
from .problems import ApiError, problem, problem_of
from .routes import ENDPOINTS
from .tokens import scope_allows
from .validate import check

__all__ = ("create_api",)

log = logging.getLogger("orchestra.api")


def create_api(host: Any, store: Any, *, clock: Any = None, max_body_bytes: int = 1 << 20,
               on_runs: Callable[[list[str]], None] | None = None) -> Starlette:
    """The REST API (``/api/v1``) of *host* (an :class:`~orchestra_core.Orchestra`) on
    *store* (a :class:`~orchestra_core.Store`), as an ASGI app to mount::

        app = Starlette(routes=[Mount("/api/v1", create_api(host, store))])

    Every request needs ``Authorization: Bearer <token>`` (``orchestra tokens create``),
    except ``GET /openapi.json``. Runs it starts are queued: a worker pool
    (``orchestra serve``, or :class:`~orchestra_core.Service`) executes them. Bodies larger
    than *max_body_bytes* are refused with 413. *on_runs* is called with the ids of the runs
    the API queues, from the worker thread that handles the request (``orchestra serve``
    wakes its worker pool with it).
    """
    ctx = ApiContext(host, store, clock=clock, max_body_bytes=max_body_bytes, on_runs=on_runs)
    routes = [Route(ep.path, _handler(ctx, ep), methods=[ep.method]) for ep in ENDPOINTS]
    document = json.dumps(openapi_document(ENDPOINTS)).encode()  # serialized once

    async def openapi(request: Request) -> Response:
        return Response(document, media_type="application/json")

    routes.insert(0, Route("/openapi.json", openapi, methods=["GET"]))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = {404: "no such route (see /api/v1/openapi.json)",
                  405: f"method {request.method} not allowed here"}.get(exc.status_code,
                                                                         str(exc.detail))
        return problem(exc.status_code, detail, headers=exc.headers)

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.state.api = ctx
    return app


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _prepare(ctx: ApiContext, ep: Endpoint, request: Request) -> Call:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="orchestra"'}
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError(401, "send an API token: Authorization: Bearer <token> (create one "
                       "with: orchestra tokens create NAME --client C --scope read)",
                       headers=challenge)
    token = ctx.cached_token(presented.strip())
    if token is ctx.MISSING:
        token = await anyio.to_thread.run_sync(ctx.verify, presented.strip(),
                                               limiter=ctx.limiter)
    if token is None:
        raise ApiError(401, "the token is unknown or revoked",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if not scope_allows(token.scope, ep.scope):
        raise ApiError(403, f"this needs a token of scope {ep.scope!r}; this token's scope "
                       f"is {token.scope!r}")
    params: dict[str, Any] = {}
    for p in ep.params:
        raw = (request.path_params.get(p.name) if p.where == "path"
               else request.query_params.get(p.name))
        if raw is None:
            if p.required:
                raise ApiError(400, f"query parameter {p.name!r} is required")
            params[p.name] = p.schema.get("default")
            continue
        params[p.name] = p.parse(str(raw))
    body: Any = None
    if ep.body is not None or ep.text_body:
        data = await _read_body(request, ctx.max_body_bytes)
        if ep.text_body:
            try:
                body = data.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, "the body is not UTF-8 text") from None
        else:
            try:
                body = json.loads(data) if data else None
            except ValueError as exc:
                raise ApiError(400, f"the body is not JSON: {exc}") from None
            if body is None:
                raise ApiError(400, "this route needs a JSON body")
            errors = check(ep.body or {}, body)
            if errors:
                raise ApiError(422, "the body does not match the schema: " + "; ".join(
                    f"{e['path']}: {e['message']}" for e in errors[:5]), errors=errors)
    return Call(ctx, request, token, params, body)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _handler(ctx: ApiContext, ep: Endpoint) -> Any:
    async def handle(request: Request) -> Response:
        try:
            call = await _prepare(ctx, ep, request)
            if ep.stream:
                return await ep.handler(call)
            result = await anyio.to_thread.run_sync(ep.handler, call, limiter=ctx.limiter)
        except ApiError as exc:
            return problem(exc.status, ctx.redactor.mask(exc.detail),
                           errors=ctx.redactor.mask_obj(exc.errors), headers=exc.headers)
        except OrchestraError as exc:
            err = problem_of(exc)
            return problem(err.status, ctx.redactor.mask(err.detail),
                           errors=ctx.redactor.mask_obj(err.errors))
        except Exception as exc:  # a bug: say so without a traceback or a secret
            log.error("%s %s failed: %s: %s", request.method, ep.path, type(exc).__name__,
                      ctx.redactor.mask(str(exc)))
            return problem(500, "internal error (logged by the server)")
        if isinstance(result, Response):
            return result
        if ep.response is None:
            return Response(status_code=ep.status if ep.status != 200 else 204,
                            headers=call.headers)
        text = json.dumps(ctx.redactor.mask_obj(result), default=_jsonable)
        return Response(text, status_code=ep.status, headers=call.headers,
                        media_type="application/json")

    handle.__name__ = ep.operation_id
    return handle
