"""A stateful fake of the Census Management API v1, for tests, demos and benchmarks.

Free of pytest imports. In-process through :attr:`CensusSimulator.transport`, or as a real
server (``orchestra simulate census``)::

    sim = CensusSimulator(clock=FakeClock())
    sim.add_sync(52, destination_object="contact", working_for=30)
    host = Orchestra(transports={"census": sim.transport})

Syncs and their runs are described in :mod:`orchestra_census.testing._state`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx
from starlette.applications import Starlette

from orchestra_core.testing import SystemClock

from ..webhooks import sign
from ._routes import API_PREFIX, census_routes
from ._state import SimRun, SimSync, SimWebhook, Workspace

__all__ = ("DEFAULT_TOKEN", "CensusSimulator", "SimRun", "SimSync", "SimWebhook")

#: The workspace API token the simulator accepts unless told otherwise.
DEFAULT_TOKEN = "secret-token:census-simulator"


class CensusSimulator:
    """The simulated Census workspace and its API.

    :param clock: drives run progress (``FakeClock`` in tests; the real clock by default).
    :param tokens: the workspace API tokens accepted (401 for any other).
    :param syncs: sync ids to create with default settings (more with :meth:`add_sync`).
    :param allow_http_webhooks: accept ``http://`` loopback webhook endpoints (tests);
        Census itself requires HTTPS.
    """

    name = "census"

    def __init__(self, *, clock: Any = None, tokens: Iterable[str] = (DEFAULT_TOKEN,),
                 syncs: Iterable[int] = (), allow_http_webhooks: bool = True) -> None:
        self.clock = clock or SystemClock()
        self.tokens = set(tokens)
        self.workspace = Workspace()
        self.allow_http_webhooks = allow_http_webhooks
        for sync_id in syncs:
            self.add_sync(sync_id)
        self.app = Starlette(routes=census_routes(self))
        self.transport = httpx.ASGITransport(app=self.app)
        self.base_url = "http://census.simulator" + API_PREFIX

    # -- setting up ------------------------------------------------------------------------------

    def add_sync(self, sync_id: int, label: str | None = None, **options: Any) -> SimSync:
        """Create (or replace) sync *sync_id*; *options* are :class:`SimSync` fields, e.g.
        ``outcome="failed"``, ``working_for=30``, ``destination_object="contact"``."""
        return self.workspace.add_sync(sync_id, label, **options)

    def script(self, sync_id: int, **run: Any) -> None:
        """Make the next run of *sync_id* differ from the sync's defaults, once (``outcome``,
        ``queued_for``, ``working_for``, ``working_status``, ``records``, ...)."""
        self.workspace.script(sync_id, **run)

    # -- actions (the routes call these too) -----------------------------------------------------

    def trigger(self, sync_id: int, *, full_sync: bool = False, trigger: str = "API") -> SimRun:
        """Start a run of *sync_id*, as the trigger endpoint (or the schedule) would."""
        return self.workspace.trigger(self.workspace.syncs[sync_id],
                                      now=self.clock.monotonic(), clock_now=self.clock.now(),
                                      full_sync=full_sync, trigger=trigger)

    def cancel(self, run_id: int) -> None:
        """Cancel run *run_id* (no effect on a finished run)."""
        run = self.workspace.runs[run_id]
        now = self.clock.monotonic()
        if run.canceled_at is None and run.phase(now) in ("queued", "working"):
            run.canceled_at = now

    def run_json(self, run: SimRun) -> dict[str, Any]:
        """Run *run* as ``GET /sync_runs/{id}`` shows it now."""
        return run.to_json(self.clock.monotonic(), self.clock.now(),
                           self.workspace.cancelled_status)

    def run(self, run_id: int) -> dict[str, Any]:
        """Run *run_id* as the API shows it now."""
        return self.run_json(self.workspace.runs[run_id])

    # -- webhooks --------------------------------------------------------------------------------

    def add_webhook(self, endpoint: str, *, name: str = "orchestra",
                    events: Iterable[str] | None = None) -> SimWebhook:
        """Register a webhook as ``POST /api/v1/webhooks`` would; returns it (with its
        ``secret``)."""
        from ._routes import WEBHOOK_EVENTS

        return self.workspace.add_webhook(name, endpoint, list(events or WEBHOOK_EVENTS),
                                          None, "")

    def due_webhooks(self) -> list[tuple[SimWebhook, bytes, dict[str, str]]]:
        """The lifecycle deliveries that came due since the last call: ``(webhook, body,
        headers)`` with ``X-Signature`` computed as Census does."""
        out = []
        now = self.clock.monotonic()
        for run in sorted(self.workspace.runs.values(), key=lambda r: r.id):
            for payload in self.workspace.lifecycle(run, now):
                body = json.dumps(payload).encode()
                for hook in self.workspace.webhooks.values():
                    if payload["event"] in hook.events:
                        headers = {"Content-Type": "application/json",
                                   "X-Signature": sign(hook.secret, body)}
                        out.append((hook, body, headers))
        return out
