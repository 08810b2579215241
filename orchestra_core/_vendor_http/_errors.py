"""The structured error of the vendor HTTP layer."""

from __future__ import annotations

from typing import Any

from .._errors import TaskFailed
from .._redaction import Redactor, masked_excerpt

__all__ = ("VendorHTTPError",)

#: Characters of a vendor's response body kept in an error.
BODY_LIMIT = 2000

#: Response headers that carry a vendor's request id, in order of preference.
REQUEST_ID_HEADERS = (
    "x-request-id",
    "x-dbt-request-id",
    "request-id",
    "x-amzn-requestid",
    "x-amz-request-id",
    "x-correlation-id",
    "cf-ray",
)


class VendorHTTPError(TaskFailed):
    """A vendor API call failed for good (after the retries it was allowed).

    Every text attribute has been masked with the client's
    :class:`~orchestra_core.Redactor` (*redactor*: the host's, for a client of
    ``host.vendor_client``); request headers (``Authorization``) and query strings are never
    kept.

    :ivar vendor: the vendor name given to the client, e.g. ``"fivetran"``.
    :ivar method: the HTTP method.
    :ivar path: the request path (no query string).
    :ivar status: the final HTTP status, or ``None`` when no response arrived
        (``kind`` says why).
    :ivar body: the response body, truncated to 2,000 characters (``""`` if none).
    :ivar request_id: the vendor's request id from the response headers, if any.
    :ivar kind: ``"status"`` (an error status), ``"timeout"``, ``"connection"``,
        ``"malformed"`` (a 2xx whose body is not JSON), ``"rate_limited"`` (429 whose
        ``Retry-After`` exceeds the policy's maximum), ``"invalid"`` (the request cannot be
        sent: an invalid URL or a scheme other than http/https; never retried), or
        ``"ambiguous"`` (a non-idempotent request failed after it may have been processed,
        and was not re-sent). When an httpx exception ended the last attempt, it is the
        error's ``__cause__``.
    :ivar attempts: how many times the request was sent.
    :ivar retryable: as for :class:`~orchestra_core.TaskFailed`: ``True`` for
        transient failures (5xx, 429, timeouts, connection errors, malformed bodies),
        ``False`` for other 4xx and ``kind == "invalid"``, ``None`` for
        ``kind == "ambiguous"``.
    :ivar metadata: the fields above as a dict (kept with the task run).
    """

    def __init__(self, message: str, *, vendor: str, method: str, path: str,
                 status: int | None = None, body: str = "", request_id: str | None = None,
                 kind: str = "status", attempts: int = 1, retryable: bool | None = None,
                 redactor: Redactor | None = None) -> None:
        mask = redactor.mask if redactor is not None else _unmasked
        self.vendor = vendor
        self.method = method
        self.path = mask(path)
        self.status = status
        self.body = masked_excerpt((body or "").strip(), BODY_LIMIT, redactor)
        self.request_id = request_id
        self.kind = kind
        self.attempts = attempts
        metadata: dict[str, Any] = {
            "vendor": vendor, "method": method, "path": self.path, "status": status,
            "kind": kind, "attempts": attempts,
        }
        if self.body:
            metadata["body"] = self.body
        if request_id:
            metadata["request_id"] = request_id
        super().__init__(mask(message), retryable=retryable, metadata=metadata)


def _unmasked(text: str) -> str:
    return text


def request_id_of(headers: Any) -> str | None:
    """The vendor request id in response *headers*, if any."""
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return str(value)[:200]
    return None
