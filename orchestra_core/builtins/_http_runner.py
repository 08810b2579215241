"""The runner of the built-in ``http`` integration: send one request, optionally poll.

One :class:`httpx.AsyncClient` serves every task of a runner (per event loop: a client's
connection pool is bound to the loop that created it), with pools sized for hundreds of
concurrent jobs and one SSL context.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from anyio.lowlevel import RunVar

from ..errors import TaskFailed
from ..models import ExternalRun, JobResult, JobState

if TYPE_CHECKING:
    from ..protocols import TaskContext
    from .http import HttpParameters, HttpPoll

__all__ = ("HttpRunner", "ShardedTransport")

#: Characters of a response body kept in failure messages.
BODY_EXCERPT = 500
#: Characters of the trigger response kept in ``ExternalRun.data`` (without polling).
RESPONSE_KEPT = 1000
#: Longest wait between polls after consecutive transient errors (unless the poll
#: interval itself is longer), and the most a ``Retry-After`` header is honoured.
MAX_BACKOFF = 60.0
MAX_RETRY_AFTER = 300.0
#: Shortest time between polls (``interval: 0`` would poll in a busy loop).
MIN_POLL_INTERVAL = 0.05

_TRANSIENT_STATUS = frozenset({429})


def _transient(status: int) -> bool:
    return status >= 500 or status in _TRANSIENT_STATUS


def _excerpt(text: str, limit: int = BODY_EXCERPT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "..."


def _where(url: httpx.URL) -> str:
    """The URL for messages: no credentials, no query string (either may hold secrets)."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"


def _safe_url(url: str) -> str:
    """*url* for messages, as :func:`_where` does, also when it does not parse."""
    try:
        return _where(httpx.URL(url))
    except (httpx.InvalidURL, TypeError, ValueError):
        return url.split("?")[0]


def _error_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _dig(data: Any, path: str) -> Any:
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


