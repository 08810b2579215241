"""A kit for vendor simulators: stateful fakes of a vendor's REST API, as Starlette apps.

A plugin's simulator subclasses :class:`Simulator`, keeps the vendor's objects in plain
attributes, serves the vendor's real paths and JSON shapes from :meth:`Simulator.routes`, and
computes every status from ``self.clock.now()`` at request time (a run triggered at ``t0``
with a 10 s duration is "running" until ``t0 + 10 s``, then "succeeded"), so no background
task is needed and a :class:`~orchestra_core.testing.FakeClock` drives it in tests::

    class AcmeSimulator(Simulator):
        name = "acme"
        base_path = "/api"

        def __init__(self, *, token="acme-test-token", **kwargs):
            super().__init__(**kwargs)
            self.token = token
            self.runs = {}

        def routes(self):
            return [Route("/api/jobs/{job}/runs", self.trigger, methods=["POST"]), ...]

        def authenticate(self, request):
            return bearer_token(request) == self.token

        def credentials(self):
            return {"token": self.token}

        def sign(self, body, secret):
            return {"X-Acme-Signature": hmac_sha256(secret, body)}

        async def trigger(self, request):
            run = {"id": len(self.runs) + 1, "created": self.now()}
            self.runs[run["id"]] = run
            self.emit("run.finished", lambda: {"id": run["id"], "state": "succeeded"},
                      delay=self.run_duration)
            return JSONResponse(run)

Using a simulator:

- **In-process**: ``sim.transport`` is an httpx async transport that calls the app directly;
  give it to the client (``Orchestra(transports={"acme": sim.transport})`` or
  ``VendorClient(..., transport=sim.transport)``). ``sim.base_url`` is a URL to go with it.
- **Real server**: ``with sim.serve() as url:`` runs uvicorn on 127.0.0.1 (a free port) in a
  thread, delivering due webhooks in the background; use a ``SystemClock`` there.
- **Failure injection**: ``sim.fail(method, path_pattern, failure, times=1)`` with a
  :class:`Failure`: ``Failure.status(503)``, ``Failure.rate_limited(retry_after=7)``,
  ``Failure.timeout(processed=False)``, ``Failure.malformed_json()``,
  ``Failure.drop_after_processing()``, ``Failure.connect_error()``,
  ``Failure.rewrite_json(fn)`` (e.g. an unknown status value). *path_pattern* is a glob
  (``fnmatch``: ``*`` also matches ``/``) on the full URL path; *method* may be ``"*"``.
- **Webhooks**: ``sim.add_webhook(url, secret)`` registers a receiver (loopback URLs only,
  unless it has its own ``transport=``, e.g. ``httpx.ASGITransport(orchestra_app)``).
  Subclasses call ``self.emit(kind, payload, delay=...)`` when a run is created; payloads may
  be callables evaluated at delivery time (return ``None`` to skip). ``await sim.deliver_due()``
  sends what is due at ``clock.now()``, signed by :meth:`Simulator.sign`; failed deliveries
  are retried after ``webhook_retry_delays``. Every attempt is in ``sim.deliveries``.
- **What happened**: ``sim.requests`` (the last 10,000 :class:`RecordedRequest`) and
  ``sim.count(method, pattern)`` (all requests ever).

Subclass hooks (all optional): :meth:`Simulator.routes`, :meth:`Simulator.authenticate`,
:meth:`Simulator.unauthorized`, :meth:`Simulator.error_response`,
:meth:`Simulator.rate_limited_response`, :meth:`Simulator.sign`,
:meth:`Simulator.credentials`, :meth:`Simulator.describe`, :meth:`Simulator.encode_webhook`,
class attributes ``name``, ``base_path``, ``public_paths``, ``default_run_duration``,
``webhook_retry_delays``, ``hang_seconds``. ``orchestra simulate NAME`` builds the simulator
with ``cls(run_duration=...)`` (keyword arguments only), so keep every constructor argument
optional.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fnmatch
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import anyio
import httpx
from attrs import define, field, frozen
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .._clock import SystemClock

__all__ = (
    "DeliveryRecord",
    "Failure",
    "Injection",
    "RecordedRequest",
    "Simulator",
    "SimulatorTransport",
    "WebhookTarget",
    "basic_credentials",
    "bearer_token",
    "hmac_sha256",
    "is_loopback",
)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_loopback(host: str | None) -> bool:
    """Whether *host* (a name or address) is this machine."""
    return bool(host) and (host in LOOPBACK_HOSTS or host.startswith("127."))


def hmac_sha256(secret: str | bytes, body: bytes, *, encoding: str = "hex") -> str:
    """HMAC-SHA256 of *body* keyed with *secret*: ``"hex"`` (lower case), ``"HEX"`` (upper
    case) or ``"base64"``. The signature recipes of vendors' webhooks are built on this."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, body, hashlib.sha256)
    if encoding == "hex":
        return digest.hexdigest()
    if encoding == "HEX":
        return digest.hexdigest().upper()
    if encoding == "base64":
        return base64.b64encode(digest.digest()).decode("ascii")
    raise ValueError(f"unknown encoding {encoding!r}: use 'hex', 'HEX' or 'base64'")


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """The ``(user, password)`` of a request's HTTP Basic ``Authorization``, or ``None``."""
    value = request.headers.get("authorization", "")
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def bearer_token(request: Request, schemes: tuple[str, ...] = ("bearer",)) -> str | None:
    """The token of ``Authorization: <scheme> <token>`` for one of *schemes* (compared
    case-insensitively; ``("token", "bearer")`` for dbt Cloud), or ``None``."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() in {s.lower() for s in schemes} and token.strip():
        return token.strip()
    return None


@frozen(kw_only=True)
class Failure:
    """One injected failure; build it with the class methods.

    :ivar kind: ``status``, ``rate_limited``, ``timeout``, ``malformed``, ``drop``,
        ``connect`` or ``rewrite``.
    :ivar processed: whether the simulator handles the request (changing its state) before
        the failure shows: the ambiguous case a client must not blindly retry.
    """

    kind: str
    code: int = 0
    body: Any = None
    headers: Mapping[str, str] = field(factory=dict)
    processed: bool = False
    retry_after: str | None = None
    rewrite: Callable[[Any], Any] | None = None

    @classmethod
    def status(cls, code: int, *, body: Any = None,
               headers: Mapping[str, str] | None = None) -> Failure:
        """Answer *code* without handling the request; *body* defaults to the simulator's
        :meth:`Simulator.error_response`."""
        return cls(kind="status", code=code, body=body, headers=dict(headers or {}))

    @classmethod
    def rate_limited(cls, retry_after: float | str | None = None, *, body: Any = None) -> Failure:
        """Answer 429, with ``Retry-After: retry_after`` (seconds or an HTTP date) if given."""
        after = None if retry_after is None else (
            retry_after if isinstance(retry_after, str) else f"{retry_after:g}")
        return cls(kind="rate_limited", code=429, body=body, retry_after=after)

    @classmethod
    def timeout(cls, *, processed: bool = False) -> Failure:
        """Never answer: in-process the client gets :class:`httpx.ReadTimeout` at once (no
        real waiting); the real server holds the request until the client gives up (at most
        ``hang_seconds``). With *processed* the request is handled first."""
        return cls(kind="timeout", processed=processed)

    @classmethod
    def malformed_json(cls) -> Failure:
        """Handle the request, then answer with its body cut in half (invalid JSON)."""
        return cls(kind="malformed", processed=True)

    @classmethod
    def drop_after_processing(cls) -> Failure:
        """Handle the request, then drop the connection before the answer is complete
        (in-process: :class:`httpx.RemoteProtocolError`)."""
        return cls(kind="drop", processed=True)

    @classmethod
    def connect_error(cls) -> Failure:
        """Refuse the connection before anything is sent (in-process:
        :class:`httpx.ConnectError`; the real server cannot refuse one request, so it drops
        the connection without an answer)."""
        return cls(kind="connect")

    @classmethod
    def rewrite_json(cls, fn: Callable[[Any], Any]) -> Failure:
        """Handle the request, then answer ``fn(decoded_body)`` instead of its JSON body (e.g.
        an unknown status value: ``lambda b: {**b, "status": "exploded"}``)."""
        return cls(kind="rewrite", processed=True, rewrite=fn)


@define
class Injection:
    """A :class:`Failure` waiting for matching requests (:meth:`Simulator.fail`).

    :ivar remaining: how many more matching requests fail (``None``: all of them).
    :ivar hits: how many requests it failed so far.
    """

    method: str
    pattern: str
    failure: Failure
    remaining: int | None = 1
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether a request of *method* to *path* fails with this injection."""
        return (self.method in ("*", method.upper())
                and fnmatch.fnmatchcase(path, self.pattern)
                and (self.remaining is None or self.remaining > 0))


