"""Reading answers and writing messages for the ``http`` integration: excerpts of bodies,
URLs without secrets, status texts, and values at dotted paths of a JSON answer."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import httpx

from .._redaction import Redactor, masked_excerpt
from .._vendor_http import VendorHTTPError

__all__ = ("as_text", "dig", "excerpt", "safe_url", "status_text", "unanswered")

#: Characters of a response body kept in failure messages.
BODY_EXCERPT = 500


def excerpt(text: str, redactor: Redactor | None, limit: int = BODY_EXCERPT) -> str:
    """*text* stripped, masked with *redactor* (the host's) and only then cut to *limit*
    characters (``...`` marks a cut), so a secret across the cut is never half kept."""
    return masked_excerpt(text.strip(), limit, redactor)


def _where(url: httpx.URL) -> str:
    """The URL for messages: no credentials, no query string (either may hold secrets)."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"


@functools.lru_cache(maxsize=1024)
def safe_url(url: str) -> str:
    """*url* for messages, as :func:`_where` does, also when it does not parse."""
    try:
        return _where(httpx.URL(url))
    except (httpx.InvalidURL, TypeError, ValueError):
        return url.split("?")[0]


def _error_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def dig(data: Any, path: str) -> Any:
    """The value at dotted *path* in parsed JSON (digits index lists); KeyError if absent."""
    value = data
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(
            part
        ) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(path)
    return value


def as_text(value: Any) -> str:
    """A JSON value as the user would write it in ``success``/``failure``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def status_text(status: int) -> str:
    """``"404 Not Found"``: a status with its reason phrase."""
    reason = httpx.codes.get_reason_phrase(status)
    return f"{status} {reason}" if reason else str(status)


def unanswered(exc: VendorHTTPError) -> str:
    """Why a request got no usable answer: the httpx exception that ended it, if any."""
    cause = exc.__cause__
    return _error_text(cause) if cause is not None else str(exc)

