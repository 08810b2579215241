"""The runner of ``fivetran_sync_all``: trigger a connection's sync and wait for it to end.

Fivetran returns no run id. ``start`` reads the connection, remembers the later of its
``succeeded_at`` / ``failed_at`` (the *baseline*) and the trigger time, then sends
``POST /connections/{id}/sync``; the sync is over once ``succeeded_at`` or ``failed_at`` moves
past the *reference* time (the baseline, or the trigger time less a clock-skew margin,
whichever is later). Both are stored in the :class:`ExternalRun`, so ``wait`` resumes from
them in a new process without triggering again. Just before the trigger, ``start`` records
its intent (``ctx.record_intent``) with the connection's ``succeeded_at``, ``failed_at`` and
``sync_state``; ``recover`` adopts only a sync that provably began after it.

``wait`` is woken by ``sync_start`` / ``sync_end`` webhooks (key ``fivetran:<connection id>``)
and polls ``GET /connections/{id}`` as a fallback, so a lost webhook only delays. A webhook
is never trusted alone: the outcome is always read from the connection's details.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestra_core import ExternalRun, JobResult, JobState, TaskFailed, VendorHTTPError, backoff

from ._api import FivetranAPI, completion_time, parse_time
from ._tables import enabled_tables
from .webhooks import SYNC_END_STATES, event_key

__all__ = ("FivetranSyncRunner",)

#: Subtracted from the trigger time when comparing with Fivetran's timestamps (their clock
#: may be behind ours); the pre-trigger baseline still excludes every earlier sync.
CLOCK_SKEW = timedelta(seconds=5)
#: The polling interval grows by this factor per poll after :data:`STEADY_POLLS` polls...
BACKOFF_FACTOR = 1.5
STEADY_POLLS = 20
#: ... up to this many seconds (or the poll interval, if longer).
MAX_POLL_INTERVAL = 120.0
#: Shortest wait between polls.
MIN_POLL_INTERVAL = 0.05
#: After a ``sync_end`` webhook the details may lag a little: re-read them this soon.
SETTLE_DELAY = 1.0
#: ``sync_state`` values Fivetran documents.
SYNC_STATES = ("scheduled", "syncing", "paused", "rescheduled")
#: ``sync_state`` values of a connection that has a sync under way (running, or waiting for
#: the source's quota): a sync ending later may have begun before the intent.
BUSY_STATES = ("syncing", "rescheduled")
#: The reference of a recovered sync when the connection had never synced before the intent.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Tables listed in a task run's metadata (the assets list them all).
METADATA_TABLES = 500


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dashboard(connection_id: str) -> str:
    return f"https://fivetran.com/dashboard/connections/{connection_id}/status"


def _dump(payload: Any, redactor: Any) -> str:
    return redactor.mask(json.dumps(payload, default=str, sort_keys=True))[:2000]


class FivetranSyncRunner:
    """Executes ``fivetran_sync_all`` tasks (one instance per host).

    :param host: the :class:`~orchestra_core.Orchestra`; its ``vendor_client`` provides the
        HTTP clients (shared pools, the shared rate limit, the transport a test installed
        with ``Orchestra(transports={"fivetran": simulator.transport})``).
    """

    def __init__(self, host: Any) -> None:
        self.host = host
        self._apis: dict[tuple[Any, ...], FivetranAPI] = {}

    def api(self, ctx: Any) -> FivetranAPI:
        """The :class:`FivetranAPI` for the task's connection (one per account and root)."""
        conn = ctx.connection
        if conn is None:
            return FivetranAPI.for_connection(self.host, None)
        key = (conn.name, conn.base_url, conn.secret("api_key"), conn.secret("api_secret"),
               tuple(sorted((str(k), str(v)) for k, v in (conn.options or {}).items())))
        api = self._apis.get(key)
        if api is None:
            api = self._apis[key] = FivetranAPI.for_connection(self.host, conn)
        return api

    # -- start ------------------------------------------------------------------------------

    async def start(self, ctx: Any) -> ExternalRun:
        """Check the connection, trigger its sync, return what ``wait`` needs."""
        params = ctx.parameters
        cid = params.connectionid
        api = self.api(ctx)
        details = await self._details(api, cid, ctx)
        _refuse_unsyncable(cid, details)
        baseline = completion_time(details)
        was_syncing = _status(details).get("sync_state") == "syncing"
        triggered_at = ctx.now()

        async def find_existing() -> Any:
            # an ambiguous failure of the trigger: did it start a sync?
            now = await api.details(cid, ctx)
            started = _status(now).get("sync_state") == "syncing" or (
                (completion_time(now) or triggered_at) > max(baseline or triggered_at,
                                                              triggered_at - CLOCK_SKEW))
            return {"found": now} if started else None

        joined = was_syncing and not params.force
        # the runner protocol: record the intent (with what Fivetran said just before), then
        # trigger; ``recover`` adopts only a sync that provably began after it
        await ctx.record_intent({"succeeded_at": details.get("succeeded_at"),
                                 "failed_at": details.get("failed_at"),
                                 "sync_state": _status(details).get("sync_state"),
                                 "force": bool(params.force)})
        try:
            await api.trigger(cid, force=params.force, ctx=ctx, find_existing=find_existing)
        except VendorHTTPError as exc:
            if exc.status != 409:
                raise
            # 409: a sync is already running (or the connection is paused / not set up)
            details = await self._details(api, cid, ctx)
            _refuse_unsyncable(cid, details)
            if _status(details).get("sync_state") != "syncing":
                raise TaskFailed(f"Fivetran refused to sync connection {cid!r}: {exc}",
                                 metadata=exc.metadata) from exc
            joined = True
            baseline = completion_time(details) or baseline
        if joined:
            ctx.log(f"connection {cid} was already syncing; waiting for the running sync")
            reference = baseline
        else:
            reference = max(baseline, triggered_at - CLOCK_SKEW) if baseline else \
                triggered_at - CLOCK_SKEW
        ctx.log(f"triggered the sync of Fivetran connection {cid}"
                + (" (force)" if params.force else ""))
        return ExternalRun(id=None, started_at=triggered_at,
                           data=_run_data(cid, details, baseline, reference, triggered_at,
                                          joined, params.force))

    async def recover(self, ctx: Any) -> ExternalRun | None:
        """After a crash between ``start`` and the record of its sync: adopt a sync that
        provably began after the intent ``start`` recorded; ``None`` means trigger.

        - No intent: the trigger was never sent (trigger).
        - The connection was idle at the intent (no sync running, nothing rescheduled): a
          sync running now, or a ``succeeded_at``/``failed_at`` that moved past the recorded
          values, began after the intent (adopt it; its outcome is read as ``wait`` does).
        - A sync was running (or rescheduled) at the intent: whatever ended or runs now may be
          that earlier sync, which proves nothing (trigger; with ``force: false`` a trigger
          while it still runs waits for it, as ``start`` does).
        """
        intent = getattr(ctx, "intent", None)
        if intent is None:
            return None
        facts = intent.facts
        if facts.get("sync_state") in BUSY_STATES:
            return None
        cid = ctx.parameters.connectionid
        api = self.api(ctx)
        details = await self._details(api, cid, ctx)
        baseline = completion_time(facts)
        latest = completion_time(details)
        moved = latest is not None and (baseline is None or latest > baseline)
        if not moved and _status(details).get("sync_state") != "syncing":
            return None
        began = intent.recorded_at
        reference = baseline if baseline is not None else EPOCH
        ctx.log(f"adopting the sync of connection {cid} that began after the trigger intent "
                "recorded before the interruption")
        return ExternalRun(id=None, started_at=began,
                           data=_run_data(cid, details, baseline, reference, began, False,
                                          bool(facts.get("force", ctx.parameters.force))))

    # -- wait -------------------------------------------------------------------------------

    async def wait(self, ctx: Any, run: ExternalRun) -> JobResult:
        """Wait for the sync (webhooks first, polling as the fallback); return its outcome."""
        params = ctx.parameters
        data = dict(run.data)
        cid = data.get("connection_id") or params.connectionid
        reference = parse_time(data.get("reference")) or run.started_at
        api = self.api(ctx)
        interval = max(MIN_POLL_INTERVAL, float(params.poll_interval))
        key = event_key(cid)
        watch = _Watch(ctx, cid, run.started_at, self.host.redactor)
        # the first check: right after the trigger wait one interval; after a resume, now
        since = (ctx.now() - run.started_at).total_seconds()
        delay = max(0.0, interval - since)
        polls = steady = 0
        while True:
            if delay > 0:
                event = await ctx.next_event(key, timeout=delay)
                if event is not None:
                    watch.saw(event)
            details = await self._details(api, cid, ctx)
            polls += 1
            outcome = _outcome(details, reference)
            if outcome is not None:
                return await self._result(ctx, api, cid, details, outcome, data, watch, polls)
            status = _status(details)
            state = status.get("sync_state")
            if details.get("paused") or state == "paused":
                raise TaskFailed(
                    f"Fivetran connection {cid} was paused while its sync was awaited; resume "
                    "it in Fivetran and run the task again", retryable=False,
                    metadata=watch.metadata(details, polls))
            if state not in SYNC_STATES:
                ctx.log(f"unexpected Fivetran sync_state {state!r}; the connection details: "
                        f"{_dump(details, self.host.redactor)}", level="error")
                raise TaskFailed(
                    f"Fivetran reported an unknown sync_state {state!r} for connection {cid} "
                    f"(expected one of {', '.join(SYNC_STATES)})", retryable=False,
                    metadata=watch.metadata(details, polls))
            steady += 1
            delay = backoff(steady - STEADY_POLLS + 1, delay=interval, backoff=BACKOFF_FACTOR,
                            max_delay=max(interval, MAX_POLL_INTERVAL), jitter=0.0)
            if state == "rescheduled":
                until = await watch.rescheduled(api, details, params)
                if until is not None:
                    delay = min(delay, max(until, MIN_POLL_INTERVAL))
            else:
                watch.rescheduled_since = None
            if watch.ended_unconfirmed:
                watch.ended_unconfirmed = False
                delay = min(delay, SETTLE_DELAY)
            if params.wait_timeout is not None:
                left = params.wait_timeout - (ctx.now() - run.started_at).total_seconds()
                if left <= 0:
                    await self.cancel(ctx, run)
                    raise TaskFailed(
                        f"the Fivetran sync of connection {cid} did not finish within "
                        f"wait_timeout ({params.wait_timeout:g}s)",
                        metadata=watch.metadata(details, polls))
                delay = min(delay, max(left, MIN_POLL_INTERVAL))

    async def _result(self, ctx: Any, api: FivetranAPI, cid: str, details: dict[str, Any],
                      outcome: JobState, data: Mapping[str, Any], watch: _Watch,
                      polls: int) -> JobResult:
        meta = watch.metadata(details, polls)
        meta.update(triggered_at=data.get("triggered_at"), joined_running_sync=data.get("joined"),
                    force=data.get("force"))
        if outcome is JobState.FAILED:
            tasks = [t for t in _status(details).get("tasks") or [] if isinstance(t, Mapping)]
            reasons = [str(t.get("message") or t.get("code")) for t in tasks]
            if watch.reason:
                reasons.insert(0, watch.reason)
            needs_user = bool(tasks) or watch.status == "FAILURE_WITH_TASK"
            message = (f"the Fivetran sync of connection {cid} failed at "
                       f"{details.get('failed_at')}")
            if reasons:
                message += ": " + "; ".join(dict.fromkeys(reasons))
            if needs_user:
                message += " (Fivetran needs an action in its dashboard: " + \
                    _dashboard(cid) + ")"
            return JobResult(state=JobState.FAILED, message=self.host.redactor.mask(message),
                             metadata=meta, retryable=False if needs_user else None)
        assets: tuple[str, ...] = ()
        if ctx.parameters.record_tables:
            try:
                config = await api.schemas(cid, ctx)
            except TaskFailed as exc:  # the sync succeeded: say why the tables are missing
                ctx.log(f"could not read the schema configuration of connection {cid}: {exc}",
                        level="warning")
                meta["tables_error"] = str(exc)
            else:
                tables = enabled_tables(config)
                assets = tuple(sorted({t["asset"] for t in tables}))
                meta["table_count"] = len(tables)
                meta["tables"] = tables[:METADATA_TABLES]
        message = f"synced connection {cid} (succeeded at {details.get('succeeded_at')})"
        return JobResult(state=JobState.SUCCEEDED, message=message, metadata=meta,
                         assets=assets)

    async def _details(self, api: FivetranAPI, cid: str, ctx: Any) -> dict[str, Any]:
        try:
            return await api.details(cid, ctx)
        except VendorHTTPError as exc:
            if exc.status == 404:
                raise TaskFailed(f"Fivetran has no connection {cid!r} (check connectionid "
                                 "and the account of the API key)", retryable=False,
                                 metadata=exc.metadata) from exc
            if exc.status in (401, 403):
                raise TaskFailed(f"Fivetran refused the API key (HTTP {exc.status}): check the "
                                 "api_key and api_secret of the connection", retryable=False,
                                 metadata=exc.metadata) from exc
            raise

    # -- cancel -----------------------------------------------------------------------------

    async def cancel(self, ctx: Any, run: ExternalRun) -> None:
        """Fivetran cannot cancel a sync; with ``pause_on_cancel`` the connection is paused
        (which stops the running sync), otherwise the sync is left to finish."""
        cid = run.data.get("connection_id") or ctx.parameters.connectionid
        if not ctx.parameters.pause_on_cancel:
            ctx.log(f"Fivetran has no cancel: the sync of connection {cid} goes on (set "
                    "pause_on_cancel to pause the connection instead)", level="warning")
            return
        await self.api(ctx).patch(cid, {"paused": True}, ctx)
        ctx.log(f"paused Fivetran connection {cid} to stop its sync; resume it in Fivetran "
                "before its next sync", level="warning")


