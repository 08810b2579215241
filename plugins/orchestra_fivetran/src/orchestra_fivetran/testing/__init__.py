"""A stateful fake of the Fivetran REST API v1, for tests, demos and benchmarks.

Free of pytest imports. In-process through :attr:`FivetranSimulator.transport`, or as a real
HTTP server on 127.0.0.1 (:meth:`FivetranSimulator.serve`, ``orchestra simulate fivetran``,
``python -m orchestra_fivetran.testing``)::

    clock = FakeClock()
    sim = FivetranSimulator(clock=clock, duration=120)
    sim.add_connector("ambush_prettiest", outcomes=["failure", "success"])
    host = Orchestra(transports={"fivetran": sim.transport})
    connection = sim.connection()        # a Connection with the simulator's key and secret

What it simulates (see :mod:`orchestra_fivetran.testing._state`): connections whose syncs
take ``duration`` seconds of the clock and end as scripted (success, failure, failure with a
task, rescheduled), ``paused`` and ``schedule_type``, triggers (``force`` restarts a running
sync; otherwise a running sync is left alone: 200, or 409 with ``conflict_when_syncing``),
the schema configuration, API-managed webhooks (account or group, the test POST on creation,
``sync_start`` / ``sync_end`` deliveries signed like Fivetran's, retries on failure), basic
auth (401), and failure injection (:meth:`fail_next`, :meth:`timeout_next`,
:meth:`malformed_next`, :meth:`inject_sync_state`).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import anyio
import httpx
from attrs import define, field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from orchestra_core.models import Connection
from orchestra_core.testing import SystemClock

from ..webhooks import SIGNATURE_HEADER, sign
from ._routes import error, fivetran_routes, ok
from ._state import Connector, FivetranState, Outcome, WebhookConfig, iso

__all__ = (
    "DEFAULT_KEY",
    "DEFAULT_SECRET",
    "Connector",
    "DeliveryRecord",
    "FivetranSimulator",
    "Outcome",
    "WebhookConfig",
)

#: The API key and secret the simulator accepts unless told otherwise.
DEFAULT_KEY = "simulator-key"
DEFAULT_SECRET = "simulator-secret-0123456789"
#: Fivetran retries a failed delivery after 5, 10, 15, ... minutes, for 24 hours.
RETRY_STEP = 300.0
RETRY_FOR = 24 * 3600.0
#: Deliveries in flight at once.
DELIVERY_CONCURRENCY = 32


@define
class DeliveryRecord:
    """One attempt to deliver a webhook: where, what, and the endpoint's answer (0: no
    answer)."""

    webhook_id: str
    event: str
    connector_id: str
    status: int
    attempt: int
    at: datetime
    body: bytes = field(repr=False)


@define
class _Pending:
    hook: WebhookConfig
    payload: dict[str, Any]
    due: datetime
    attempt: int = 1
    first: datetime | None = None


@define
class _Injection:
    kind: str  # status | timeout | malformed
    method: str | None
    path: str | None
    times: int
    status: int = 500
    retry_after: str | None = None
    body: Any = None
    processed: bool = False


class _Transport(httpx.AsyncBaseTransport):
    """The in-process transport: the app through ASGI, plus injected timeouts."""

    def __init__(self, sim: FivetranSimulator) -> None:
        self.sim = sim
        self.inner = httpx.ASGITransport(app=sim.app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        rule = self.sim._take("timeout", request.method, request.url.path)
        if rule is None:
            return await self.inner.handle_async_request(request)
        if not rule.processed:
            raise httpx.ConnectTimeout("simulated connect timeout", request=request)
        response = await self.inner.handle_async_request(request)
        await response.aread()
        raise httpx.ReadTimeout("simulated read timeout (the request was processed)",
                                request=request)


class FivetranSimulator:
    """The simulated Fivetran account and its API.

    :param clock: drives syncs and webhook retries (``FakeClock`` in tests; real by default).
    :param duration: default seconds a sync takes.
    :param credentials: accepted ``(api_key, api_secret)`` pairs (401 for others).
    :param connectors: connection ids to create with default settings.
    :param conflict_when_syncing: answer 409 to a non-forced trigger of a syncing connection.
    :param auto_create: create unknown connections on first use (benchmarks) instead of 404.
    :param allow_http_webhooks: accept ``http://`` webhook URLs on loopback (Fivetran
        requires HTTPS).
    :param webhook_transport: the httpx transport deliveries go through (e.g. an
        ``httpx.ASGITransport`` of Orchestra's server app); default: the network.
    :param webhook_retry_scale: multiplies Fivetran's retry delays (5, 10, 15 ... minutes),
        e.g. ``0.001`` to retry within seconds.
    """

    name = "fivetran"

    def __init__(self, *, clock: Any = None, duration: float = 2.0,
                 credentials: Iterable[tuple[str, str]] = ((DEFAULT_KEY, DEFAULT_SECRET),),
                 connectors: Iterable[str] = (), conflict_when_syncing: bool = False,
                 auto_create: bool = False, allow_http_webhooks: bool = True,
                 webhook_transport: httpx.AsyncBaseTransport | None = None,
                 webhook_retry_scale: float = 1.0) -> None:
        self.clock = clock or SystemClock()
        self.state = FivetranState(self.clock, duration=duration,
                                   conflict_when_syncing=conflict_when_syncing)
        self.credentials = {tuple(c) for c in credentials}
        self.auto_create = auto_create
        self.allow_http_webhooks = allow_http_webhooks
        self.webhook_transport = webhook_transport
        self.webhook_retry_scale = webhook_retry_scale
        self.requests = 0
        self.deliveries: list[DeliveryRecord] = []
        self._pending: list[_Pending] = []
        self._injections: list[_Injection] = []
        self._changed: anyio.Event | None = None
        self._client: httpx.AsyncClient | None = None
        for cid in connectors:
            self.add_connector(cid)
        self.app = Starlette(routes=fivetran_routes(self), lifespan=self._lifespan)
        self.transport = _Transport(self)
        self.base_url = "http://fivetran.simulator/v1"

    # -- setting up ---------------------------------------------------------------------------

    def add_connector(self, connector_id: str | None = None, **options: Any) -> Connector:
        """Add a connection; *options* are :class:`Connector` fields (``duration``,
        ``outcomes``, ``paused``, ``schedule_type``, ``schemas``, ``group_id``, ...)."""
        return self.state.add_connector(connector_id, **options)

    def connector(self, connector_id: str) -> Connector:
        """The connection *connector_id* (with its counters: ``triggers``, ``syncs``)."""
        self._advance()
        return self.state.connectors[connector_id]

    def connection(self, name: str = "fivetran-sim", *, base_url: str | None = None,
                   webhook_secret: str | None = None, **options: Any) -> Connection:
        """A :class:`~orchestra_core.models.Connection` with the simulator's first
        credentials, for ``ctx.connection`` or a test's connection resolver."""
        key, secret = sorted(self.credentials)[0]
        secrets = {"api_key": key, "api_secret": secret}
        if webhook_secret:
            secrets["webhook_secret"] = webhook_secret
        return Connection(name=name, integration="fivetran", base_url=base_url or self.base_url,
                          auth="basic", options=options, secrets=secrets)

    def env(self, base_url: str | None = None) -> dict[str, str]:
        """The quick-start environment variables pointing at this simulator."""
        key, secret = sorted(self.credentials)[0]
        return {"FIVETRAN_API_KEY": key, "FIVETRAN_API_SECRET": secret,
                "FIVETRAN_BASE_URL": base_url or self.base_url}

    # -- failure injection --------------------------------------------------------------------

    def fail_next(self, status: int = 500, *, times: int = 1, method: str | None = None,
                  path: str | None = None, retry_after: float | str | None = None,
                  body: Any = None, processed: bool = False) -> None:
        """Answer the next *times* matching requests with HTTP *status* (a 429 carries
        ``Retry-After`` when *retry_after* is given). *path* matches a substring of the URL
        path. With *processed* the request takes effect first (a trigger starts the sync),
        and then the error is returned."""
        self._injections.append(_Injection(
            "status", method, path, times, status=status,
            retry_after=None if retry_after is None else str(retry_after), body=body,
            processed=processed))

    def timeout_next(self, *, times: int = 1, method: str | None = None,
                     path: str | None = None, processed: bool = True) -> None:
        """Make the next *times* matching requests time out (in-process transport): after
        the request took effect (*processed*, a read timeout) or before (connect timeout)."""
        self._injections.append(_Injection("timeout", method, path, times,
                                           processed=processed))

    def malformed_next(self, *, times: int = 1, method: str | None = None,
                       path: str | None = None) -> None:
        """Answer the next *times* matching requests (after they took effect) with a 200
        whose body is not JSON."""
        self._injections.append(_Injection("malformed", method, path, times))

    def inject_sync_state(self, connector_id: str, value: str | None) -> None:
        """Report *value* as the connection's ``status.sync_state`` (``None``: the real one)."""
        self.state.connectors[connector_id].sync_state_override = value

    def _take(self, kind: str, method: str, path: str) -> _Injection | None:
        for rule in self._injections:
            if rule.kind == kind and (rule.method is None or rule.method == method) and (
                    rule.path is None or rule.path in path):
                rule.times -= 1
                if rule.times <= 0:
                    self._injections.remove(rule)
                return rule
        return None

    async def _injected(self, request: Request) -> Response | None:
        """The answer an injected failure gives *request*, if one matches."""
        method, path = request.method, request.url.path
        rule = self._take("status", method, path)
        if rule is not None:
            if rule.processed:
                await self._process(request)
            body = rule.body if rule.body is not None else {
                "code": "TooManyRequests" if rule.status == 429 else "InternalError",
                "message": "Rate limit exceeded" if rule.status == 429 else
                "Internal server error"}
            headers = {"Retry-After": rule.retry_after} if rule.retry_after else {}
            if isinstance(body, str | bytes):
                return Response(body, status_code=rule.status, headers=headers)
            return JSONResponse(body, status_code=rule.status, headers=headers)
        rule = self._take("malformed", method, path)
        if rule is not None:
            await self._process(request)
            return Response("<html><body>502 upstream hiccup</body></html>", status_code=200,
                            media_type="text/html")
        if self._take("timeout", method, path) is not None:  # a real server: hang
            await self._process(request)
            await anyio.sleep(3600)
        return None

    async def _process(self, request: Request) -> None:
        """Apply *request* (used when an injected failure follows its effect)."""
        for route in self.app.routes:
            match, scope = route.matches(request.scope)
            if match.name == "FULL":
                inner = Request({**request.scope, **scope}, request.receive)
                inner._body = await request.body()
                self._injections, saved = [], self._injections
                try:
                    await route.endpoint(inner)
                finally:
                    self._injections = saved + self._injections
                return

    # -- the account's behaviour -------------------------------------------------------------

    def _advance(self) -> None:
        for payload in self.state.advance():
            self._queue(payload)

    def _queue(self, payload: dict[str, Any]) -> None:
        now = self.clock.now()
        for hook in self.state.receivers(payload):
            self._pending.append(_Pending(hook=hook, payload=payload, due=now, first=now))
        if self._changed is not None:
            self._changed.set()

    def _trigger(self, c: Connector, force: bool) -> Response:
        status, body, events = self.state.trigger(c, force)
        for payload in events:
            self._queue(payload)
        if self._changed is not None:
            self._changed.set()
        if status == 200:
            return ok(message=body["message"])
        return error(status, body["code"], body["message"])

    # -- webhook delivery -----------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(transport=self.webhook_transport, timeout=10.0)
        return self._client

    async def _post(self, hook: WebhookConfig, payload: dict[str, Any], attempt: int) -> int:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if hook.secret:
            headers[SIGNATURE_HEADER] = sign(hook.secret, body)
        try:
            response = await self._http().post(hook.url, content=body, headers=headers)
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        self.deliveries.append(DeliveryRecord(
            webhook_id=hook.id, event=payload.get("event", ""),
            connector_id=payload.get("connector_id", ""), status=status, attempt=attempt,
            at=self.clock.now(), body=body))
        return status

    async def _test_delivery(self, hook: WebhookConfig, event: str) -> int:
        payload = {"event": event, "created": iso(self.clock.now()),
                   "connector_type": "test", "connector_id": "_connector_1",
                   "connector_name": "_connector_1", "sync_id": "_test_sync",
                   "destination_group_id": hook.group_id or "_group_1"}
        if event == "sync_end":
            payload["data"] = {"status": "SUCCESSFUL"}
        return await self._post(hook, payload, 1)

    async def deliver(self) -> int:
        """Deliver every webhook that is due now (retries included); return how many were
        attempted. :meth:`running` and :meth:`serve` do this by themselves."""
        self._advance()
        now = self.clock.now()
        due = [p for p in self._pending if p.due <= now]
        if not due:
            return 0
        self._pending = [p for p in self._pending if p.due > now]
        limiter = anyio.CapacityLimiter(DELIVERY_CONCURRENCY)

        async def one(p: _Pending) -> None:
            async with limiter:
                status = await self._post(p.hook, p.payload, p.attempt)
            if 200 <= status < 300:
                return
            first = p.first or now
            delay = RETRY_STEP * p.attempt * self.webhook_retry_scale
            if (now + timedelta(seconds=delay) - first).total_seconds() > \
                    RETRY_FOR * self.webhook_retry_scale:
                p.hook.active = False  # Fivetran disables a webhook that keeps failing
                return
            self._pending.append(_Pending(hook=p.hook, payload=p.payload, first=first,
                                          due=self.clock.now() + timedelta(seconds=delay),
                                          attempt=p.attempt + 1))

        async with anyio.create_task_group() as tg:
            for p in due:
                tg.start_soon(one, p)
        return len(due)

    def _next_wake(self) -> float | None:
        times = [p.due for p in self._pending]
        change = self.state.next_change()
        if change is not None:
            times.append(change)
        if not times:
            return None
        return max(0.0, (min(times) - self.clock.now()).total_seconds())

    async def pump(self) -> None:
        """Forever: apply the account's changes when they are due and deliver webhooks."""
        while True:
            self._changed = anyio.Event()
            await self.deliver()
            wake = self._next_wake()
            if wake == 0.0:
                continue
            changed = self._changed
            async with anyio.create_task_group() as tg:
                async def timer(seconds: float) -> None:
                    await self.clock.sleep(seconds)
                    tg.cancel_scope.cancel()

                async def woken(event: anyio.Event) -> None:
                    await event.wait()
                    tg.cancel_scope.cancel()

                if wake is not None:
                    tg.start_soon(timer, wake)
                tg.start_soon(woken, changed)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FivetranSimulator]:
        """Within this block the account lives on by itself: syncs end and webhooks are
        delivered on time (in-process use; :meth:`serve` does it for the real server)."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.pump)
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()
                if self._client is not None:
                    with anyio.CancelScope(shield=True):
                        await self._client.aclose()
                    self._client = None

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[None]:
        async with self.running():
            yield

    # -- a real server --------------------------------------------------------------------------

    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve the API over HTTP on *host*:*port* (0: a free port) from a background
        thread; yields the base URL (``http://127.0.0.1:PORT/v1``)."""
        import socket

        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on",
                                backlog=2048, timeout_keep_alive=30)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            while not server.started:
                if not thread.is_alive():
                    raise RuntimeError("the Fivetran simulator did not start")
                threading.Event().wait(0.01)
            yield f"http://{host}:{sock.getsockname()[1]}/v1"
        finally:
            server.should_exit = True
            thread.join(10)
            sock.close()
