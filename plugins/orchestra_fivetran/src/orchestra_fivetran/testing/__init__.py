"""A stateful fake of the Fivetran REST API v1, for tests, demos and benchmarks.

Free of pytest imports. Built on :class:`orchestra_core.testing._simulator.Simulator`: in-process
through :attr:`FivetranSimulator.transport`, or a real HTTP server on 127.0.0.1
(``with sim.serve() as url``, ``orchestra simulate fivetran``,
``python -m orchestra_fivetran.testing``), with failure injection (``sim.fail(...)``)::

    clock = FakeClock()
    sim = FivetranSimulator(clock=clock, run_duration=120)
    sim.add_connector("ambush_prettiest", outcomes=["failure", "success"])
    host = Orchestra(transports={"fivetran": sim.transport})
    connection = sim.connection()        # a Connection with the simulator's key and secret

What it serves under ``/v1`` (and the older ``/v1/connectors/...`` paths):
``GET|PATCH /connections/{id}``, ``POST /connections/{id}/sync`` (``{"force": bool}``),
``POST /connections/{id}/force``, ``GET /connections/{id}/schemas``, ``POST
/webhooks/account``, ``POST /webhooks/group/{group_id}``, ``GET /webhooks``, ``GET|PATCH|DELETE
/webhooks/{id}``, ``POST /webhooks/{id}/test``; plus ``GET /_simulator/connections`` (no auth:
every connection's ``triggers`` and ``syncs`` counters).

A connection's syncs take ``run_duration`` seconds of the clock (or its own ``duration``) and
end as scripted (``outcomes``: success, failure, failure with a task, rescheduled);
``paused`` and ``schedule_type`` behave as in Fivetran (a rescheduled sync resumes by itself
at ``rescheduled_for`` on an ``auto`` schedule, never on ``manual``). A trigger of a syncing
connection restarts it with ``force``, else is a 200 that starts nothing (409 with
``conflict_when_syncing``); a paused connection answers 409. Webhooks created through the API
get ``sync_start`` / ``sync_end`` deliveries (account webhooks for every group, group webhooks
for their group; a delivery's ``kind`` reads ``sync_end/<group id>``) signed with
``X-Fivetran-Signature-256`` (upper-case hex HMAC-SHA256 of the body), a test POST on
creation (a failing endpoint makes the creation fail with 400), and retries after 5, 10,
15, ... minutes for 24 hours (``webhook_retry_scale`` compresses them), after which the webhook
is deactivated.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import anyio
import httpx
from attrs import define
from starlette.requests import Request
from starlette.responses import Response

from orchestra_core import Connection
from orchestra_core.testing import (
    DeliveryRecord,
    Simulator,
    WebhookTarget,
    basic_credentials,
    hmac_sha256,
    is_loopback,
)

from ._routes import error, fivetran_routes, ok
from ._state import Connector, FivetranState, Outcome, iso

__all__ = (
    "DEFAULT_KEY",
    "DEFAULT_SECRET",
    "Connector",
    "FivetranSimulator",
    "FivetranWebhook",
    "Outcome",
)

#: The API key and secret the simulator accepts unless told otherwise.
DEFAULT_KEY = "simulator-key"
DEFAULT_SECRET = "simulator-secret-0123456789"
#: Fivetran retries a failed delivery after 5, 10, 15, ... minutes, for 24 hours.
FIVETRAN_RETRY_DELAYS = tuple(300.0 * k for k in range(1, 24))


@define(kw_only=True)
class FivetranWebhook(WebhookTarget):
    """A webhook created through the API: account-wide (``group_id`` ``None``) or for one
    group (destination)."""

    group_id: str | None = None
    created_at: datetime | None = None

    def wants(self, kind: str) -> bool:
        """Whether it receives *kind* (``"<event>/<group id>"``)."""
        event, _, group = kind.partition("/")
        return (self.active and (self.events is None or event in self.events)
                and (self.group_id is None or self.group_id == group))


class FivetranSimulator(Simulator):
    """The simulated Fivetran account and its API (see the module documentation).

    :param clock: drives syncs and webhook retries (``FakeClock`` in tests; real by default).
    :param run_duration: default seconds a sync takes.
    :param credentials: accepted ``(api_key, api_secret)`` pairs (401 for others).
    :param connectors: connection ids to create with default settings; ``None`` creates
        ``ambush_prettiest`` and ``speak_inexpensive`` (what ``orchestra simulate`` serves).
    :param conflict_when_syncing: answer 409 to a non-forced trigger of a syncing connection.
    :param auto_create: create unknown connections on first use (benchmarks) instead of 404.
    :param allow_http_webhooks: accept ``http://`` webhook URLs on loopback, or any URL when
        *webhook_transport* is given (Fivetran requires HTTPS).
    :param webhook_transport: the httpx transport API-created webhooks are delivered through
        (e.g. an ``httpx.ASGITransport`` of Orchestra's server app); default: the network.
    :param webhook_retry_scale: multiplies Fivetran's retry delays (``0.001``: seconds).
    """

    name: ClassVar[str] = "fivetran"
    base_path: ClassVar[str] = "/v1"
    public_paths: ClassVar[tuple[str, ...]] = ("/_simulator/*",)
    default_run_duration: ClassVar[float] = 2.0
    webhook_retry_delays: ClassVar[tuple[float, ...]] = FIVETRAN_RETRY_DELAYS

    def __init__(self, *, clock: Any = None, run_duration: float | None = None,
                 credentials: Iterable[tuple[str, str]] = ((DEFAULT_KEY, DEFAULT_SECRET),),
                 connectors: Iterable[str] | None = None, conflict_when_syncing: bool = False,
                 auto_create: bool = False, allow_http_webhooks: bool = True,
                 webhook_transport: httpx.AsyncBaseTransport | None = None,
                 webhook_retry_scale: float = 1.0) -> None:
        self.api_credentials = {tuple(c) for c in credentials}
        self.auto_create = auto_create
        self.allow_http_webhooks = allow_http_webhooks
        self.webhook_transport = webhook_transport
        self.webhook_retry_delays = tuple(d * webhook_retry_scale
                                          for d in FIVETRAN_RETRY_DELAYS)
        self._changed: anyio.Event | None = None
        super().__init__(clock=clock, run_duration=run_duration)
        self.state = FivetranState(self.clock, duration=self.run_duration,
                                   conflict_when_syncing=conflict_when_syncing,
                                   emit=self._emit)
        for cid in (("ambush_prettiest", "speak_inexpensive") if connectors is None
                    else connectors):
            self.add_connector(cid)

    # -- Simulator hooks ----------------------------------------------------------------------

    def routes(self) -> list[Any]:
        """The Fivetran API routes."""
        return fivetran_routes(self)

    def authenticate(self, request: Request) -> bool:
        """HTTP Basic with an accepted API key and secret."""
        return basic_credentials(request) in self.api_credentials

    def unauthorized(self, request: Request) -> Response:
        """Fivetran's 401."""
        return error(401, "AuthFailed", "Missing or invalid API key / secret")

    def error_response(self, status: int, message: str) -> Response:
        """Fivetran's error envelope."""
        code = {400: "InvalidInput", 404: "NotFound", 409: "Conflict",
                429: "TooManyRequests"}.get(status, "InternalError" if status >= 500 else
                                            "Error")
        return error(status, code, message)

    def rate_limited_response(self, retry_after: str | None) -> Response:
        """Fivetran's 429 (``Retry-After`` in seconds)."""
        response = error(429, "TooManyRequests", "Rate limit exceeded")
        if retry_after is not None:
            response.headers["Retry-After"] = retry_after
        return response

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        """``X-Fivetran-Signature-256``: upper-case hex HMAC-SHA256 of the raw body."""
        return {"X-Fivetran-Signature-256": hmac_sha256(secret, body, encoding="HEX")}

    def credentials(self) -> dict[str, str]:
        """The API key and secret (``FIVETRAN_API_KEY``, ``FIVETRAN_API_SECRET``)."""
        key, secret = sorted(self.api_credentials)[0]
        return {"api_key": key, "api_secret": secret}

    def describe(self) -> dict[str, Any]:
        """The connections, with their schedule and sync duration."""
        return {"connections": {c.id: f"{c.service} -> {c.schema} ({c.schedule_type} "
                                      f"schedule, syncs take {c.duration:g}s)"
                                for c in self.state.connectors.values()}}

    # -- setting up ---------------------------------------------------------------------------

    def add_connector(self, connector_id: str | None = None, **options: Any) -> Connector:
        """Add a connection; *options* are :class:`Connector` fields (``duration``,
        ``outcomes``, ``paused``, ``schedule_type``, ``schemas``, ``group_id``, ...)."""
        with self.lock:
            return self.state.add_connector(connector_id, **options)

    def connector(self, connector_id: str) -> Connector:
        """The connection *connector_id* (with its counters: ``triggers``, ``syncs``)."""
        with self.lock:
            self.state.advance()
            return self.state.connectors[connector_id]

    def start_sync(self, connector_id: str, *, force: bool = False) -> int:
        """Trigger a sync as someone else would (the schedule, the dashboard); the HTTP
        status the API would answer. Counts as a trigger."""
        with self.lock:
            status, _ = self.state.trigger(self.state.connectors[connector_id], force)
        return status

    def pause(self, connector_id: str, paused: bool = True) -> None:
        """Pause (or resume) a connection, as a user in the dashboard would."""
        with self.lock:
            self.state.patch(self.state.connectors[connector_id], {"paused": paused})

    def inject_sync_state(self, connector_id: str, value: str | None) -> None:
        """Report *value* as the connection's ``status.sync_state`` (an unknown status value;
        ``None``: the real one again)."""
        self.state.connectors[connector_id].sync_state_override = value

    def connection(self, name: str = "fivetran-sim", *, base_url: str | None = None,
                   webhook_secret: str | None = None, **options: Any) -> Connection:
        """A :class:`~orchestra_core._models.Connection` with the simulator's credentials."""
        secrets = dict(self.credentials())
        if webhook_secret:
            secrets["webhook_secret"] = webhook_secret
        return Connection(name=name, integration="fivetran", base_url=base_url or self.base_url,
                          auth="basic", options=options, secrets=secrets)

    def env(self, base_url: str | None = None) -> dict[str, str]:
        """The quick-start environment variables pointing at this simulator."""
        creds = self.credentials()
        return {"FIVETRAN_API_KEY": creds["api_key"],
                "FIVETRAN_API_SECRET": creds["api_secret"],
                "FIVETRAN_BASE_URL": base_url or self.base_url}

    # -- the API's actions ----------------------------------------------------------------------

    def trigger_response(self, c: Connector, force: bool) -> Response:
        """The answer to a sync request."""
        with self.lock:
            status, body = self.state.trigger(c, force)
        if status == 200:
            return ok(message=body["message"])
        return error(status, body["code"], body["message"])

    # -- webhooks -----------------------------------------------------------------------------

    def _emit(self, event: str, group_id: str, payload: Any, at: datetime) -> None:
        self.emit(f"{event}/{group_id}", payload, at=at)
        if self._changed is not None:
            self._changed.set()

    def url_problem(self, url: str) -> str | None:
        """Why Fivetran would refuse *url* as a webhook endpoint, or ``None``."""
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.netloc and (
                self.webhook_transport is not None or is_loopback(parts.hostname)):
            return None
        if parts.scheme == "http" and self.allow_http_webhooks and (
                self.webhook_transport is not None or is_loopback(parts.hostname)):
            return None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return f"the webhook url must be an HTTPS URL, got {url!r}"
        if parts.scheme == "http":
            return f"the webhook url must use HTTPS, got {url!r}"
        return f"the simulator only delivers webhooks to this machine, not to {url!r}"

    def add_fivetran_webhook(self, url: str, *, events: Iterable[str], secret: str | None,
                             group_id: str | None = None,
                             active: bool = True) -> FivetranWebhook:
        """Register a webhook as ``POST /v1/webhooks/...`` does (without the test POST)."""
        with self.lock:
            hook = FivetranWebhook(id=f"webhook_{next(self._seq)}", url=url, secret=secret,
                                   events=tuple(events), transport=self.webhook_transport,
                                   active=active, group_id=group_id,
                                   created_at=self.clock.now())
            self.webhook_targets.append(hook)
        return hook

    def fivetran_webhook(self, webhook_id: str) -> FivetranWebhook | None:
        """The API-created webhook *webhook_id*, or ``None``."""
        return next((h for h in self.fivetran_webhooks() if h.id == webhook_id), None)

    def fivetran_webhooks(self) -> list[FivetranWebhook]:
        """Every webhook created through the API."""
        with self.lock:
            return [t for t in self.webhook_targets if isinstance(t, FivetranWebhook)]

    def webhook_json(self, hook: FivetranWebhook) -> dict[str, Any]:
        """The API's view of *hook*: the secret always masked."""
        data: dict[str, Any] = {
            "id": hook.id, "type": "group" if hook.group_id else "account", "url": hook.url,
            "events": list(hook.events or ()), "active": hook.active,
            "secret": "******" if hook.secret else None, "created_at": iso(hook.created_at),
            "created_by": "_airworthy"}
        if hook.group_id:
            data["group_id"] = hook.group_id
        return data

    async def test_webhook(self, hook: FivetranWebhook, event: str) -> DeliveryRecord:
        """POST a test *event* for the dummy connection ``_connector_1`` to *hook* now."""
        payload: dict[str, Any] = {
            "event": event, "created": iso(self.clock.now()), "connector_type": "test",
            "connector_id": "_connector_1", "connector_name": "_connector_1",
            "sync_id": f"test_{next(self._seq)}",
            "destination_group_id": hook.group_id or "_group_1"}
        if event == "sync_end":
            payload["data"] = {"status": "SUCCESSFUL"}
        return await self.send_webhook(hook, payload, kind=f"{event}/test")

    async def deliver_due(self) -> list[DeliveryRecord]:
        """Deliver what is due (see the base class); a webhook whose last retry failed is
        deactivated, as Fivetran does after 24 hours of failures."""
        made = await super().deliver_due()
        last = len(self.webhook_retry_delays) + 1
        for record in made:
            if not record.ok and record.attempt >= last:
                hook = self.fivetran_webhook(record.target)
                if hook is not None:
                    hook.active = False
        return made

    async def deliver_webhooks(self) -> None:
        """Forever: deliver each webhook when it is due on the clock (in-process use with a
        ``FakeClock``; the real server delivers by itself)."""
        while True:
            self._changed = anyio.Event()
            with self.lock:
                self.state.advance()
            await self.deliver_due()
            due = self.next_webhook_due
            if due is not None and due <= self.clock.now():
                continue
            changed = self._changed
            async with anyio.create_task_group() as tg:
                async def timer(seconds: float) -> None:
                    await self.clock.sleep(seconds)
                    tg.cancel_scope.cancel()

                async def woken(event: anyio.Event) -> None:
                    await event.wait()
                    tg.cancel_scope.cancel()

                if due is not None:
                    tg.start_soon(timer, (due - self.clock.now()).total_seconds())
                tg.start_soon(woken, changed)

    @contextlib.asynccontextmanager
    async def delivering(self) -> AsyncIterator[FivetranSimulator]:
        """Within this block webhooks are delivered on time (see :meth:`deliver_webhooks`)."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.deliver_webhooks)
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()
