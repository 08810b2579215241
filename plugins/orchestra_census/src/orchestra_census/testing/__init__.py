"""A stateful fake of the Census Management API v1, for tests, demos and benchmarks.

Free of pytest imports. Built on :class:`orchestra_core.testing._simulator.Simulator`, so it
works in-process (:attr:`~CensusSimulator.transport`) and as a real server
(``sim.serve()``, or ``orchestra simulate census``), with failure injection (``sim.fail``)::

    sim = CensusSimulator(clock=FakeClock())
    sim.add_sync(52, destination_object="Account", working_for=30)
    host = Orchestra(transports={"census": sim.transport})

What it serves, under ``/api/v1``: ``GET /syncs``, ``GET /syncs/{id}``,
``POST /syncs/{id}/trigger`` (``force_full_sync`` as query parameter or JSON body),
``GET /syncs/{id}/sync_runs`` (``page``, ``per_page``, ``order``), ``GET /sync_runs/{id}``,
``POST /sync_runs/{id}/cancel``, and ``POST|GET /webhooks``, ``GET|PATCH|DELETE
/webhooks/{id}``. Auth: ``Authorization: Bearer <token>`` or HTTP Basic with user
``bearer`` and the token as password; anything else gets 401 ``{"status": 401, "message":
"Invalid credentials"}``.

A run is ``queued`` for its sync's ``queued_for`` seconds, ``working`` for ``working_for``
seconds, then ends with the sync's ``outcome`` (``completed``, ``failed``, or any other
string to serve a status value the plugin does not know; ``working_status="preparing"``
does the same while it runs). A run triggered while another run of the sync is active ends
``skipped``. :meth:`CensusSimulator.script` changes the next run of a sync only.
Lifecycle webhooks (``sync.triggered``, ``sync.started``, ``sync.completed`` with ``status``
``ok``/``emergency``, ``sync.success``, ``sync.failed``) go to every webhook created through
the API or :meth:`CensusSimulator.add_census_webhook`, signed with ``X-Signature`` =
base64 HMAC-SHA256 of the body.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response

from orchestra_core.testing import (
    Simulator,
    WebhookTarget,
    basic_credentials,
    bearer_token,
    hmac_sha256,
)

from ._routes import API_PREFIX, WEBHOOK_EVENTS, census_routes, error
from ._state import SimRun, SimSync, Workspace, iso

__all__ = ("DEFAULT_SYNCS", "DEFAULT_TOKEN", "CensusSimulator", "SimRun", "SimSync")

#: The workspace API token the simulator accepts unless told otherwise.
DEFAULT_TOKEN = "secret-token:census-simulator"

#: Syncs a simulator made without ``syncs=`` starts with (``orchestra simulate census``):
#: id -> (label, destination object, outcome).
DEFAULT_SYNCS: dict[int, tuple[str, str, str]] = {
    52: ("accounts to Salesforce", "Account", "completed"),
    53: ("users to HubSpot", "contact", "completed"),
    54: ("leads to Marketo", "lead", "failed"),
}

#: Seconds a run stays queued at most (a tenth of the run duration when that is shorter).
QUEUED_FOR = 1.0
#: Tolerance when comparing the clock's float seconds with its microsecond datetimes.
_EPSILON = 1e-6


class CensusSimulator(Simulator):
    """The simulated Census workspace and its API (see the module documentation).

    :param clock: drives run progress (a ``FakeClock`` in tests; the real clock by default).
    :param run_duration: seconds a run of a default sync works (``working_for``).
    :param tokens: the workspace API tokens accepted.
    :param syncs: the sync ids to create with default settings; ``None`` creates
        :data:`DEFAULT_SYNCS`. Add more with :meth:`add_sync`.
    :param allow_http_webhooks: accept ``http://`` loopback webhook endpoints (Census
        itself requires HTTPS).
    """

    name: ClassVar[str] = "census"
    base_path: ClassVar[str] = API_PREFIX
    default_run_duration: ClassVar[float] = 5.0

    def __init__(self, *, clock: Any = None, run_duration: float | None = None,
                 tokens: Iterable[str] = (DEFAULT_TOKEN,), syncs: Iterable[int] | None = None,
                 allow_http_webhooks: bool = True, auto_create: bool = False) -> None:
        #: create a sync asked for by an unknown id (``orchestra run --simulate``)
        self.auto_create = auto_create
        self.workspace = Workspace()
        self.tokens = set(tokens)
        self.allow_http_webhooks = allow_http_webhooks
        self._next_webhook_id = 120
        super().__init__(clock=clock, run_duration=run_duration)
        if syncs is None:
            for sync_id, (label, obj, outcome) in DEFAULT_SYNCS.items():
                self.add_sync(sync_id, label, destination_object=obj, outcome=outcome)
        else:
            for sync_id in syncs:
                self.add_sync(sync_id)

    # -- Simulator hooks ------------------------------------------------------------------------

    def routes(self) -> list[Any]:
        """The Census API routes."""
        return census_routes(self)

    def authenticate(self, request: Request) -> bool:
        """A workspace token as ``Bearer``, or as the password of user ``bearer``."""
        token = bearer_token(request)
        if token is None:
            basic = basic_credentials(request)
            token = basic[1] if basic is not None and basic[0] == "bearer" else None
        return token is not None and token in self.tokens

    def unauthorized(self, request: Request) -> Response:
        """Census's 401."""
        return error(401, "Invalid credentials")

    def error_response(self, status: int, message: str) -> Response:
        """Census's error body: ``{"status": <code>, "message": ...}``."""
        return error(status, message)

    def rate_limited_response(self, retry_after: str | None) -> Response:
        """A 429 in Census's error shape (Census publishes no rate limit)."""
        response: Response = error(429, "Too many requests")
        if retry_after is not None:
            response.headers["Retry-After"] = retry_after
        return response

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        """``X-Signature``: base64 of HMAC-SHA256 of the raw body."""
        return {"X-Signature": hmac_sha256(secret, body, encoding="base64")}

    def credentials(self) -> dict[str, str]:
        """The token to use (``CENSUS_API_TOKEN``)."""
        return {"token": sorted(self.tokens)[0]} if self.tokens else {}

    def describe(self) -> dict[str, Any]:
        """The syncs, with their labels and outcomes."""
        return {"syncs": {sid: f"{s.label} -> {s.destination_object} ({s.outcome})"
                          for sid, s in sorted(self.workspace.syncs.items())}}

    # -- setting up ------------------------------------------------------------------------------

    def add_sync(self, sync_id: int, label: str | None = None, **options: Any) -> SimSync:
        """Create (or replace) sync *sync_id*; *options* are :class:`SimSync` fields, e.g.
        ``outcome="failed"``, ``working_for=30``, ``destination_object="Account"``."""
        options.setdefault("working_for", self.run_duration)
        options.setdefault("queued_for", min(QUEUED_FOR, self.run_duration / 10))
        with self.lock:
            return self.workspace.add_sync(sync_id, label, **options)

    def script(self, sync_id: int, **run: Any) -> None:
        """Make the next run of *sync_id* differ from the sync's defaults, once (``outcome``,
        ``queued_for``, ``working_for``, ``working_status``, ``records``, ...)."""
        with self.lock:
            self.workspace.script(sync_id, **run)

    # -- actions (the routes call these too) -----------------------------------------------------

    def trigger(self, sync_id: int, *, full_sync: bool = False, trigger: str = "API") -> SimRun:
        """Start a run of *sync_id*, as the trigger endpoint (or the schedule) would, and
        schedule its lifecycle webhooks."""
        with self.lock:
            run = self.workspace.trigger(self.workspace.syncs[sync_id],
                                         now=self.clock.monotonic(), clock_now=self.now(),
                                         full_sync=full_sync, trigger=trigger)
        self._emit_lifecycle(run, run.queued_for, ("sync.started",))
        self._emit_lifecycle(run, 0.0, ("sync.triggered",))
        self._emit_lifecycle(run, run.ended_after(), ("sync.completed", "sync.success",
                                                      "sync.failed"))
        return run

    def cancel(self, run_id: int) -> None:
        """Cancel run *run_id* (no effect on a finished run)."""
        with self.lock:
            run = self.workspace.runs[run_id]
            now = self.clock.monotonic()
            if run.canceled_at is not None or run.phase(now) not in ("queued", "working"):
                return
            run.canceled_at = now
        self._emit_lifecycle(run, 0.0, ("sync.completed", "sync.failed"))

    def _emit_lifecycle(self, run: SimRun, delay: float, kinds: Iterable[str]) -> None:
        for kind in kinds:
            self.emit(kind, lambda kind=kind: self._payload(run, kind), delay=delay)

    def _payload(self, run: SimRun, kind: str) -> dict[str, Any] | None:
        with self.lock:
            return self.workspace.payload(run, kind, self.clock.monotonic() + _EPSILON)

    def run_json(self, run: SimRun) -> dict[str, Any]:
        """Run *run* as ``GET /sync_runs/{id}`` shows it now."""
        with self.lock:
            return run.to_json(self.clock.monotonic() + _EPSILON, self.now(),
                               self.workspace.cancelled_status)

    def run(self, run_id: int) -> dict[str, Any]:
        """Run *run_id* as the API shows it now."""
        return self.run_json(self.workspace.runs[run_id])

    # -- webhooks --------------------------------------------------------------------------------

    def create_webhook(self, name: str, endpoint: str, events: Iterable[str],
                       description: str | None = None, *, secret: str | None = None,
                       transport: Any = None) -> WebhookTarget:
        """Register a Census webhook (as ``POST /api/v1/webhooks`` does); its ``secret`` is
        generated unless given. *transport* delivers in-process (e.g. to an ASGI app)."""
        import secrets as _secrets

        with self.lock:
            self._next_webhook_id += 1
            census_id = self._next_webhook_id
        return self.add_webhook(
            endpoint, secret or _secrets.token_hex(24), events=tuple(events),
            transport=transport,
            data={"census_id": census_id, "name": name, "description": description,
                  "created_at": iso(self.now())})

    def add_census_webhook(self, endpoint: str, *, secret: str | None = None,
                           events: Iterable[str] = WEBHOOK_EVENTS, transport: Any = None,
                           name: str = "orchestra") -> WebhookTarget:
        """:meth:`create_webhook` for tests: every lifecycle event by default."""
        return self.create_webhook(name, endpoint, events, secret=secret, transport=transport)

    def census_webhooks(self) -> list[WebhookTarget]:
        """The webhooks created through the Census API (or :meth:`create_webhook`)."""
        return [t for t in self.webhook_targets if "census_id" in t.data]

    @staticmethod
    def webhook_json(target: WebhookTarget, with_secret: bool = False) -> dict[str, Any]:
        """A webhook as the API shows it (its secret only at creation)."""
        data: dict[str, Any] = {
            "id": target.data["census_id"], "name": target.data.get("name"),
            "endpoint": target.url, "description": target.data.get("description"),
            "events": list(target.events or WEBHOOK_EVENTS),
            "created_at": target.data.get("created_at"),
        }
        if with_secret:
            data["secret"] = target.secret
        return data

