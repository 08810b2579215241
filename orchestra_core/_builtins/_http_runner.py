"""The runner of the built-in ``http`` integration: send one request, optionally poll.

Requests go through the host's vendor HTTP layer (``host.vendor_client("http", ...)``), as
every vendor plugin's do: the same retries (:class:`~orchestra_core.HttpRetry`),
redaction of credentials, error mapping, pooled connections (one client per origin and header
set, shared by every task of the host) and test seam (``Orchestra(transports={"http": t})``).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx

from .._errors import TaskFailed
from .._models import ExternalRun, JobResult, JobState
from .._retry import HttpRetry
from .._vendor_http import ReadFailures, VendorClient, VendorHTTPError

if TYPE_CHECKING:
    from .._protocols import TaskContext
    from .http import HttpParameters, HttpPoll

__all__ = ("HttpRunner",)

#: The vendor name of the http integration's clients (and of its transport seam).
VENDOR = "http"

#: Characters of a response body kept in failure messages.
BODY_EXCERPT = 500
#: Characters of the trigger response kept in ``ExternalRun.data`` (without polling).
RESPONSE_KEPT = 1000
#: Longest pause between polls after consecutive failed polls (unless the poll interval
#: itself is longer).
MAX_POLL_PAUSE = 60.0
#: Shortest time between polls (``interval: 0`` would poll in a busy loop).
MIN_POLL_INTERVAL = 0.05


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


def _auth_headers(connection: Any, redactor: Any) -> dict[str, str]:
    """The headers a connection's auth scheme adds: ``basic`` (username and password),
    ``bearer`` (``Authorization: Bearer TOKEN``) or ``header`` (the option ``header``,
    default ``X-API-Key``, set to the token). The token is the credential's ``token``,
    ``api_key`` or ``password`` field, the first present. A basic-auth header's encoded
    credentials are registered with *redactor* (the host's)."""
    from .._secrets._resolve import basic_auth_token

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
        return {"Authorization": f"Basic {basic_auth_token(redactor, username, password)}"}
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


class _Request:
    """A task's request settings: its parameters, filled in from its connection (secrets it
    derives registered with *redactor*)."""

    def __init__(self, params: HttpParameters, connection: Any, redactor: Any) -> None:
        self.base_url = params.base_url or _from_connection(connection, "base_url")
        method = params.method or _from_connection(connection, "method")
        self.endpoint = params.endpoint or _from_connection(connection, "endpoint")
        headers: dict[str, str] = _auth_headers(connection, redactor)
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


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of *url*: the base URL of the client that sends to it.

    :raises TaskFailed: (not retryable) when *url* is not a valid URL.
    """
    try:
        httpx.URL(url)
        parts = urlsplit(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise TaskFailed(f"invalid URL {_safe_url(url)!r}: {exc}", retryable=False) from exc
    return f"{parts.scheme}://{parts.netloc}"


def _status_text(status: int) -> str:
    """``"404 Not Found"``: a status with its reason phrase."""
    reason = httpx.codes.get_reason_phrase(status)
    return f"{status} {reason}" if reason else str(status)


def _unanswered(exc: VendorHTTPError) -> str:
    """Why a request got no usable answer: the httpx exception that ended it, if any."""
    cause = exc.__cause__
    return _error_text(cause) if cause is not None else str(exc)


class HttpRunner:
    """Runs ``http_request``: send one request; with ``poll``, poll a status URL until done.

    Without ``poll`` the job is finished once the request got an expected status: ``start``
    keeps the status and (a truncated) response in :attr:`ExternalRun.data` and ``wait``
    succeeds at once. With ``poll``, ``start`` reads the run id at ``poll.id_field`` of the
    trigger response (:attr:`ExternalRun.id`) and ``wait`` GETs ``poll.endpoint`` every
    ``poll.interval`` seconds (on the engine clock) until the dotted ``poll.field`` holds a
    value of ``poll.success`` or ``poll.failure`` (compared as text, case-insensitively).

    Every request is sent by a :class:`~orchestra_core.VendorClient` of the host,
    so connection errors, timeouts, 5xx, 408 and 429 are retried as *retry* says (honouring
    ``Retry-After``), with the waits on the engine clock and each retry logged. Every trigger
    carries ``Idempotency-Key: ctx.idempotency_key`` unless the task's headers set one; a
    trigger whose answer was lost is re-sent with the same key. A poll whose retries ran out
    is logged and polled again after a pause (:class:`~orchestra_core.ReadFailures`:
    twice the interval, doubling up to 60 s); the wait never gives up on a transient error.

    :param host: the :class:`~orchestra_core.Orchestra` whose ``vendor_client`` sends the
        requests (``Orchestra(transports={"http": transport})`` swaps the network out).
    :param retry: the retry policy of each request (default ``HttpRetry()``).
    :param timeout: seconds allowed per request.
    """

    def __init__(self, host: Any, *, retry: HttpRetry | None = None,
                 timeout: float = 30.0) -> None:
        self.host = host
        self.retry = retry
        self.timeout = timeout
        self._clients: weakref.WeakSet[VendorClient] = weakref.WeakSet()

    # -- the clients -------------------------------------------------------------------------

    def client(self, url: str, headers: Mapping[str, str]) -> VendorClient:
        """The host's shared client for requests to *url*'s origin with *headers*.

        :raises TaskFailed: (not retryable) when *url* is not a valid URL.
        """
        client: VendorClient = self.host.vendor_client(
            VENDOR, base_url=_origin(url), headers=dict(headers), retry=self.retry,
            timeout=self.timeout)
        self._clients.add(client)
        return client

    async def aclose(self) -> None:
        """Close the current event loop's connection pools of the clients this runner used
        (a later request opens new ones)."""
        for client in list(self._clients):
            await client.aclose()

    # -- JobRunner ---------------------------------------------------------------------------

    async def start(self, ctx: TaskContext) -> ExternalRun:
        """Send the request; raise :class:`TaskFailed` on an unexpected status or no answer."""
        params: HttpParameters = ctx.parameters
        request = _Request(params, ctx.connection, self.host.redactor)
        poll = params.poll
        if poll is not None and "{id}" in poll.endpoint and not poll.id_field:
            raise TaskFailed(
                "poll.endpoint contains {id} but poll.id_field is not set: "
                "the run id cannot be read from the trigger response",
                retryable=False,
            )
        extra = {}
        if not any(key.lower() == "idempotency-key" for key in request.headers):
            extra["Idempotency-Key"] = ctx.idempotency_key
        client = self.client(request.url, request.headers)
        where = f"{request.method} {_safe_url(request.url)}"
        expected = params.expected_status
        wanted = ", ".join(str(code) for code in expected) if expected else "2xx"
        try:
            # the Idempotency-Key makes a re-sent trigger safe: an API that honours it
            # answers with the job it already created
            response = await client.request(
                request.method, request.url, params=dict(params.query) or None,
                json=params.body, headers=extra, ctx=ctx, idempotent=True, raw=True,
                accept=expected)
        except VendorHTTPError as exc:
            if exc.status is None:
                raise TaskFailed(f"{where} failed: {_unanswered(exc)}",
                                 retryable=exc.retryable) from exc
            raise TaskFailed(
                f"{where} returned HTTP {_status_text(exc.status)} (expected {wanted})"
                + (f": {text}" if (text := _excerpt(exc.body)) else ""),
                retryable=exc.retryable,
                metadata={"status_code": exc.status},
            ) from exc
        status = response.status_code
        if (status not in expected) if expected else not 200 <= status < 300:
            text = _excerpt(response.text)
            raise TaskFailed(
                f"{where} returned HTTP {status} {response.reason_phrase} (expected {wanted})"
                + (f": {text}" if text else ""),
                retryable=False,
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
        request = _Request(params, ctx.connection, self.host.redactor)
        return await self._poll(ctx, run, params.poll, request)

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
        interval = max(poll.interval, MIN_POLL_INTERVAL)
        failures = ReadFailures(interval, max_delay=MAX_POLL_PAUSE, give_up_after=None)
        where = f"GET {_safe_url(url)}"
        try:
            client = self.client(url, request.headers)
        except TaskFailed as exc:
            return JobResult(state=JobState.FAILED, message=f"polling {where}: {exc}",
                             metadata=metadata, retryable=False)
        delay = interval
        while True:
            await ctx.sleep(delay)
            delay = interval
            metadata["polls"] += 1
            try:
                response = await client.get(url, ctx=ctx, raw=True)
            except VendorHTTPError as exc:
                if exc.status is not None:
                    metadata["poll_status_code"] = exc.status
                    problem = f"polling {where} returned HTTP {exc.status}"
                else:
                    problem = f"polling {where} failed: {_unanswered(exc)}"
                if not exc.retryable:
                    if exc.status is not None:
                        problem = f"polling {where} returned HTTP {_status_text(exc.status)}" \
                            + (f": {text}" if (text := _excerpt(exc.body)) else "")
                    return JobResult(state=JobState.FAILED, message=problem,
                                     metadata=metadata, retryable=False)
                delay = failures.failed(ctx.now()) or interval  # never None: no give-up time
                ctx.log(f"{problem}; retrying in {delay:g} s", level="warning")
                continue
            failures.succeeded()
            status = response.status_code
            metadata["poll_status_code"] = status
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