@frozen(kw_only=True)
class RecordedRequest:
    """A request the simulator received (``headers`` lower-cased)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    at: datetime

    def json(self) -> Any:
        """The body decoded as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body.strip() else None


@define(kw_only=True)
class WebhookTarget:
    """A registered webhook receiver (:meth:`Simulator.add_webhook`).

    :ivar events: the event kinds it receives (``None``: all).
    :ivar transport: an httpx async transport to deliver through (in-process receivers).
    :ivar headers: extra headers sent with every delivery (Hightouch-style static tokens).
    :ivar data: anything the subclass keeps about it (vendor ids, group, ...).
    """

    id: str
    url: str
    secret: str | None = field(default=None, repr=False)
    events: tuple[str, ...] | None = None
    transport: httpx.AsyncBaseTransport | None = None
    headers: dict[str, str] = field(factory=dict, repr=False)
    active: bool = True
    data: dict[str, Any] = field(factory=dict)

    def wants(self, kind: str) -> bool:
        """Whether the target receives events of *kind*."""
        return self.active and (self.events is None or kind in self.events)


@frozen(kw_only=True)
class DeliveryRecord:
    """One attempt to deliver a webhook: ``status`` is ``None`` when no answer came."""

    target: str
    url: str
    kind: str
    body: bytes
    headers: Mapping[str, str]
    attempt: int
    at: datetime
    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300

    def json(self) -> Any:
        """The payload sent."""
        return json.loads(self.body)


