"""The runner of ``hightouch_sync``: trigger a Hightouch sync and wait for its run.

- ``start`` finds the sync (``GET /syncs/{id}``, or ``GET /syncs?slug=`` for a slug),
  refuses a disabled one, then triggers ``POST /syncs/{id}/trigger``. If the POST fails
  after Hightouch may have received it, the runner looks for a run created since the
  trigger (``GET /syncs/{id}/runs?after=``) before sending it again, so an outage never
  starts a sync twice. The :class:`~orchestra_core.ExternalRun` holds the run id (as text:
  the trigger answers a string, the runs list a number) and everything ``wait`` needs in a
  later process.
- ``wait`` reads ``GET /syncs/{id}/runs?runId=`` until the status is final, sleeping
  between reads on the task's webhook events (key ``hightouch:sync:<id>``: an alert webhook
  makes it poll at once) for at most ``poll_interval`` seconds. An unknown status value is
  an error, never a guess; the raw run (redacted) is in the run log. When the API keeps
  failing (after the client's own retries), ``wait`` keeps reading with growing pauses and
  gives up after :data:`MAX_OUTAGE` seconds of continuous failure.
- ``cancel`` cannot reach Hightouch: its API has no documented way to cancel a sync run, so
  the runner says so in the run log and the run finishes at Hightouch.
- Before the POST, ``start`` records its intent (``ctx.record_intent``) with the sync's
  ``lastRunAt`` (when its latest run was created, as read just before). ``recover`` (after a
  crash between the trigger and its recording) adopts the first run created after that
  ``lastRunAt`` and since the intent (found with ``GET /syncs/{id}/runs?after=``): it began
  after the intent. No intent recorded means the trigger was never sent; no such run means
  trigger.

Every request goes through the core's vendor HTTP layer, with Hightouch's limit of 200
requests per 10 seconds shared by every task of the host that uses the same API key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchestra_core import (
    ExternalRun,
    JobResult,
    JobState,
    ReadFailures,
    TaskFailed,
    VendorHTTPError,
)

from ._api import HightouchAPI, parse_time
from ._status import RunPhase, classify, run_stats
from .webhooks import sync_key

if TYPE_CHECKING:
    from orchestra_core import TaskContext

    from .params import HightouchSync

__all__ = (
    "MAX_OUTAGE",
    "MIN_POLL_INTERVAL",
    "NOT_LISTED_GRACE",
    "HightouchSyncRunner",
    "UnknownRunStatus",
)

#: Shortest time between two status reads of one run (the API allows 200 requests per 10 s
#: for the whole workspace).
MIN_POLL_INTERVAL = 1.0
#: How long a triggered run may be missing from the runs list before it is an error.
NOT_LISTED_GRACE = 120.0
#: Longest wait between reads after repeated transient API failures.
MAX_ERROR_BACKOFF = 300.0
#: How long reads may keep failing (transiently) before the task gives up.
MAX_OUTAGE = 3600.0


class UnknownRunStatus(TaskFailed):
    """Hightouch reported a run status the plugin does not know (never retried)."""


def _began_after(run: Mapping[str, Any], last_run_at: datetime | None) -> bool:
    """Whether *run* was created after *last_run_at* (the sync's latest run before the
    intent; ``None``: it had none)."""
    created = parse_time(run.get("createdAt"))
    return last_run_at is None or (created is not None and created > last_run_at)


def _label(sync_id: str, slug: Any) -> str:
    return f"{sync_id} ({slug})" if isinstance(slug, str) and slug else str(sync_id)


def _total(stats: Mapping[str, Any], key: str) -> int | None:
    rows = stats.get(key)
    return rows.get("total") if isinstance(rows, Mapping) else None


class HightouchSyncRunner:
    """Starts and waits for Hightouch sync runs; one instance serves every task of the job.

    :param host: the :class:`~orchestra_core.Orchestra` whose ``vendor_client`` the runner
        uses (tests install a simulator's transport on it).
    """

    def __init__(self, host: Any) -> None:
        self.host = host

    def api(self, ctx: TaskContext) -> HightouchAPI:
        """The Hightouch API for *ctx*'s connection."""
        return HightouchAPI(self.host, ctx)

    # -- start ----------------------------------------------------------------------------------

    async def start(self, ctx: TaskContext) -> ExternalRun:
        """Find the sync, refuse a disabled one, trigger it; return the run to wait for."""
        params: HightouchSync = ctx.parameters
        api = self.api(ctx)
        sync = await self._sync(api, params)
        sync_id, slug = str(sync["id"]), sync.get("slug")
        since = ctx.now()
        # the runner protocol: record the intent (with the sync's ``lastRunAt`` as Hightouch
        # said just before), then trigger; ``recover`` adopts only a run that began after it
        await ctx.record_intent({"sync_id": sync_id, "last_run_at": sync.get("lastRunAt")})
        run_id = await api.trigger(sync_id, full_resync=params.full_resync, since=since,
                                   after=parse_time(sync.get("lastRunAt")))
        ctx.log(f"triggered Hightouch sync {_label(sync_id, slug)}: run {run_id}"
                + (" (full resync)" if params.full_resync else ""))
        return ExternalRun(id=run_id, started_at=since,
                           data=self._facts(sync, full_resync=params.full_resync))

    async def _sync(self, api: HightouchAPI, params: HightouchSync) -> Mapping[str, Any]:
        syncid = (params.syncid or "").strip()
        if syncid:
            sync = await api.sync(syncid)
        else:
            sync = await api.sync_by_slug((params.sync_slug or "").strip())
        if sync.get("disabled") is True:
            raise TaskFailed(
                f"Hightouch sync {_label(str(sync['id']), sync.get('slug'))} is disabled: "
                "enable it in Hightouch before running it", retryable=False,
            )
        return sync

    @staticmethod
    def _facts(sync: Mapping[str, Any], *, full_resync: bool) -> dict[str, Any]:
        facts: dict[str, Any] = {"sync_id": str(sync["id"]), "full_resync": bool(full_resync)}
        for source, target in (("slug", "sync_slug"), ("workspaceId", "workspace_id"),
                               ("destinationId", "destination_id"), ("modelId", "model_id")):
            value = sync.get(source)
            if isinstance(value, str | int) and not isinstance(value, bool):
                facts[target] = str(value)
        return facts

    # -- wait -----------------------------------------------------------------------------------

    async def wait(self, ctx: TaskContext, run: ExternalRun) -> JobResult:
        """Read the run's status until it is final (woken early by alert webhooks)."""
        params: HightouchSync = ctx.parameters
        sync_id, run_id = str(run.data["sync_id"]), str(run.id)
        label = _label(sync_id, run.data.get("sync_slug"))
        api = self.api(ctx)
        interval = max(float(params.poll_interval), MIN_POLL_INTERVAL)
        key = sync_key(sync_id)
        last: str | None = None
        polls = 0
        failures = ReadFailures(interval, max_delay=MAX_ERROR_BACKOFF, give_up_after=MAX_OUTAGE)
        while True:
            try:
                found = await api.run(sync_id, run_id)
            except VendorHTTPError as exc:
                # the client's retries ran out; the run goes on at Hightouch
                delay = failures.failed(ctx.now())
                if exc.retryable is not True or delay is None:
                    raise
                ctx.log(f"reading run {run_id} of Hightouch sync {label} failed: {exc}; "
                        f"trying again in {delay:g} s", level="warning")
                await ctx.sleep(delay)
                continue
            failures.succeeded()
            polls += 1
            if found is None:
                waited = (ctx.now() - run.started_at).total_seconds()
                if waited > NOT_LISTED_GRACE:
                    raise TaskFailed(
                        f"Hightouch does not list run {run_id} of sync {label} "
                        f"{waited:.0f} s after it was triggered", retryable=False,
                        metadata={**run.data, "run_id": run_id},
                    )
            else:
                status = found.get("status")
                phase = classify(status)
                if phase is None:
                    raise self._unknown(ctx, run, found, label)
                if phase not in (RunPhase.QUEUED, RunPhase.RUNNING):
                    return self._result(params, run, found, label, polls)
                if status != last:
                    ratio = found.get("completionRatio")
                    done = (f", {float(ratio):.0%} done"
                            if isinstance(ratio, int | float) and ratio else "")
                    ctx.log(f"Hightouch sync {label} run {run_id} is {status}{done}")
                    last = status
            event = await ctx.next_event(key, timeout=interval)
            if event is not None:
                ctx.log(f"Hightouch alert ({event.kind}) for sync {label}: reading the run now")

    def _unknown(self, ctx: TaskContext, run: ExternalRun, found: Mapping[str, Any],
                 label: str) -> UnknownRunStatus:
        redactor = self.host.redactor
        raw = redactor.mask(json.dumps(redactor.mask_obj(dict(found)), default=str,
                                       sort_keys=True))
        ctx.log(f"Hightouch sent an unknown status for run {run.id} of sync {label}: {raw}",
                level="error")
        return UnknownRunStatus(
            f"Hightouch reported the unknown status {found.get('status')!r} for run {run.id} "
            f"of sync {label}; the orchestra-hightouch plugin knows: queued, querying, "
            "processing, reporting, success, warning, failed, interrupted, cancelled "
            "(the raw run is in the run log)",
            retryable=False,
            metadata={**run.data, "run_id": str(run.id), "status": found.get("status")},
        )

    def _result(self, params: HightouchSync, run: ExternalRun, found: Mapping[str, Any],
                label: str, polls: int) -> JobResult:
        status = str(found.get("status")).strip().lower()
        phase = classify(status)
        stats = run_stats(found)
        metadata = {**run.data, "run_id": str(run.id), "status": status, **stats,
                    "polls": polls}
        synced, failed = _total(stats, "successful_rows"), _total(stats, "failed_rows")
        counts = []
        if synced is not None:
            counts.append(f"{synced} rows synced")
        if failed:
            counts.append(f"{failed} rows rejected")
        detail = f" ({', '.join(counts)})" if counts else ""
        what = f"Hightouch sync {label} run {run.id}"
        error = stats.get("error")
        if phase is RunPhase.SUCCEEDED:
            return JobResult(state=JobState.SUCCEEDED, message=f"{what} succeeded{detail}",
                             metadata=metadata)
        if phase is RunPhase.WARNING:
            if params.fail_on_warning:
                return JobResult(
                    state=JobState.FAILED,
                    message=f"{what} finished with warnings{detail} and fail_on_warning is "
                    "set" + (f": {error}" if error else ""),
                    metadata=metadata,
                )
            return JobResult(state=JobState.SUCCEEDED,
                             message=f"{what} succeeded with warnings{detail}",
                             metadata=metadata)
        if phase is RunPhase.CANCELLED:
            return JobResult(state=JobState.CANCELLED,
                             message=f"{what} was cancelled in Hightouch", metadata=metadata)
        return JobResult(
            state=JobState.FAILED,
            message=f"{what} {status}{detail}" + (f": {error}" if error else ""),
            metadata=metadata,
        )

    # -- cancel ---------------------------------------------------------------------------------

    async def cancel(self, ctx: TaskContext, run: ExternalRun) -> None:
        """Say that Hightouch cannot be asked to stop the run (no documented API for it)."""
        label = _label(str(run.data.get("sync_id")), run.data.get("sync_slug"))
        ctx.log(f"Hightouch's API cannot cancel sync runs: run {run.id} of sync {label} "
                "keeps running at Hightouch (cancel it there if needed)", level="warning")

    # -- recover --------------------------------------------------------------------------------

    async def recover(self, ctx: TaskContext) -> ExternalRun | None:
        """The run an interrupted ``start`` created: the sync's first run created since the
        recorded intent (less the clock-skew margin) and after the ``lastRunAt`` Hightouch
        reported just before it (so it began after the intent), finished or not. ``None``
        (trigger) when no intent was recorded (the trigger was never sent) or no such run
        exists."""
        intent = getattr(ctx, "intent", None)
        if intent is None:
            return None
        params: HightouchSync = ctx.parameters
        api = self.api(ctx)
        sync = await self._sync(api, params)
        sync_id = str(sync["id"])
        last = parse_time(intent.facts.get("last_run_at"))
        runs = [r for r in await api.runs_after(sync_id, intent.recorded_at)
                if _began_after(r, last)]
        if not runs:
            return None
        found = runs[0]
        run_id = str(found["id"])
        ctx.log(f"found Hightouch run {run_id} ({found.get('status')}) of sync "
                f"{_label(sync_id, sync.get('slug'))} started by the interrupted trigger; "
                "waiting for it instead of triggering again")
        facts = self._facts(sync, full_resync=params.full_resync)
        facts["recovered"] = True
        return ExternalRun(id=run_id,
                           started_at=parse_time(found.get("createdAt")) or intent.recorded_at,
                           data=facts)
