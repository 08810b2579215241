"""The shared vendor HTTP layer: one way for every plugin to call a vendor's REST API.

Use it from a runner through the host, which shares connection pools and lets tests swap in
a simulator::

    from orchestra_core._vendor_http import RateLimit, VendorHTTPError

    class FivetranSyncRunner:
        def __init__(self, host):
            self.host = host

        def client(self, ctx):
            conn = ctx.connection
            return self.host.vendor_client(
                "fivetran", base_url=conn.base_url or "https://api.fivetran.com/v1",
                auth=httpx.BasicAuth(conn.secret("api_key"), conn.secret("api_secret")),
                headers={"Accept": "application/json;version=2"},
                rate_limit=RateLimit(20_000, 3600, key=conn.name))

        async def start(self, ctx):
            client = self.client(ctx)
            await client.post(f"/connections/{cid}/sync", json={"force": False},
                              ctx=ctx, idempotent=True)
            ...

What a call does (``await client.request(method, path, ...)``, or ``get``/``post``/``put``/
``patch``/``delete``):

- Returns the decoded JSON body (``None`` for an empty body); ``raw=True`` returns the
  :class:`httpx.Response`; ``accept=(404,)`` returns such statuses like a 2xx.
- Waits for the vendor's :class:`RateLimit` first. Limiters belong to the host
  (``Orchestra.rate_limiters``, a :class:`RateLimiters`), keyed by
  ``(vendor, rate_limit.key)``: the 500 tasks of one host share one budget; two hosts never
  share one.
- Retries connection errors, timeouts, HTTP 5xx, 408 and 429, and 2xx answers whose body is
  not JSON, as :class:`orchestra_core.HttpRetry` says (the one backoff formula of the
  core, :func:`orchestra_core.backoff`), honouring ``Retry-After`` (seconds or an
  HTTP date). Other 4xx, and requests that cannot be sent (an invalid URL, a scheme other
  than http/https), are not retried.
- Never blindly re-sends a non-idempotent request (POST, PATCH; ``idempotent=`` overrides)
  after an *ambiguous* failure: a timeout or dropped connection after the request was sent,
  a 5xx, or a 2xx with a malformed body. It calls ``find_existing()`` first: what that
  returns (the run the first attempt created) is returned; ``None`` means nothing was
  created and the request is sent again. Without ``find_existing`` the call raises
  ``VendorHTTPError(kind="ambiguous", retryable=None)``. Failures before the request left
  (connection refused, connect timeout) and 429s are always safe to retry.
- ``ok_404_within=30`` retries 404s for 30 s (dbt Cloud's run not visible just after the
  trigger).
- With ``ctx=`` (the task's context), waits use ``ctx.sleep`` (the engine's clock: a fake one
  in tests) and each retry is a warning line in the run log; ``ctx.clock`` (if present) times
  the rate limit. Without ``ctx``, the client's ``clock`` and the ``orchestra_core._vendor_http``
  logger are used.
- Fails with :class:`VendorHTTPError` (a :class:`~orchestra_core.TaskFailed`) carrying
  ``vendor``, ``method``, ``path``, ``status``, ``body`` (truncated), ``request_id`` and
  ``kind``; ``retryable`` is ``True`` for transient failures whose retries ran out, ``False``
  for 4xx. Messages and bodies are masked with the client's redactor (``host.redactor`` for
  a client of ``host.vendor_client``); request headers and query strings never appear.
  Secret header values (``Authorization``, anything named like a token/key/secret) and the
  password of an :class:`httpx.BasicAuth` are registered with that redactor.

Public names: :class:`VendorClient`, :class:`VendorHTTPError`, :class:`RateLimit`,
:class:`RateLimiter`, :class:`RateLimiters` (a host's limiters), :func:`parse_retry_after`,
:func:`parse_timestamp` and :func:`format_timestamp` (vendor timestamps), :class:`ReadFailures`
(pacing status reads through an outage). The retry policy is
:class:`orchestra_core.HttpRetry`. See ``docs/vendor-http.md``.
"""

from typing import TYPE_CHECKING, Any

from ._errors import VendorHTTPError as VendorHTTPError
from ._httpx_cli import defer_httpx_cli
from ._limits import RateLimit as RateLimit
from ._limits import RateLimiter as RateLimiter
from ._limits import RateLimiters as RateLimiters
from ._outage import ReadFailures as ReadFailures
from ._retry import parse_retry_after as parse_retry_after
from ._time import format_timestamp as format_timestamp
from ._time import parse_timestamp as parse_timestamp

if TYPE_CHECKING:
    from ._client import VendorClient as VendorClient

__all__ = (
    "RateLimit",
    "RateLimiter",
    "RateLimiters",
    "ReadFailures",
    "VendorClient",
    "VendorHTTPError",
    "format_timestamp",
    "parse_retry_after",
    "parse_timestamp",
)


def __getattr__(name: str) -> Any:
    # VendorClient imports httpx: loaded on first use, so that a host starts without it
    if name == "VendorClient":
        defer_httpx_cli()  # httpx without its command-line client (click, rich, pygments)
        from ._client import VendorClient

        return VendorClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