@define
class _Pending:
    due: datetime
    seq: int
    kind: str
    payload: Any
    target: str | None
    attempt: int
    body: bytes | None = None

    def __lt__(self, other: _Pending) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)


class _Dropped(Exception):
    """Raised inside the real server to make uvicorn close the connection."""


def _quiet_drops(record: logging.LogRecord) -> bool:
    """Keep uvicorn from logging the tracebacks of injected connection drops."""
    return not (record.exc_info and isinstance(record.exc_info[1], _Dropped))


class SimulatorTransport(httpx.AsyncBaseTransport):
    """Sends requests straight into a simulator's app (no network), applying its failure
    injections; ``Simulator.transport`` returns one."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self._inner = httpx.ASGITransport(app=simulator._core_app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Record *request*, apply any injected failure, else answer from the app."""
        sim = self.simulator
        body = await request.aread()
        path = request.url.path
        sim._record(request.method, path, request.url.query.decode("ascii", "replace"),
                    request.headers, body)
        failure = sim._take(request.method, path)
        if failure is None:
            return await self._inner.handle_async_request(request)
        if failure.kind == "connect":
            raise httpx.ConnectError("simulated: connection refused", request=request)
        if failure.kind in ("status", "rate_limited"):
            return _to_httpx(sim._failure_response(failure))
        if failure.kind == "timeout" and not failure.processed:
            raise httpx.ReadTimeout("simulated: no answer", request=request)
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        if failure.kind == "timeout":
            raise httpx.ReadTimeout("simulated: no answer (the request was handled)",
                                    request=request)
        if failure.kind == "drop":
            raise httpx.RemoteProtocolError(
                "simulated: server disconnected without sending a complete response",
                request=request)
        content = _alter(failure, content)
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=headers, content=content)