class _Watch:
    """What ``wait`` learned along the way: webhook events, reschedules, re-triggers."""

    def __init__(self, ctx: Any, cid: str, triggered_at: datetime, redactor: Any) -> None:
        self.ctx = ctx
        self.redactor = redactor
        self.cid = cid
        self.triggered_at = triggered_at
        self.sync_id: str | None = None
        self.status: str | None = None
        self.reason: str | None = None
        self.events = 0
        self.ended_unconfirmed = False
        self.rescheduled_since: datetime | None = None
        self.retriggered_for: str | None = None
        self.retriggers = 0

    def saw(self, event: Any) -> None:
        """Take in a webhook event (it only wakes the poll; the details decide)."""
        self.events += 1
        payload = event.payload if isinstance(event.payload, Mapping) else {}
        created = parse_time(payload.get("created")) if isinstance(
            payload.get("created"), str) else None
        if created is not None and created < self.triggered_at - CLOCK_SKEW:
            return  # about an earlier sync
        if event.kind == "sync_start":
            self.sync_id = payload.get("sync_id") or self.sync_id
            self.ctx.log(f"Fivetran started syncing connection {self.cid}")
        elif event.kind == "sync_end":
            data = payload.get("data") if isinstance(payload.get("data"), Mapping) else {}
            status = data.get("status")
            self.sync_id = payload.get("sync_id") or self.sync_id
            if status not in SYNC_END_STATES:
                self.ctx.log(f"unexpected Fivetran sync_end status {status!r} (reading the "
                             f"connection's details instead): "
                             f"{_dump(payload, self.redactor)}",
                             level="warning")
            self.status = status if isinstance(status, str) else None
            if isinstance(data.get("reason"), str):
                self.reason = data["reason"]
            self.ended_unconfirmed = SYNC_END_STATES.get(status) is not None

    async def rescheduled(self, api: FivetranAPI, details: dict[str, Any],
                          params: Any) -> float | None:
        """Handle ``sync_state == "rescheduled"``; return the seconds until the re-trigger
        is due (manual-schedule connections), else ``None``."""
        now = self.ctx.now()
        status = _status(details)
        when_text = status.get("rescheduled_for")
        when = parse_time(when_text)
        if self.rescheduled_since is None:
            self.rescheduled_since = now
            self.ctx.log(f"Fivetran rescheduled the sync of connection {self.cid}"
                         + (f" for {when_text}" if when_text else "")
                         + " (waiting for the source's API quota)", level="warning")
        limit = params.reschedule_limit
        if limit is not None and (now - self.rescheduled_since).total_seconds() > limit:
            raise TaskFailed(f"the sync of Fivetran connection {self.cid} stayed rescheduled "
                             f"for more than {limit:g}s (reschedule_limit)"
                             + (f"; Fivetran planned it for {when_text}" if when_text else ""))
        if details.get("schedule_type") != "manual" or when is None:
            return None  # Fivetran resumes auto-scheduled syncs by itself
        if when > now:
            return (when - now).total_seconds()
        if self.retriggered_for == when_text:
            return None
        # manual schedule: Fivetran never restarts a rescheduled sync; trigger it again
        self.retriggered_for = when_text
        self.retriggers += 1
        self.ctx.log(f"re-triggering the rescheduled sync of manual-schedule connection "
                     f"{self.cid}")
        await api.trigger(self.cid, force=False, ctx=self.ctx)
        return None

    def metadata(self, details: Mapping[str, Any], polls: int) -> dict[str, Any]:
        """The task run's metadata."""
        status = _status(details)
        meta: dict[str, Any] = {
            "connection_id": self.cid,
            "connection_name": details.get("schema"),
            "group_id": details.get("group_id"),
            "service": details.get("service"),
            "schedule_type": details.get("schedule_type"),
            "sync_frequency": details.get("sync_frequency"),
            "succeeded_at": details.get("succeeded_at"),
            "failed_at": details.get("failed_at"),
            "sync_state": status.get("sync_state"),
            "setup_state": status.get("setup_state"),
            "url": _dashboard(self.cid),
            "polls": polls,
            "webhook_events": self.events,
        }
        if self.sync_id:
            meta["sync_id"] = self.sync_id
        if self.status:
            meta["webhook_status"] = self.status
        if self.retriggers:
            meta["retriggers"] = self.retriggers
        for name in ("tasks", "warnings"):
            items = status.get(name)
            if items:
                meta[name] = items
        return meta