def _as_text(value: Any) -> str:
    """A JSON value as the user would write it in ``success``/``failure``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _join(base_url: str | None, endpoint: str) -> str:
    """*endpoint* if it is a full URL, else *base_url* and *endpoint* joined by one slash."""
    if "://" in endpoint or not base_url:
        return endpoint
    if not endpoint:
        return base_url
    return base_url.rstrip("/") + "/" + endpoint.lstrip("/")


def _from_connection(connection: Any, name: str) -> Any:
    """Attribute, option or key *name* of a resolved connection (``None`` when it has none)."""
    if connection is None:
        return None
    if isinstance(connection, Mapping):
        return connection.get(name)
    value = getattr(connection, name, None)
    if value is None:
        value = (getattr(connection, "options", None) or {}).get(name)
    return value


#: Auth schemes the http integration applies from a connection.
AUTH_SCHEMES = ("none", "basic", "bearer", "header")


def _auth_headers(connection: Any) -> dict[str, str]:
    """The headers a connection's auth scheme adds: ``basic`` (username and password),
    ``bearer`` (``Authorization: Bearer TOKEN``) or ``header`` (the option ``header``,
    default ``X-API-Key``, set to the token). The token is the credential's ``token``,
    ``api_key`` or ``password`` field, the first present."""
    from ..secrets._resolve import basic_auth_token

    auth = _from_connection(connection, "auth")
    if not auth or auth == "none" or isinstance(connection, Mapping):
        return {}
    secrets = getattr(connection, "secrets", None) or {}
    name = getattr(connection, "name", "?")
    if auth == "basic":
        username, password = secrets.get("username"), secrets.get("password")
        if not username or not password:
            raise TaskFailed(f"connection {name!r} uses basic auth but its credential has no "
                             "username and password", retryable=False)
        return {"Authorization": f"Basic {basic_auth_token(username, password)}"}
    if auth in ("bearer", "header"):
        token = next((secrets[f] for f in ("token", "api_key", "password") if secrets.get(f)),
                     None)
        if token is None:
            raise TaskFailed(f"connection {name!r} uses {auth} auth but its credential has no "
                             "token, api_key or password field", retryable=False)
        if auth == "bearer":
            return {"Authorization": f"Bearer {token}"}
        header = (getattr(connection, "options", None) or {}).get("header") or "X-API-Key"
        return {str(header): token}
    raise TaskFailed(f"connection {name!r}: the http integration does not support auth "
                     f"scheme {auth!r} (use {', '.join(AUTH_SCHEMES)})", retryable=False)


class _TrackedStream(httpx.AsyncByteStream):
    """A response body that tells its shard when it is closed (the request is then over)."""

    def __init__(self, stream: httpx.AsyncByteStream, done: Any) -> None:
        self._stream = stream
        self._done = done

    async def __aiter__(self) -> Any:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._done is not None:
                self._done()
                self._done = None


class ShardedTransport(httpx.AsyncBaseTransport):
    """Spreads requests over several connection pools sharing one SSL context.

    httpcore's pool scans every connection for every queued request, so one pool serving
    hundreds of concurrent requests spends most of its time in that scan (measured: 500
    concurrent polling jobs against one host take ~12 s through one pool of 1,000 connections
    and ~3 s through 32 pools of 32). Each request goes to the pool with the fewest requests
    in flight (the first such), so light traffic keeps reusing the first pool's connections.
    Each shard is an ordinary :class:`httpx.AsyncHTTPTransport`.

    :param limits: the limits of all shards together (each gets its share).
    :param shards: how many pools.
    """

    def __init__(self, limits: httpx.Limits, shards: int = 32) -> None:
        ssl_context = httpx.create_ssl_context()
        share = -(-(limits.max_connections or 1000) // shards)
        keep = -(-(limits.max_keepalive_connections or share * shards) // shards)
        shard_limits = httpx.Limits(max_connections=share, max_keepalive_connections=keep,
                                    keepalive_expiry=limits.keepalive_expiry)
        self.shards = [httpx.AsyncHTTPTransport(verify=ssl_context, limits=shard_limits)
                       for _ in range(shards)]
        self.in_flight = [0] * shards

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send *request* through the least busy pool."""
        in_flight = self.in_flight
        index = in_flight.index(min(in_flight))
        in_flight[index] += 1

        def done() -> None:
            in_flight[index] -= 1

        try:
            response = await self.shards[index].handle_async_request(request)
        except BaseException:
            done()
            raise
        if not isinstance(response.stream, httpx.AsyncByteStream):  # pragma: no cover
            done()
            return response
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_TrackedStream(response.stream, done),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every pool."""
        for shard in self.shards:
            await shard.aclose()


class _Request:
    """A task's request settings: its parameters, filled in from its connection."""

    def __init__(self, params: HttpParameters, connection: Any) -> None:
        self.base_url = params.base_url or _from_connection(connection, "base_url")
        method = params.method or _from_connection(connection, "method")
        self.endpoint = params.endpoint or _from_connection(connection, "endpoint")
        headers: dict[str, str] = _auth_headers(connection)
        for source in (_from_connection(connection, "headers"), params.headers):
            for key, value in (source or {}).items():
                for same in [k for k in headers if k.lower() == str(key).lower()]:
                    del headers[same]  # the task's own header wins over the connection's
                headers[str(key)] = str(value)
        self.headers = headers
        missing = []
        if not method:
            missing.append("method")
        if not self.endpoint:
            missing.append("endpoint")
        if not self.base_url and "://" not in str(self.endpoint or ""):
            missing.append("base_url")
        if missing:
            raise TaskFailed(
                f"the http request needs {' and '.join(missing)}: give them as parameters or "
                "through a connection (secondary_configuration_id)",
                retryable=False,
            )
        self.method = str(method).upper()
        self.url = _join(self.base_url, str(self.endpoint))


