"""The runner of the built-in ``http`` integration: send one request, optionally poll.

Requests go through the host's vendor HTTP layer (``host.vendor_client("http", ...)``), as
every vendor plugin's do: the same retries (:class:`~orchestra_core.HttpRetry`),
redaction of credentials, error mapping, pooled connections (one client per origin and header
set, shared by every task of the host) and test seam (``Orchestra(transports={"http": t})``).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from .._errors import TaskFailed
from .._models import ExternalRun, JobResult, JobState
from .._redaction import masked_excerpt
from .._retry import HttpRetry
from .._vendor_http import ReadFailures, VendorClient, VendorHTTPError
from ._http_request import RequestSettings, join_url, origin
from ._http_text import as_text, dig, excerpt, safe_url, status_text, unanswered

if TYPE_CHECKING:
    from .._protocols import TaskContext
    from .http import HttpParameters, HttpPoll

__all__ = ("HttpRunner",)

#: The vendor name of the http integration's clients (and of its transport seam).
VENDOR = "http"

#: Characters of the trigger response kept in ``ExternalRun.data`` (without polling).
RESPONSE_KEPT = 1000
#: Longest pause between polls after consecutive failed polls (unless the poll interval
#: itself is longer).
MAX_POLL_PAUSE = 60.0
#: Shortest time between polls (``interval: 0`` would poll in a busy loop).
MIN_POLL_INTERVAL = 0.05


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

    @property
    def _redactor(self) -> Any:
        """The host's redactor: text is masked with it before it is cut short."""
        return getattr(self.host, "redactor", None)

    # -- the clients -------------------------------------------------------------------------

    def client(self, url: str, headers: Mapping[str, str]) -> VendorClient:
        """The host's shared client for requests to *url*'s origin with *headers*.

        :raises TaskFailed: (not retryable) when *url* is not a valid URL.
        """
        client: VendorClient = self.host.vendor_client(
            VENDOR, base_url=origin(url), headers=dict(headers), retry=self.retry,
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
        request = RequestSettings(params, ctx.connection, self._redactor)
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
        where = f"{request.method} {safe_url(request.url)}"
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
                raise TaskFailed(f"{where} failed: {unanswered(exc)}",
                                 retryable=exc.retryable) from exc
            raise TaskFailed(
                f"{where} returned HTTP {status_text(exc.status)} (expected {wanted})"
                + (f": {text}" if (text := excerpt(exc.body, self._redactor)) else ""),
                retryable=exc.retryable,
                metadata={"status_code": exc.status},
            ) from exc
        status = response.status_code
        if (status not in expected) if expected else not 200 <= status < 300:
            text = excerpt(response.text, self._redactor)
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
                data={"status_code": status, "response": masked_excerpt(
                    response.text, RESPONSE_KEPT, self._redactor, marker="")},
            )
        run_id = None
        if poll.id_field:
            run_id = self._run_id(response, poll.id_field, where)
        poll_url = join_url(request.base_url, poll.endpoint)
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
        request = RequestSettings(params, ctx.connection, self._redactor)
        return await self._poll(ctx, run, params.poll, request)

    async def cancel(self, ctx: TaskContext, run: ExternalRun) -> None:
        """There is no generic way to cancel a job behind an HTTP API: say so in the log."""
        what = f"run {run.id}" if run.id is not None else "the request"
        ctx.log(
            f"the http integration cannot cancel {what}: the remote job may keep running",
            level="warning",
        )

    # -- internals ---------------------------------------------------------------------------

    def _run_id(self, response: httpx.Response, id_field: str, where: str) -> str:
        try:
            value = dig(response.json(), id_field)
        except (ValueError, KeyError):
            value = None
        if value is None or isinstance(value, (dict, list)):
            raise TaskFailed(
                f"{where}: the response has no run id at {id_field!r} (poll.id_field): "
                f"{excerpt(response.text, self._redactor)}",
                retryable=False,
                metadata={"status_code": response.status_code},
            )
        return as_text(value)

    async def _poll(
        self, ctx: TaskContext, run: ExternalRun, poll: HttpPoll, request: RequestSettings
    ) -> JobResult:
        url = run.data.get("poll_url")
        if not url:  # stored by another version: rebuild it from the parameters
            url = join_url(request.base_url, poll.endpoint)
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
        where = f"GET {safe_url(url)}"
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
                    problem = f"polling {where} failed: {unanswered(exc)}"
                if not exc.retryable:
                    if exc.status is not None:
                        problem = f"polling {where} returned HTTP {status_text(exc.status)}" \
                            + (f": {text}" if (text := excerpt(exc.body, self._redactor)) else "")
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
                    + (f": {text}" if (text := excerpt(response.text, self._redactor)) else ""),
                    metadata=metadata,
                    retryable=False,
                )
            try:
                value = as_text(dig(response.json(), poll.field))
            except (ValueError, KeyError):
                return JobResult(
                    state=JobState.FAILED,
                    message=f"polling {where}: no field {poll.field!r} (poll.field) in the "
                    f"response: {excerpt(response.text, self._redactor)}",
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
