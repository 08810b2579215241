"""The vendor HTTP client: retries, rate limits, safe triggers, structured errors."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from anyio.lowlevel import RunVar

from .._clock import SystemClock
from .._redaction import Redactor
from .._retry import HttpRetry
from ._attempt import AttemptFailure, send_once
from ._credentials import Auth, register_credentials
from ._errors import VendorHTTPError
from ._limits import RateLimit, RateLimiter, RateLimiters

__all__ = ("Credentials", "VendorClient")

logger = logging.getLogger("orchestra_core._vendor_http")

#: Methods that may be re-sent after an ambiguous failure unless ``idempotent=`` says otherwise.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Longest wait between retries of a 404 inside an ``ok_404_within`` window.
MAX_404_DELAY = 5.0
#: Connection pool size of one client's default transport.
DEFAULT_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
#: Connection pools of a vendor client (see :meth:`VendorClient.http`).
DEFAULT_SHARDS = 128

FindExisting = Callable[[], Awaitable[Any]]


class Credentials(Protocol):
    """Headers a request takes after waiting for its rate-limit slot (an access token that
    may expire during a long wait): ``VendorClient.request(..., credentials=...)``."""

    def cached(self) -> Mapping[str, str] | None:
        """The headers to send now, or ``None`` when they must be fetched first."""

    async def fetch(self) -> Mapping[str, str]:
        """Fetch fresh headers (e.g. a new token) and return them."""


class VendorClient:
    """An async client for one vendor API, shared by every task that talks to it.

    ::

        client = VendorClient("fivetran", "https://api.fivetran.com/v1",
                              auth=httpx.BasicAuth(key, secret),
                              rate_limit=RateLimit(20_000, 3600))
        details = await client.get(f"/connections/{cid}", ctx=ctx)

    In a runner, get clients from the host instead (``host.vendor_client(...)``): they reuse
    one connection pool per vendor, base URL and credential, and pick up the transport a test
    installed with ``Orchestra(transports={"fivetran": sim.transport})``.

    :param vendor: the vendor's name (the integration name), used in errors, logs and as the
        rate limiter's key.
    :param base_url: the API root; request paths are appended to it.
    :param auth: a ``(username, password)`` pair (basic auth) or an :class:`httpx.Auth`
        (e.g. ``httpx.BasicAuth(key, secret)``).
    :param headers: headers sent with every request (``Authorization: Token ...``,
        ``Accept``). Values of secret-looking headers and the basic-auth password are
        registered with *redactor*.
    :param transport: an httpx async transport (a simulator's ``transport`` in tests);
        default: the network, through a pool of 1,000 connections per event loop.
    :param rate_limit: the vendor's request limit.
    :param limiters: where the limiter of ``(vendor, rate_limit.key)`` comes from, so that
        every client of that vendor and key shares one budget (``host.vendor_client`` passes
        the host's :class:`RateLimiters`); without it, the client has a limiter of its own.
    :param retry: the :class:`~orchestra_core.HttpRetry` (default ``HttpRetry()``: 4
        retries, 1 s doubling up to 60 s, full jitter, ``Retry-After`` up to 300 s).
    :param clock: the clock used when a call has no ``ctx`` (``SystemClock`` by default).
    :param timeout: seconds allowed for each request (connect, write, read, pool).
    :param seed: seeds the jitter (deterministic delays in tests).
    :param redactor: the :class:`~orchestra_core.Redactor` the client registers its
        credentials with and masks its log lines and errors with (``host.vendor_client``
        passes the host's); default: a new one of the client's own.

    :ivar limiter: the :class:`RateLimiter` this client waits for (``None`` without
        *rate_limit*).
    :ivar redactor: the client's :class:`~orchestra_core.Redactor`.
    """

    def __init__(self, vendor: str, base_url: str, *, auth: Auth | None = None,
                 headers: Mapping[str, str] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 rate_limit: RateLimit | None = None, limiters: RateLimiters | None = None,
                 retry: HttpRetry | None = None, clock: Any = None, timeout: float = 30.0,
                 seed: int | None = None, redactor: Redactor | None = None) -> None:
        self.vendor = vendor
        self.redactor = redactor if redactor is not None else Redactor()
        self.base_url = base_url.rstrip("/")
        self.auth: httpx.Auth | None = (httpx.BasicAuth(*auth) if isinstance(auth, tuple)
                                        else auth)
        self.headers = {str(k): str(v) for k, v in (headers or {}).items()}
        self.transport = transport
        self.rate_limit = rate_limit
        self.retry = retry or HttpRetry()
        self.clock = clock or SystemClock()
        self.timeout = timeout
        self._rng = random.Random(seed)
        self.limiter: RateLimiter | None = None
        if rate_limit is not None:
            self.limiter = (limiters.get(vendor, rate_limit) if limiters is not None
                            else RateLimiter(rate_limit))
        self._client_var: RunVar[httpx.AsyncClient | None] = RunVar(
            f"orchestra_vendor_client_{id(self)}", None)
        self._origin = urlsplit(self.base_url)[:2]
        register_credentials(self.redactor, self.headers, auth)

    def __repr__(self) -> str:
        return f"VendorClient({self.vendor!r}, {self.base_url!r})"

    # -- the httpx client ----------------------------------------------------------------------

    def http(self) -> httpx.AsyncClient:
        """The underlying :class:`httpx.AsyncClient` of the current event loop."""
        client = self._client_var.get()
        if client is None or client.is_closed:
            from ._transport import ShardedTransport, VendorHttpClient

            transport = self.transport
            if transport is None:
                # about 8 connections per pool: httpcore scans a pool's connections for
                # every request, so fewer, bigger pools cost more than the requests
                # themselves with hundreds of tasks polling one vendor (benchmarks/
                # fivetran_w3.py: 32 pools 1.48x the floor, 128 pools under it)
                transport = ShardedTransport(DEFAULT_LIMITS, shards=DEFAULT_SHARDS)
            client = VendorHttpClient(transport=transport, timeout=self.timeout,
                                      follow_redirects=False)
            self._client_var.set(client)
        return client

    async def aclose(self) -> None:
        """Close the current event loop's connection pool (a later call opens a new one)."""
        client = self._client_var.get()
        if client is not None:
            self._client_var.set(None)
            await client.aclose()

    def url(self, path: str) -> str:
        """The absolute URL of *path* (a path under ``base_url``, or an absolute URL on the
        same scheme and host, e.g. a vendor's "next page" link)."""
        if "://" in path:
            if urlsplit(path)[:2] != self._origin:
                raise ValueError(f"{self.vendor}: refusing to send credentials to {path!r}, "
                                 f"which is not under {self.base_url}")
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    # -- requests -----------------------------------------------------------------------------

    async def get(self, path: str, **kwargs: Any) -> Any:
        """``request("GET", path, ...)``."""
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Any:
        """``request("POST", path, ...)``: not idempotent unless ``idempotent=True``."""
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> Any:
        """``request("PUT", path, ...)``."""
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> Any:
        """``request("PATCH", path, ...)``: not idempotent unless ``idempotent=True``."""
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Any:
        """``request("DELETE", path, ...)``."""
        return await self.request("DELETE", path, **kwargs)

    async def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
        json: Any = None, headers: Mapping[str, str] | None = None, ctx: Any = None,
        idempotent: bool | None = None, find_existing: FindExisting | None = None,
        ok_404_within: float | None = None, raw: bool = False, accept: Collection[int] = (),
        credentials: Credentials | None = None,
    ) -> Any:
        """Send a request, retrying as the policy allows; return the decoded JSON body.

        :param method: the HTTP method.
        :param path: appended to ``base_url`` (see :meth:`url`).
        :param params: query parameters (never included in errors or logs).
        :param json: a JSON body.
        :param headers: extra headers for this request.
        :param ctx: the task's :class:`~orchestra_core.TaskContext`: retry waits go
            through ``ctx.sleep`` and retry lines to ``ctx.log``; ``ctx.clock`` (when the
            context has one) times the rate limit.
        :param idempotent: whether re-sending is harmless; default ``True`` for GET, HEAD,
            OPTIONS, PUT and DELETE, ``False`` for POST and PATCH.
        :param find_existing: for a non-idempotent request (a trigger): called after an
            ambiguous failure (a timeout or dropped connection after sending, a 5xx, a 2xx
            with a malformed body), before re-sending. Return what the first attempt created
            (it is returned from this call) or ``None`` (the request is sent again). Without
            it, an ambiguous failure raises ``VendorHTTPError(kind="ambiguous")``.
        :param ok_404_within: retry 404 answers until this many seconds (of the clock) have
            passed since the call began (dbt Cloud's "run not found just after trigger").
        :param raw: return the :class:`httpx.Response` (body read) instead of decoded JSON; a
            3xx answer is then returned too (redirects are not followed).
        :param accept: statuses besides 2xx that are an answer, returned like a 2xx (never
            retried nor raised): for callers to whom e.g. a 404 or a 500 means something.
        :param credentials: headers taken only once the request has its rate-limit slot
            (a short-lived access token): an object with ``cached()``, the headers to send
            now or ``None`` when they must be fetched, and ``async fetch()``, which fetches
            them (it may send requests of its own) and returns them.
        :return: the decoded JSON body, ``None`` for an empty body; or what *find_existing*
            returned.
        :raises VendorHTTPError: on a non-retryable status, a request that cannot be sent
            (``kind="invalid"``), or when retries are exhausted.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        url = self.url(path)
        where = urlsplit(url).path or "/"
        clock = getattr(ctx, "clock", None) or self.clock
        sleep = ctx.sleep if ctx is not None else clock.sleep
        started = clock.monotonic()
        sends = 0
        retries = 0
        request_headers = _merge_headers(self.headers, headers)
        attempts = self.retry.count + 1
        while True:
            sent_headers = await self._take_slot(clock, request_headers, credentials)
            sends += 1
            failure, result = await self._send(clock, method, url, params, json, sent_headers,
                                               raw, accept)
            if failure is None:
                return result
            if failure.kind == "status" and failure.status == 404:
                if ok_404_within is None or clock.monotonic() - started >= ok_404_within:
                    raise self._error(method, where, failure, sends, retryable=False)
                delay = min(self.retry.wait(1, self._rng), MAX_404_DELAY,
                            max(0.0, started + ok_404_within - clock.monotonic()))
                self._log(ctx, f"{self.vendor} {method} {where}: not found yet; "
                               f"retrying in {delay:.1f} s", level="info")
                await sleep(max(delay, 0.01))
                continue
            if failure.kind in ("status", "invalid"):  # a 4xx other than 408/429, a bad URL
                raise self._error(method, where, failure, sends, retryable=False)
            if failure.processed and not idempotent:
                if find_existing is None:
                    failure.kind = "ambiguous"
                    failure.message += ("; the request may have been processed, so it was not "
                                        "sent again")
                    raise self._error(method, where, failure, sends, retryable=None)
                found = await find_existing()
                if found is not None:
                    self._log(ctx, f"{self.vendor} {method} {where}: {failure.message}; "
                                   "found what the request created, not sending it again")
                    return found
                self._log(ctx, f"{self.vendor} {method} {where}: {failure.message}; nothing "
                               "was created, sending it again", level="info")
            retries += 1
            if sends >= attempts:
                failure.message += f" (gave up after {sends} attempts)"
                raise self._error(method, where, failure, sends, retryable=True)
            if failure.retry_after is not None:
                if failure.retry_after > self.retry.max_retry_after:
                    failure.kind = "rate_limited"
                    failure.message += (f"; the vendor asks to retry after "
                                        f"{failure.retry_after:g} s")
                    raise self._error(method, where, failure, sends, retryable=True)
                delay = failure.retry_after
            else:
                delay = self.retry.wait(retries, self._rng)
            self._log(ctx, f"{self.vendor} {method} {where}: {failure.message}; retrying in "
                           f"{delay:.1f} s (attempt {sends + 1} of {attempts})")
            await sleep(delay)

    async def _take_slot(self, clock: Any, headers: dict[str, str],
                         credentials: Credentials | None) -> dict[str, str]:
        """Wait for a slot of the rate limit, then add *credentials*' headers: taken after
        the wait, so a token cannot expire while its request waits. A credential that must be
        fetched first gives the slot back while it is fetched (the fetch may need a slot)."""
        fresh: Mapping[str, str] | None = None
        while True:
            if self.limiter is not None:
                await self.limiter.acquire(clock)
            if credentials is None:
                return headers
            current = credentials.cached() or fresh
            if current is not None:
                return _merge_headers(headers, current)
            if self.limiter is not None:
                self.limiter.release(clock, sent=False)
            fresh = await credentials.fetch()

    async def _send(self, clock: Any, method: str, url: str, params: Any, json: Any,
                    headers: dict[str, str], raw: bool, accept: Collection[int],
                    ) -> tuple[AttemptFailure | None, Any]:
        """Send once; the rate limit's slot is released when the answer (or the error) came."""
        sent = True
        try:
            failure, result = await send_once(self.http(), self.auth, method, url, params,
                                              json, headers, raw, accept, clock, self.redactor)
            # nothing reached the server when no connection was made (or the URL was bad)
            sent = failure is None or failure.status is not None or failure.processed
            return failure, result
        finally:
            if self.limiter is not None:
                self.limiter.release(clock, sent=sent)

    def _error(self, method: str, where: str, failure: AttemptFailure, sends: int, *,
               retryable: bool | None) -> VendorHTTPError:
        kind = "status" if failure.kind == "server" else failure.kind
        message = f"{self.vendor} {method} {where}: {failure.message}"
        if failure.request_id:
            message += f" (request id {failure.request_id})"
        error = VendorHTTPError(message, vendor=self.vendor, method=method, path=where,
                                status=failure.status, body=failure.body,
                                request_id=failure.request_id, kind=kind, attempts=sends,
                                retryable=retryable, redactor=self.redactor)
        error.__cause__ = failure.exc  # the httpx exception, if one ended the last attempt
        return error

    def _log(self, ctx: Any, message: str, *, level: str = "warning") -> None:
        message = self.redactor.mask(message)
        if ctx is not None:
            ctx.log(message, level=level)
        else:
            logger.log(logging.INFO if level == "info" else logging.WARNING, message)


def _merge_headers(base: Mapping[str, str], extra: Mapping[str, str] | None) -> dict[str, str]:
    """*base* updated with *extra*; a name of *extra* replaces the same name in any case."""
    merged = dict(base)
    for name, value in (extra or {}).items():
        for same in [k for k in merged if k.lower() == name.lower()]:
            del merged[same]
        merged[name] = value
    return merged