def _status(details: Mapping[str, Any]) -> Mapping[str, Any]:
    status = details.get("status")
    return status if isinstance(status, Mapping) else {}


def _refuse_unsyncable(cid: str, details: Mapping[str, Any]) -> None:
    if details.get("paused"):
        raise TaskFailed(f"Fivetran connection {cid} is paused: resume it in Fivetran (or "
                         "PATCH paused=false) before syncing it", retryable=False)
    setup = _status(details).get("setup_state")
    if setup not in (None, "connected"):
        raise TaskFailed(f"Fivetran connection {cid} cannot sync: its setup state is {setup!r} "
                         f"(finish or repair its setup at {_dashboard(cid)})", retryable=False)


def _outcome(details: Mapping[str, Any], reference: datetime) -> JobState | None:
    """Succeeded / failed once ``succeeded_at`` / ``failed_at`` moved past *reference*; the
    later of the two wins (a failure followed by a successful retry is a success)."""
    succeeded = parse_time(details.get("succeeded_at"))
    failed = parse_time(details.get("failed_at"))
    if succeeded is not None and succeeded > reference and (failed is None or succeeded > failed):
        return JobState.SUCCEEDED
    if failed is not None and failed > reference and (succeeded is None or failed >= succeeded):
        return JobState.FAILED
    return None


def _run_data(cid: str, details: Mapping[str, Any], baseline: datetime | None,
              reference: datetime, triggered_at: datetime, joined: bool,
              force: bool) -> dict[str, Any]:
    return {
        "connection_id": cid,
        "group_id": details.get("group_id"),
        "schedule_type": details.get("schedule_type"),
        "baseline": _iso(baseline),
        "reference": _iso(reference),
        "triggered_at": _iso(triggered_at),
        "joined": joined,
        "force": force,
    }
