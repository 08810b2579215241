"""One attempt of a vendor request: send it once, then decode the answer or say what failed
and whether the vendor may have processed it."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Collection, Mapping
from typing import Any

import httpx

from .._redaction import Redactor, masked_excerpt
from ._errors import request_id_of
from ._retry import parse_retry_after

__all__ = ("AttemptFailure", "send_once")

#: Requests that cannot be sent as given (no point in retrying them).
_INVALID_ERRORS = (httpx.InvalidURL, httpx.UnsupportedProtocol)
_PRE_SEND_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                    httpx.ProxyError)


class AttemptFailure:
    """One failed attempt: what happened and whether the vendor may have processed it."""

    __slots__ = ("body", "exc", "kind", "message", "processed", "request_id", "retry_after",
                 "status")

    def __init__(self, kind: str, message: str, *, processed: bool, status: int | None = None,
                 body: str = "", request_id: str | None = None,
                 retry_after: float | None = None, exc: BaseException | None = None) -> None:
        self.kind = kind
        self.message = message
        self.processed = processed
        self.status = status
        self.body = body
        self.request_id = request_id
        self.retry_after = retry_after
        self.exc = exc


async def send_once(client: httpx.AsyncClient, auth: httpx.Auth | None, method: str, url: str,
                    params: Any, json: Any, headers: dict[str, str], raw: bool,
                    accept: Collection[int], clock: Any,
                    redactor: Redactor | None = None) -> tuple[AttemptFailure | None, Any]:
    """Send once through *client*; return ``(None, result)`` or ``(failure, None)``. The
    body of an error answer is masked with *redactor* before any excerpt of it is cut."""
    try:
        response = await client.request(method, url, params=params, json=json,
                                        headers=headers, auth=auth or httpx.USE_CLIENT_DEFAULT)
    except _INVALID_ERRORS as exc:
        return AttemptFailure("invalid", _describe(exc), processed=False, exc=exc), None
    except _PRE_SEND_ERRORS as exc:
        kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"
        return AttemptFailure(kind, _describe(exc), processed=False, exc=exc), None
    except httpx.TimeoutException as exc:
        return AttemptFailure("timeout", _describe(exc), processed=True, exc=exc), None
    except httpx.TransportError as exc:
        return AttemptFailure("connection", _describe(exc), processed=True, exc=exc), None
    status = response.status_code
    if 200 <= status < 300 or status in accept:
        if raw:
            return None, response
        if not response.content.strip():
            return None, None
        try:
            return None, jsonlib.loads(response.content)
        except ValueError:
            return AttemptFailure("malformed", f"HTTP {status} with a body that is not JSON",
                            processed=True, status=status,
                            body=redactor.mask(_text(response)) if redactor else _text(response),
                            request_id=request_id_of(response.headers)), None
    rid = request_id_of(response.headers)  # the answers read so far need none
    text = redactor.mask(_text(response)) if redactor is not None else _text(response)
    message = f"HTTP {status}{_vendor_message(text)}"
    if status == 429:
        after = parse_retry_after(response.headers.get("retry-after"), clock.now())
        return AttemptFailure("rate_limited", message, processed=False, status=status, body=text,
                        request_id=rid, retry_after=after), None
    if status >= 500 or status == 408:
        after = parse_retry_after(response.headers.get("retry-after"), clock.now())
        return AttemptFailure("server", message, processed=status != 408, status=status,
                        body=text, request_id=rid, retry_after=after), None
    if raw and 300 <= status < 400:
        return None, response
    return AttemptFailure("status", message, processed=False, status=status, body=text,
                    request_id=rid), None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _text(response: httpx.Response) -> str:
    try:
        return response.text
    except (UnicodeDecodeError, LookupError):
        return response.content.decode("utf-8", "replace")


def _vendor_message(text: str) -> str:
    """``": <the vendor's own error message>"`` from a JSON error body, when there is one
    (*text* is already masked: excerpts are cut only after masking)."""
    try:
        data = jsonlib.loads(text)
    except ValueError:
        excerpt = masked_excerpt(" ".join(text.split()), 200, marker="")
        return f": {excerpt}" if excerpt else ""
    candidates: list[Any] = []
    if isinstance(data, Mapping):
        status = data.get("status")
        if isinstance(status, Mapping):
            candidates.append(status.get("user_message"))
        candidates += [data.get("message"), data.get("error"), data.get("detail"),
                       data.get("error_description")]
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            candidates.append(errors[0].get("message") if isinstance(errors[0], Mapping)
                              else errors[0])
        code = data.get("code")
    else:
        code = None
    found = next((str(c) for c in candidates if isinstance(c, str | int) and str(c).strip()),
                 None)
    if found is None:
        excerpt = masked_excerpt(" ".join(text.split()), 200, marker="")
        return f": {excerpt}" if excerpt else ""
    found = masked_excerpt(found, 300, marker="")
    return f": {code}: {found}" if isinstance(code, str) and code and code != found \
        else f": {found}"