def _to_httpx(response: Response) -> httpx.Response:
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers]
    return httpx.Response(response.status_code, headers=headers, content=response.body)


def _alter(failure: Failure, content: bytes) -> bytes:
    """The body a ``malformed`` or ``rewrite`` failure answers instead of *content*."""
    if failure.kind == "malformed":
        return content[: max(1, len(content) // 2)] if len(content) > 1 else b"{"
    if failure.kind == "rewrite" and failure.rewrite is not None:
        return json.dumps(failure.rewrite(json.loads(content) if content.strip() else None)
                          ).encode()
    return content


class Simulator:
    """Base class of vendor simulators; see the module documentation.

    :param clock: drives every status progression (``SystemClock`` by default; a
        :class:`~orchestra_core.testing.FakeClock` in tests).
    :param run_duration: how long a vendor run takes, in seconds of *clock* (default
        ``default_run_duration``); subclasses use ``self.run_duration``.
    """

    #: the integration name (``orchestra simulate NAME``)
    name: ClassVar[str] = "simulator"
    #: the path prefix of the vendor's API (``"/v1"``); ``base_url`` and ``serve()`` end in it
    base_path: ClassVar[str] = ""
    #: paths (globs) answered without authentication
    public_paths: ClassVar[tuple[str, ...]] = ()
    #: default of ``run_duration``
    default_run_duration: ClassVar[float] = 10.0
    #: seconds before each retry of a failed webhook delivery (then it is given up)
    webhook_retry_delays: ClassVar[tuple[float, ...]] = (60.0, 300.0, 900.0)
    #: longest the real server holds a ``Failure.timeout()`` request
    hang_seconds: ClassVar[float] = 120.0
    #: requests kept in ``requests``
    max_recorded: ClassVar[int] = 10_000

    def __init__(self, *, clock: Any = None, run_duration: float | None = None) -> None:
        self.clock = clock if clock is not None else SystemClock()
        self.run_duration = (self.default_run_duration if run_duration is None
                             else float(run_duration))
        self.lock = threading.RLock()
        self.requests: deque[RecordedRequest] = deque(maxlen=self.max_recorded)
        self.request_counts: Counter[tuple[str, str]] = Counter()
        self.injections: list[Injection] = []
        self.webhook_targets: list[WebhookTarget] = []
        self.deliveries: list[DeliveryRecord] = []
        self._outbox: list[_Pending] = []
        self._seq = itertools.count(1)
        self._router = Starlette(routes=list(self.routes()))
        self._transport: SimulatorTransport | None = None
        #: the URL of the running real server (``serve``), else ``None``
        self.served_url: str | None = None

    # -- subclass hooks --------------------------------------------------------------------------

    def routes(self) -> list[Any]:
        """The Starlette routes of the vendor API (full paths, including ``base_path``)."""
        return []

    def authenticate(self, request: Request) -> bool:
        """Whether *request* carries valid credentials (headers only; default: always)."""
        return True

    def unauthorized(self, request: Request) -> Response:
        """The vendor's answer to bad credentials (default: 401 ``{"message": ...}``)."""
        return JSONResponse({"message": "Unauthorized"}, status_code=401)

    def error_response(self, status: int, message: str) -> Response:
        """The vendor's error body for *status* (used by ``Failure.status``)."""
        return JSONResponse({"message": message}, status_code=status)

    def rate_limited_response(self, retry_after: str | None) -> Response:
        """The vendor's 429 (``Retry-After`` header added when *retry_after* is given)."""
        response = self.error_response(429, "Too Many Requests")
        if retry_after is not None:
            response.headers["Retry-After"] = retry_after
        return response

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        """Headers that sign a webhook *body* with *secret*, exactly as the vendor does
        (default: none, an unsigned vendor)."""
        return {}

    def credentials(self) -> dict[str, str]:
        """The credentials clients must use (printed by ``orchestra simulate``)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """What the simulator holds (ids of seeded objects), printed by ``orchestra simulate``."""
        return {}

    def encode_webhook(self, payload: Any) -> bytes:
        """The raw body of a webhook with *payload* (default: compact JSON)."""
        return json.dumps(payload, separators=(",", ":")).encode()

    # -- conveniences for subclasses -------------------------------------------------------------

    def now(self) -> datetime:
        """The clock's current UTC time."""
        return self.clock.now()

    def elapsed(self, since: datetime) -> float:
        """Seconds of the clock since *since*."""
        return (self.clock.now() - since).total_seconds()

    # -- in-process use --------------------------------------------------------------------------

    @property
    def transport(self) -> SimulatorTransport:
        """An httpx async transport into this simulator (one per simulator)."""
        if self._transport is None:
            self._transport = SimulatorTransport(self)
        return self._transport

    @property
    def base_url(self) -> str:
        """The served URL while :meth:`serve` runs, else ``http://NAME.simulator`` plus
        ``base_path`` (for use with :attr:`transport`)."""
        return self.served_url or f"http://{self.name}.simulator{self.base_path}"

    # -- failure injection -------------------------------------------------------------------

    def fail(self, method: str, path_pattern: str, failure: Failure, *,
             times: int | None = 1) -> Injection:
        """Make the next *times* requests matching *method* and *path_pattern* fail with
        *failure* (``times=None``: every one until :meth:`clear_failures`). Injections are
        tried in the order they were added."""
        injection = Injection(method.upper(), path_pattern, failure, times)
        with self.lock:
            self.injections.append(injection)
        return injection

    def clear_failures(self) -> None:
        """Forget every injection."""
        with self.lock:
            self.injections.clear()

    def _take(self, method: str, path: str) -> Failure | None:
        with self.lock:
            for injection in self.injections:
                if injection.matches(method, path):
                    injection.hits += 1
                    if injection.remaining is not None:
                        injection.remaining -= 1
                    return injection.failure
        return None

    def _failure_response(self, failure: Failure) -> Response:
        if failure.kind == "rate_limited":
            if failure.body is not None:
                response: Response = JSONResponse(failure.body, status_code=429)
                if failure.retry_after is not None:
                    response.headers["Retry-After"] = failure.retry_after
                return response
            return self.rate_limited_response(failure.retry_after)
        if failure.body is None:
            response = self.error_response(failure.code, f"simulated HTTP {failure.code}")
        elif isinstance(failure.body, bytes | str):
            response = Response(failure.body, status_code=failure.code)
        else:
            response = JSONResponse(failure.body, status_code=failure.code)
        for key, value in failure.headers.items():
            response.headers[key] = value
        return response

    # -- what happened -------------------------------------------------------------------------

    def _record(self, method: str, path: str, query: str, headers: Any, body: bytes) -> None:
        record = RecordedRequest(
            method=method.upper(), path=path, query=dict(parse_qsl(query)),
            headers={k.lower(): v for k, v in headers.items()}, body=body, at=self.clock.now())
        with self.lock:
            self.requests.append(record)
            self.request_counts[(record.method, path)] += 1

    def count(self, method: str = "*", pattern: str = "*") -> int:
        """How many requests of *method* (``"*"``: any) to paths matching glob *pattern*
        the simulator received since it was made."""
        method = method.upper()
        with self.lock:
            return sum(n for (m, p), n in self.request_counts.items()
                       if method in ("*", m) and fnmatch.fnmatchcase(p, pattern))

    # -- the ASGI apps -------------------------------------------------------------------------

    def _public(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, p) for p in self.public_paths)

    async def _core_app(self, scope: Any, receive: Any, send: Any) -> None:
        """The vendor API: authentication, then the routes."""
        if scope["type"] == "http" and not self._public(scope["path"]):
            request = Request(scope, receive)
            if not self.authenticate(request):
                await self.unauthorized(request)(scope, receive, send)
                return
        await self._router(scope, receive, send)

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI app the real server runs: records requests and applies injections."""
        if scope["type"] != "http":
            await self._router(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self._record(scope["method"], scope["path"], scope.get("query_string", b"").decode(
            "latin-1"), headers, body)
        failure = self._take(scope["method"], scope["path"])
        if failure is None:
            await self._core_app(scope, replay, send)
            return
        if failure.kind in ("status", "rate_limited"):
            await self._failure_response(failure)(scope, replay, send)
            return
        start: dict[str, Any] = {}
        parts: list[bytes] = []
        if failure.processed:
            async def capture(message: Any) -> None:
                if message["type"] == "http.response.start":
                    start.update(message)
                elif message["type"] == "http.response.body":
                    parts.append(message.get("body", b""))

            await self._core_app(scope, replay, capture)
        if failure.kind == "timeout":
            with anyio.move_on_after(self.hang_seconds):
                while (await receive())["type"] != "http.disconnect":
                    pass
            return
        content = b"".join(parts)
        if failure.kind in ("drop", "connect"):
            headers_out = [(k, v) for k, v in start.get("headers", [])
                           if k.lower() != b"content-length"]
            await send({"type": "http.response.start", "status": start.get("status", 200),
                        "headers": [*headers_out, (b"content-length",
                                                   str(len(content) + 100).encode())]})
            await send({"type": "http.response.body", "body": content[: len(content) // 2],
                        "more_body": True})
            raise _Dropped("simulated connection drop")
        content = _alter(failure, content)
        headers_out = [(k, v) for k, v in start.get("headers", [])
                       if k.lower() != b"content-length"]
        await send({"type": "http.response.start", "status": start.get("status", 200),
                    "headers": [*headers_out, (b"content-length", str(len(content)).encode())]})
        await send({"type": "http.response.body", "body": content})

    # -- webhooks ------------------------------------------------------------------------------

    def add_webhook(self, url: str, secret: str | None = None, *,
                    events: tuple[str, ...] | list[str] | None = None,
                    transport: httpx.AsyncBaseTransport | None = None,
                    headers: Mapping[str, str] | None = None,
                    data: Mapping[str, Any] | None = None) -> WebhookTarget:
        """Register a webhook receiver; deliveries are signed with *secret* (see
        :meth:`sign`). Without *transport* the URL must be on 127.0.0.1/localhost."""
        if transport is None and not is_loopback(urlsplit(url).hostname):
            raise ValueError(f"the simulator only delivers webhooks to this machine (127.0.0.1 "
                             f"or localhost), not to {url!r}")
        with self.lock:
            target = WebhookTarget(
                id=f"wh_{next(self._seq)}", url=url, secret=secret,
                events=tuple(events) if events is not None else None, transport=transport,
                headers=dict(headers or {}), data=dict(data or {}))
            self.webhook_targets.append(target)
        return target

    def remove_webhook(self, target: WebhookTarget | str) -> None:
        """Unregister a receiver (by object or id); its pending deliveries are dropped."""
        target_id = target if isinstance(target, str) else target.id
        with self.lock:
            self.webhook_targets = [t for t in self.webhook_targets if t.id != target_id]

    def emit(self, kind: str, payload: Any, *, delay: float = 0.0,
             at: datetime | None = None, target: str | None = None) -> None:
        """Schedule a webhook event of *kind* for every receiver that wants it (or only for
        the receiver whose id is *target*), due at *at* (default: ``now + delay``). *payload*
        is a JSON-ready value, or a callable returning one (or ``None`` to send nothing)
        evaluated when the event is due, so it can reflect what happened meanwhile (a
        cancel)."""
        due = at if at is not None else self.clock.now() + timedelta(seconds=delay)
        with self.lock:
            heapq.heappush(self._outbox, _Pending(due, next(self._seq), kind, payload, target,
                                                  1))

    @property
    def pending_webhooks(self) -> int:
        """Deliveries scheduled and not yet made (including retries)."""
        return len(self._outbox)

    @property
    def next_webhook_due(self) -> datetime | None:
        """When the earliest pending delivery is due."""
        with self.lock:
            return self._outbox[0].due if self._outbox else None

    async def deliver_due(self) -> list[DeliveryRecord]:
        """Send every webhook due at ``clock.now()``, in order; return the attempts made.
        Failed attempts (non-2xx or no answer) are scheduled again after
        ``webhook_retry_delays``."""
        now = self.clock.now()
        due: list[_Pending] = []
        with self.lock:
            while self._outbox and self._outbox[0].due <= now:
                due.append(heapq.heappop(self._outbox))
        made: list[DeliveryRecord] = []
        for item in due:
            if item.body is None:
                payload = item.payload() if callable(item.payload) else item.payload
                if payload is None:
                    continue
                item.body = self.encode_webhook(payload)
            if item.target is None:
                targets = [t for t in self.webhook_targets if t.wants(item.kind)]
            else:
                targets = [t for t in self.webhook_targets if t.id == item.target and t.active]
            for target in targets:
                record = await self._post(target, item.kind, item.body, item.attempt)
                made.append(record)
                if not record.ok and item.attempt <= len(self.webhook_retry_delays):
                    retry_at = self.clock.now() + timedelta(
                        seconds=self.webhook_retry_delays[item.attempt - 1])
                    with self.lock:
                        heapq.heappush(self._outbox, _Pending(
                            retry_at, next(self._seq), item.kind, None, target.id,
                            item.attempt + 1, item.body))
        return made

    async def send_webhook(self, target: WebhookTarget, payload: Any, *,
                           kind: str = "test") -> DeliveryRecord:
        """Deliver *payload* to *target* now, signed (no retry): e.g. the test POST some
        vendors make when a webhook is created."""
        return await self._post(target, kind, self.encode_webhook(payload), 1)

    async def _post(self, target: WebhookTarget, kind: str, body: bytes,
                    attempt: int) -> DeliveryRecord:
        headers = {"content-type": "application/json", **target.headers}
        if target.secret:
            headers.update(self.sign(body, target.secret))
        status: int | None = None
        error: str | None = None
        try:
            async with httpx.AsyncClient(transport=target.transport, timeout=10.0) as client:
                response = await client.post(target.url, content=body, headers=headers)
                status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        record = DeliveryRecord(target=target.id, url=target.url, kind=kind, body=body,
                                headers=headers, attempt=attempt, at=self.clock.now(),
                                status=status, error=error)
        with self.lock:
            self.deliveries.append(record)
        return record

    # -- the real server -------------------------------------------------------------------------

    @contextlib.contextmanager
    def serve(self, port: int = 0, host: str = "127.0.0.1", *,
              webhook_interval: float = 0.05) -> Iterator[str]:
        """Run the simulator as a real HTTP server (uvicorn, in a thread) on *host*:*port*
        (0: a free port), delivering due webhooks every *webhook_interval* seconds. Yields
        the base URL (``http://127.0.0.1:PORT`` + ``base_path``)."""
        import uvicorn

        if not is_loopback(host):
            raise ValueError(f"a simulator only listens on this machine, not on {host!r}")
        config = uvicorn.Config(self.app, host=host, port=port, log_level="error",
                                lifespan="off", access_log=False, interface="asgi3",
                                timeout_graceful_shutdown=1)
        logging.getLogger("uvicorn.error").addFilter(_quiet_drops)
        server = uvicorn.Server(config)
        failed: list[BaseException] = []

        async def main() -> None:
            serving = asyncio.ensure_future(server.serve())
            while not server.should_exit and not serving.done():
                if server.started:
                    try:
                        await self.deliver_due()
                    except Exception as exc:  # keep serving; the error is in deliveries
                        failed.append(exc)
                await asyncio.sleep(webhook_interval)
            await serving

        def run() -> None:
            try:
                asyncio.run(main())
            except BaseException as exc:
                failed.append(exc)

        thread = threading.Thread(target=run, name=f"simulator-{self.name}", daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the {self.name} simulator could not start on {host}:{port}"
                                   + (f": {failed[0]}" if failed else ""))
            thread.join(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        self.served_url = f"http://{host}:{bound}{self.base_path}"
        try:
            yield self.served_url
        finally:
            server.should_exit = True
            thread.join(10)
            self.served_url = None
