"""The OpenAPI 3.1 document, generated from the :class:`Endpoint` declarations and
:data:`~.schema.MODELS`."""

from __future__ import annotations

from typing import Any

from .. import __version__
from .endpoint import Endpoint
from .schema import MODELS, ref

__all__ = ("openapi_document",)

_PROBLEM = {"application/problem+json": {"schema": ref("Problem")}}
_ERRORS = {400: "Bad request (a parameter)", 401: "No token, or an unknown or revoked one",
           403: "The token's scope does not allow this", 404: "Not found (or another client's)",
           409: "Conflict (a stale version, or a state that does not allow this)",
           413: "The body is too large", 422: "The body or file is invalid"}


def _operation(ep: Endpoint) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": ep.operation_id, "summary": ep.summary, "tags": [ep.tag],
        "description": (ep.description or ep.handler.__doc__ or "").strip()
        + f"\n\nNeeds scope `{ep.scope}`.",
        "security": [{"bearer": []}],
    }
    params = [{"name": p.name, "in": p.where, "required": p.required, "schema": p.schema,
               **({"description": p.description} if p.description else {})}
              for p in ep.params]
    if params:
        op["parameters"] = params
    if ep.text_body:
        op["requestBody"] = {"required": True, "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}}}}
    elif ep.body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": ep.body}}}
    ok: dict[str, Any] = {"description": "OK"}
    if ep.response is not None:
        ok["content"] = {ep.media_type: {"schema": ep.response}}
        ok["content"].update({media: {"schema": sch} for media, sch in ep.alternatives})
    codes = {401, 403, *ep.errors}
    if ep.params:
        codes.add(400)
    if ep.body is not None or ep.text_body:
        codes |= {400, 413, 422}
    responses: dict[str, Any] = {str(ep.status if ep.response is not None or ep.status != 200
                                     else 204): ok}
    for code in sorted(codes):
        responses[str(code)] = {"description": _ERRORS[code], "content": _PROBLEM}
    op["responses"] = responses
    return op


def openapi_document(endpoints: list[Endpoint]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of *endpoints*, served under ``/api/v1``."""
    paths: dict[str, Any] = {}
    for ep in endpoints:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Orchestra REST API", "version": __version__,
                 "description": "Pipelines, runs, guided resolutions, logs, triggers, queues, "
                 "secrets and the audit log of an Orchestra store. Authenticate with "
                 "`Authorization: Bearer <token>` (`orchestra tokens create`)."},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {"schemas": MODELS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