class HttpRunner:
    """Runs ``http_request``: send one request; with ``poll``, poll a status URL until done.

    Without ``poll`` the job is finished once the request got an expected status: ``start``
    keeps the status and (a truncated) response in :attr:`ExternalRun.data` and ``wait``
    succeeds at once. With ``poll``, ``start`` reads the run id at ``poll.id_field`` of the
    trigger response (:attr:`ExternalRun.id`) and ``wait`` GETs ``poll.endpoint`` every
    ``poll.interval`` seconds (on the engine clock) until the dotted ``poll.field`` holds a
    value of ``poll.success`` or ``poll.failure`` (compared as text, case-insensitively).
    Connection errors, 5xx and 429 while polling are logged and retried with backoff.

    Every trigger carries ``Idempotency-Key: ctx.idempotency_key`` unless the task's headers
    set one.

    :param host: the :class:`~orchestra_core.Orchestra` the runner belongs to (unused).
    :param transport: an ``httpx`` async transport to send requests through (tests pass an
        :class:`httpx.MockTransport`); default: the network.
    :param timeout: seconds allowed per request.
    :param limits: connection pool limits; the default allows 1,000 concurrent connections
        (spread over the pools of a :class:`ShardedTransport`).
    """

    def __init__(
        self,
        host: Any = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        limits: httpx.Limits | None = None,
    ) -> None:
        self.host = host
        self._transport = transport
        self._timeout = timeout
        self._limits = limits or httpx.Limits(
            max_connections=1000, max_keepalive_connections=1000
        )
        self._client_var: RunVar[httpx.AsyncClient | None] = RunVar(
            f"orchestra_http_client_{id(self)}", None
        )

    # -- the client --------------------------------------------------------------------------

    def client(self) -> httpx.AsyncClient:
        """The shared client of the current event loop, created on first use."""
        client = self._client_var.get()
        if client is None or client.is_closed:
            transport = self._transport or ShardedTransport(self._limits)
            client = httpx.AsyncClient(transport=transport, timeout=self._timeout)
            self._client_var.set(client)
        return client

    async def aclose(self) -> None:
        """Close the current event loop's client (a later request opens a new one)."""
        client = self._client_var.get()
        if client is not None:
            self._client_var.set(None)
            await client.aclose()

    # -- JobRunner ---------------------------------------------------------------------------

    async def start(self, ctx: TaskContext) -> ExternalRun:
        """Send the request; raise :class:`TaskFailed` on an unexpected status or no answer."""
        params: HttpParameters = ctx.parameters
        request = _Request(params, ctx.connection)
        poll = params.poll
        if poll is not None and "{id}" in poll.endpoint and not poll.id_field:
            raise TaskFailed(
                "poll.endpoint contains {id} but poll.id_field is not set: "
                "the run id cannot be read from the trigger response",
                retryable=False,
            )
        headers = dict(request.headers)
        if not any(key.lower() == "idempotency-key" for key in headers):
            headers["Idempotency-Key"] = ctx.idempotency_key
        try:
            response = await self.client().request(
                request.method,
                request.url,
                headers=headers,
                params=dict(params.query) or None,
                json=params.body,
            )
        except httpx.InvalidURL as exc:
            raise TaskFailed(
                f"invalid URL {_safe_url(request.url)!r}: {exc}", retryable=False
            ) from exc
        except httpx.UnsupportedProtocol as exc:
            raise TaskFailed(
                f"{request.method} {_safe_url(request.url)} failed: {_error_text(exc)}",
                retryable=False,
            ) from exc
        except httpx.TransportError as exc:
            raise TaskFailed(
                f"{request.method} {_safe_url(request.url)} failed: {_error_text(exc)}",
                retryable=True,
            ) from exc
        except httpx.RequestError as exc:
            raise TaskFailed(
                f"{request.method} {_safe_url(request.url)} failed: {_error_text(exc)}",
                retryable=False,
            ) from exc
        where = f"{request.method} {_where(response.request.url)}"
        status = response.status_code
        expected = params.expected_status
        if (status not in expected) if expected else not 200 <= status < 300:
            wanted = ", ".join(str(code) for code in expected) if expected else "2xx"
            text = _excerpt(response.text)
            raise TaskFailed(
                f"{where} returned HTTP {status} {response.reason_phrase} (expected {wanted})"
                + (f": {text}" if text else ""),
                retryable=_transient(status),
                metadata={"status_code": status},
            )
        if poll is None:
            ctx.log(f"{where}: HTTP {status}")
            return ExternalRun(
                id=None,
                started_at=ctx.now(),
                data={"status_code": status, "response": response.text[:RESPONSE_KEPT]},
            )
        run_id = None
        if poll.id_field:
            run_id = self._run_id(response, poll.id_field, where)
        poll_url = _join(request.base_url, poll.endpoint)
        if run_id is not None:
            poll_url = poll_url.replace("{id}", quote(run_id, safe=""))
        ctx.log(f"{where}: HTTP {status}" + (f", run id {run_id}" if run_id is not None else ""))
        return ExternalRun(
            id=run_id, started_at=ctx.now(), data={"status_code": status, "poll_url": poll_url}
        )

    async def wait(self, ctx: TaskContext, run: ExternalRun) -> JobResult:
        """Succeed at once (no ``poll``), or poll until the status field says done."""
        params: HttpParameters = ctx.parameters
        status = run.data.get("status_code")
        if params.poll is None:
            return JobResult(
                state=JobState.SUCCEEDED,
                message=f"HTTP {status}",
                metadata={"status_code": status, "response": run.data.get("response", "")},
            )
        return await self._poll(ctx, run, params.poll, _Request(params, ctx.connection))

    async def cancel(self, ctx: TaskContext, run: ExternalRun) -> None:
        """There is no generic way to cancel a job behind an HTTP API: say so in the log."""
        what = f"run {run.id}" if run.id is not None else "the request"
        ctx.log(
            f"the http integration cannot cancel {what}: the remote job may keep running",
            level="warning",
        )

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    def _run_id(response: httpx.Response, id_field: str, where: str) -> str:
        try:
            value = _dig(response.json(), id_field)
        except (ValueError, KeyError):
            value = None
        if value is None or isinstance(value, (dict, list)):
            raise TaskFailed(
                f"{where}: the response has no run id at {id_field!r} (poll.id_field): "
                f"{_excerpt(response.text)}",
                retryable=False,
                metadata={"status_code": response.status_code},
            )
        return _as_text(value)

    async def _poll(
        self, ctx: TaskContext, run: ExternalRun, poll: HttpPoll, request: _Request
    ) -> JobResult:
        url = run.data.get("poll_url")
        if not url:  # stored by another version: rebuild it from the parameters
            url = _join(request.base_url, poll.endpoint)
            if run.id is not None:
                url = url.replace("{id}", quote(run.id, safe=""))
        success = {value.casefold() for value in poll.success}
        failure = {value.casefold() for value in poll.failure}
        metadata: dict[str, Any] = {"status_code": run.data.get("status_code"), "polls": 0}
        if run.id is not None:
            metadata["id"] = run.id
        last: str | None = None
        errors = 0
        interval = max(poll.interval, MIN_POLL_INTERVAL)
        delay = interval
        while True:
            await ctx.sleep(delay)
            delay = interval
            metadata["polls"] += 1
            try:
                response = await self.client().get(url, headers=request.headers)
            except httpx.TransportError as exc:
                if isinstance(exc, httpx.UnsupportedProtocol):
                    return JobResult(
                        state=JobState.FAILED,
                        message=f"polling GET {_safe_url(url)} failed: {_error_text(exc)}",
                        metadata=metadata,
                        retryable=False,
                    )
                errors += 1
                delay = self._backoff(interval, errors)
                ctx.log(f"polling GET {_safe_url(url)} failed: {_error_text(exc)}; "
                        f"retrying in {delay:g} s", level="warning")
                continue
            except httpx.RequestError as exc:
                return JobResult(
                    state=JobState.FAILED,
                    message=f"polling GET {_safe_url(url)} failed: {_error_text(exc)}",
                    metadata=metadata,
                    retryable=False,
                )
            where = f"GET {_where(response.request.url)}"
            status = response.status_code
            metadata["poll_status_code"] = status
            if _transient(status):
                errors += 1
                delay = self._backoff(interval, errors, response.headers.get("retry-after"))
                ctx.log(f"polling {where} returned HTTP {status}; retrying in {delay:g} s",
                        level="warning")
                continue
            errors = 0
            if not 200 <= status < 300:
                return JobResult(
                    state=JobState.FAILED,
                    message=f"polling {where} returned HTTP {status} {response.reason_phrase}"
                    + (f": {text}" if (text := _excerpt(response.text)) else ""),
                    metadata=metadata,
                    retryable=False,
                )
            try:
                value = _as_text(_dig(response.json(), poll.field))
            except (ValueError, KeyError):
                return JobResult(
                    state=JobState.FAILED,
                    message=f"polling {where}: no field {poll.field!r} (poll.field) in the "
                    f"response: {_excerpt(response.text)}",
                    metadata=metadata,
                    retryable=False,
                )
            metadata["status"] = value
            if value.casefold() in success:
                return JobResult(
                    state=JobState.SUCCEEDED,
                    message=f"{poll.field} is {value!r}",
                    metadata=metadata,
                )
            if value.casefold() in failure:
                return JobResult(
                    state=JobState.FAILED,
                    message=f"the job failed: {poll.field} is {value!r}",
                    metadata=metadata,
                )
            if value != last:
                ctx.log(f"{poll.field} is {value!r}; polling every {interval:g} s")
                last = value

    @staticmethod
    def _backoff(interval: float, errors: int, retry_after: str | None = None) -> float:
        """Seconds to wait after *errors* consecutive transient errors."""
        delay = min(interval * 2 ** min(errors, 30), max(interval, MAX_BACKOFF))
        if retry_after:
            with contextlib.suppress(ValueError):  # an HTTP date: keep the backoff
                delay = max(delay, min(float(retry_after), MAX_RETRY_AFTER))
        return delay
