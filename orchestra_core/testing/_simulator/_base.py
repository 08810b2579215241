"""The :class:`Simulator` base class: subclass hooks, failure injection, the request log and
the vendor API app; webhooks and the real server come from its mixins."""

from __future__ import annotations

import fnmatch
import itertools
import json
import threading
from collections import Counter, deque
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..._clock import SystemClock
from ._failures import Failure, Injection
from ._outbox import WebhookOutbox, _Pending
from ._records import DeliveryRecord, RecordedRequest, WebhookTarget
from ._server import RealServer
from ._transport import SimulatorTransport

__all__ = ("Simulator",)

class Simulator(WebhookOutbox, RealServer):
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

