"""The runner of ``census_sync``: trigger a Census sync, wait for its sync run, cancel it.

- ``start`` reads the sync (``GET /syncs/{id}``: unknown syncs fail at once, and the sync's
  destination object becomes the task's data asset), notes the latest run id, then triggers
  ``POST /syncs/{id}/trigger``. If that POST fails after Census may have received it, the
  runner looks for a run newer than the noted one before sending it again, so an outage
  never starts a sync twice. The :class:`~orchestra_core.ExternalRun` it returns holds the
  run id and everything ``wait`` needs in a later process.
- ``wait`` reads ``GET /sync_runs/{id}`` until ``data.status`` is final, sleeping between
  reads on the task's webhook events (key ``census:<run id>``) for at most ``poll_interval``
  seconds. An unknown status value is an error, never a guess.
- ``cancel`` sends ``POST /sync_runs/{id}/cancel``.
- Before the POST, ``start`` records its intent (``ctx.record_intent``) with the noted run
  id. ``recover`` (after a crash between the trigger and its recording) adopts the first
  API-triggered run with a higher id (Census numbers runs in order, so it began after the
  intent), finished or not; with no intent recorded the trigger was never sent, and with no
  such run the task is triggered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from orchestra_core import (
    ExternalRun,
    JobResult,
    JobState,
    ReadFailures,
    TaskFailed,
    VendorHTTPError,
    parse_timestamp,
)

from .sync_runs import RunClass, UnknownSyncRunStatus, classify, error_text, run_metadata, summary
from .webhooks import event_key

if TYPE_CHECKING:
    from orchestra_core import TaskContext

    from .params import CensusSync

__all__ = ("DEFAULT_BASE_URL", "CensusSyncRunner", "destination_asset")

#: The US API root (EU workspaces: ``https://app-eu.getcensus.com/api/v1``).
DEFAULT_BASE_URL = "https://app.getcensus.com/api/v1"
#: Environment variables of the quick-start connection.
TOKEN_ENV = "CENSUS_API_TOKEN"
BASE_URL_ENV = "CENSUS_BASE_URL"
#: Shortest time between two reads of a run (``poll_interval: 0`` would spin).
MIN_POLL_INTERVAL = 0.05
#: Longest wait between reads after the API failed repeatedly.
MAX_POLL_BACKOFF = 300.0
#: How long the API may keep failing while a run is being waited for before giving up.
MAX_OUTAGE = 3600.0
#: How many of a sync's newest runs ``recover`` reads to find the interrupted trigger's.
RECOVER_RUNS = 25


def destination_asset(sync: Mapping[str, Any]) -> str | None:
    """The data asset a sync writes: ``census:<destination connection id>/<object>``, from
    ``destination_attributes`` of ``GET /syncs/{id}`` (``None`` when it names no object)."""
    attrs = sync.get("destination_attributes")
    if not isinstance(attrs, Mapping):
        return None
    obj = attrs.get("object")
    if isinstance(obj, Mapping):
        obj = obj.get("full_name") or obj.get("name") or obj.get("label")
    if not isinstance(obj, str | int) or str(obj) == "":
        return None
    connection = attrs.get("connection_id")
    return f"census:{connection}/{obj}" if connection is not None else f"census:{obj}"


def _api_triggered(run: Mapping[str, Any]) -> bool:
    """Whether *run* was triggered through the API (or Census does not say)."""
    reason = run.get("sync_trigger_reason")
    return not isinstance(reason, Mapping) or reason.get("ui_tag") in (None, "API")


def _ui_url(base_url: str, sync_id: Any) -> str:
    """The sync's history page in the Census app, on the API's host."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}/syncs/{sync_id}/sync-history"


_parse_time = parse_timestamp


def _data(body: Any, what: str, redactor: Any) -> Any:
    """``data`` of a Census envelope ``{"status": "success", "data": ...}`` (an unexpected
    body is quoted masked with *redactor*, the host's)."""
    if not isinstance(body, Mapping) or "data" not in body:
        raise TaskFailed(
            f"Census answered {what} with an unexpected body (no 'data'): "
            f"{redactor.mask(repr(body))[:300]}",
            retryable=True,
        )
    return body["data"]


class CensusSyncRunner:
    """Runs ``census_sync`` tasks (see the module docstring for the protocol).

    :param host: the :class:`~orchestra_core.Orchestra`; requests go through
        ``host.vendor_client("census", ...)`` (retries, ``Retry-After``, shared pools, the
        transport a test installs).
    """

    def __init__(self, host: Any) -> None:
        self.host = host

    # -- the API -------------------------------------------------------------------------------

    def _client(self, ctx: TaskContext) -> Any:
        conn = ctx.connection
        if conn is None:
            raise TaskFailed(
                "no Census connection: set the environment variable "
                f"{TOKEN_ENV} (and {BASE_URL_ENV} for an EU workspace or a simulator), or "
                "create one (orchestra connections add ... --integration census; orchestra "
                "credentials set ... token=...) and name it in the task's "
                "secondary_configuration_id",
                retryable=False,
            )
        token = conn.secret("token") if hasattr(conn, "secret") else None
        if not token:
            raise TaskFailed(
                f"the Census connection {getattr(conn, 'name', '')!r} has no 'token' secret "
                f"(the workspace API token; quick start: {TOKEN_ENV})",
                retryable=False,
            )
        base_url = getattr(conn, "base_url", None) or DEFAULT_BASE_URL
        return self.host.vendor_client(
            "census", base_url=base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )

    async def _get_sync(self, ctx: TaskContext, client: Any, sync_id: int) -> Mapping[str, Any]:
        try:
            body = await client.get(f"/syncs/{sync_id}", ctx=ctx)
        except VendorHTTPError as exc:
            if exc.status == 404:
                raise TaskFailed(
                    f"Census has no sync {sync_id} in this workspace (check syncid, and that "
                    "the API token belongs to the sync's workspace)",
                    retryable=False, metadata=exc.metadata,
                ) from exc
            raise
        sync = _data(body, f"GET /syncs/{sync_id}", self.host.redactor)
        if not isinstance(sync, Mapping):
            raise TaskFailed(f"Census answered GET /syncs/{sync_id} without a sync object",
                             retryable=True)
        return sync

    async def _latest_run(self, ctx: TaskContext, client: Any,
                          sync_id: int) -> Mapping[str, Any] | None:
        body = await client.get(f"/syncs/{sync_id}/sync_runs",
                                params={"page": 1, "per_page": 1, "order": "desc"}, ctx=ctx)
        runs = _data(body, f"GET /syncs/{sync_id}/sync_runs", self.host.redactor)
        if isinstance(runs, list) and runs and isinstance(runs[0], Mapping):
            return runs[0]
        return None

    async def _get_run(self, ctx: TaskContext, client: Any, run_id: int) -> Mapping[str, Any]:
        body = await client.get(f"/sync_runs/{run_id}", ctx=ctx)
        run = _data(body, f"GET /sync_runs/{run_id}", self.host.redactor)
        if not isinstance(run, Mapping):
            raise TaskFailed(f"Census answered GET /sync_runs/{run_id} without a sync run",
                             retryable=True)
        return run

    # -- JobRunner ------------------------------------------------------------------------------

    async def start(self, ctx: TaskContext) -> ExternalRun:
        """Trigger the sync; return its sync run as an :class:`ExternalRun`."""
        params: CensusSync = ctx.parameters
        client = self._client(ctx)
        sync_id = params.syncid
        sync = await self._get_sync(ctx, client, sync_id)
        label = sync.get("label")
        if sync.get("paused"):
            ctx.log(f"Census sync {sync_id} is paused; triggering it anyway (a paused sync "
                    "only stops its schedule)", level="warning")
        previous = await self._latest_run(ctx, client, sync_id)
        previous_id = previous.get("id") if previous else None
        started_at = ctx.now()

        async def find_existing() -> Any:
            latest = await self._latest_run(ctx, client, sync_id)
            if latest is None or not isinstance(latest.get("id"), int):
                return None
            if isinstance(previous_id, int) and latest["id"] <= previous_id:
                return None
            reason = latest.get("sync_trigger_reason")
            if isinstance(reason, Mapping) and reason.get("ui_tag") not in (None, "API"):
                return None
            return {"status": "success", "data": {"sync_run_id": latest["id"]}}

        query = {"force_full_sync": "true"} if params.force_full_sync else None
        await ctx.record_intent({"latest_run_id": previous_id if isinstance(previous_id, int)
                                 else None})
        body = await client.post(f"/syncs/{sync_id}/trigger", params=query, ctx=ctx,
                                 find_existing=find_existing)
        data = _data(body, f"POST /syncs/{sync_id}/trigger", self.host.redactor)
        run_id = data.get("sync_run_id") if isinstance(data, Mapping) else None
        if isinstance(run_id, str) and run_id.isdigit():
            run_id = int(run_id)
        if not isinstance(run_id, int) or isinstance(run_id, bool):
            raise TaskFailed(
                f"Census accepted the trigger of sync {sync_id} but returned no sync_run_id: "
                f"{self.host.redactor.mask(repr(body))[:300]}",
                retryable=False,
            )
        base_url = client.base_url
        facts: dict[str, Any] = {
            "sync_id": sync_id,
            "sync_run_id": run_id,
            "sync_label": label,
            "force_full_sync": params.force_full_sync,
            "url": _ui_url(base_url, sync_id),
            "operation": sync.get("operation"),
        }
        asset = destination_asset(sync)
        if asset is not None:
            facts["asset"] = asset
            facts["destination"] = dict(sync["destination_attributes"])
        ctx.log(f"triggered Census sync {sync_id}" + (f" ({label})" if label else "")
                + f": sync run {run_id}" + (" (full sync)" if params.force_full_sync else ""))
        return ExternalRun(id=str(run_id), started_at=started_at, data=facts)

    async def wait(self, ctx: TaskContext, run: ExternalRun) -> JobResult:
        """Wait for the sync run to finish; map its status to a :class:`JobResult`."""
        params: CensusSync = ctx.parameters
        client = self._client(ctx)
        run_id = int(run.data.get("sync_run_id", run.id))
        interval = max(float(params.poll_interval), MIN_POLL_INTERVAL)
        key = event_key(run_id)
        last_status: Any = None
        failures = ReadFailures(interval, max_delay=MAX_POLL_BACKOFF, give_up_after=MAX_OUTAGE,
                                max_doublings=64)
        while True:
            try:
                data = await self._get_run(ctx, client, run_id)
            except VendorHTTPError as exc:
                if exc.status == 404:
                    raise TaskFailed(
                        f"Census does not know sync run {run_id} (of sync "
                        f"{run.data.get('sync_id')}): {exc}",
                        retryable=False, metadata=exc.metadata,
                    ) from exc
                if exc.retryable is False:
                    raise
                delay = failures.failed(ctx.now())
                if delay is None:
                    raise TaskFailed(
                        f"gave up waiting for Census sync run {run_id}: the API kept failing "
                        f"for {MAX_OUTAGE:g} s ({exc})", retryable=None,
                        metadata={**run.data, "error": exc.metadata},
                    ) from exc
                ctx.log(f"could not read Census sync run {run_id}: {exc}; reading it again "
                        f"in {delay:.1f} s", level="warning")
                await ctx.sleep(delay)
                continue
            failures.succeeded()
            try:
                klass = classify(data, self.host.redactor)
            except UnknownSyncRunStatus as exc:
                ctx.log(f"Census sync run {run_id} has an unknown status {exc.status!r}; raw "
                        f"payload: {self.host.redactor.mask(_json(dict(exc.payload)))}",
                        level="error")
                exc.metadata.update(self._metadata(run, data))
                raise
            status = data.get("status")
            if klass is RunClass.IN_PROGRESS:
                if status != last_status:
                    ctx.log(f"Census sync run {run_id}: {status}")
                    last_status = status
                event = await ctx.next_event(key, timeout=interval)
                if event is not None:
                    ctx.log(f"Census webhook {event.kind} for sync run {run_id}", level="info")
                continue
            return self._result(params, run, data, klass)

    async def cancel(self, ctx: TaskContext, run: ExternalRun) -> None:
        """Cancel the sync run in Census (one that has already finished stays as it is)."""
        client = self._client(ctx)
        run_id = run.data.get("sync_run_id", run.id)
        try:
            await client.post(f"/sync_runs/{run_id}/cancel", ctx=ctx, idempotent=True)
        except VendorHTTPError as exc:
            if exc.status == 404:
                ctx.log(f"Census sync run {run_id} not cancelled: Census does not know it",
                        level="warning")
                return
            raise
        ctx.log(f"asked Census to cancel sync run {run_id}", level="warning")

    async def recover(self, ctx: TaskContext) -> ExternalRun | None:
        """The sync run an interrupted ``start`` created: the first run the API triggered
        after the recorded intent (a higher id than the latest one ``start`` noted before
        its POST). ``None`` (trigger) when no intent was recorded or no such run exists: a
        run that merely ended after the attempt began may be an earlier pipeline's."""
        intent = getattr(ctx, "intent", None)
        if intent is None:
            return None
        noted = intent.facts.get("latest_run_id")
        params: CensusSync = ctx.parameters
        client = self._client(ctx)
        body = await client.get(f"/syncs/{params.syncid}/sync_runs",
                                params={"page": 1, "per_page": RECOVER_RUNS, "order": "desc"},
                                ctx=ctx)
        runs = _data(body, f"GET /syncs/{params.syncid}/sync_runs", self.host.redactor)
        after = sorted((r for r in (runs if isinstance(runs, list) else [])
                        if isinstance(r, Mapping) and _api_triggered(r)
                        and isinstance(r.get("id"), int) and not isinstance(r["id"], bool)
                        and (not isinstance(noted, int) or r["id"] > noted)),
                       key=lambda r: r["id"])
        if not after:
            return None
        latest = after[0]
        run_id = latest["id"]
        sync = await self._get_sync(ctx, client, params.syncid)
        facts: dict[str, Any] = {
            "sync_id": params.syncid, "sync_run_id": run_id, "sync_label": sync.get("label"),
            "force_full_sync": bool(latest.get("full_sync", params.force_full_sync)),
            "url": _ui_url(client.base_url, params.syncid), "operation": sync.get("operation"),
            "recovered": True,
        }
        asset = destination_asset(sync)
        if asset is not None:
            facts["asset"] = asset
            facts["destination"] = dict(sync["destination_attributes"])
        ctx.log(f"found Census sync run {run_id} ({latest.get('status')}) started by the "
                "interrupted trigger; waiting for it instead of triggering again")
        return ExternalRun(id=str(run_id),
                           started_at=_parse_time(latest.get("created_at")) or intent.recorded_at,
                           data=facts)

    # -- results -------------------------------------------------------------------------------

    @staticmethod
    def _metadata(run: ExternalRun, data: Mapping[str, Any]) -> dict[str, Any]:
        meta = {k: v for k, v in run.data.items() if k != "asset"}
        meta.update(run_metadata(data))
        return meta

    def _result(self, params: CensusSync, run: ExternalRun, data: Mapping[str, Any],
                klass: RunClass) -> JobResult:
        run_id = data.get("id", run.id)
        meta = self._metadata(run, data)
        asset = run.data.get("asset")
        assets = (asset,) if isinstance(asset, str) else ()
        stats = summary(data)
        if klass is RunClass.SUCCEEDED:
            return JobResult(state=JobState.SUCCEEDED,
                             message=f"sync run {run_id} completed" + (f": {stats}" if stats
                                                                       else ""),
                             metadata=meta, assets=assets)
        if klass is RunClass.CANCELLED:
            return JobResult(state=JobState.CANCELLED,
                             message=f"Census sync run {run_id} was cancelled", metadata=meta)
        if klass is RunClass.SKIPPED:
            why = (f"Census skipped sync run {run_id}: an earlier run of sync "
                   f"{run.data.get('sync_id')} was still running")
            if params.fail_on_skipped:
                return JobResult(state=JobState.FAILED, message=why, metadata=meta,
                                 retryable=True)
            return JobResult(state=JobState.SUCCEEDED, message=why + " (fail_on_skipped: "
                             "false)", metadata=meta)
        error = error_text(data) or "no error message"
        code = data.get("error_code")
        return JobResult(state=JobState.FAILED,
                         message=f"Census sync run {run_id} failed"
                         + (f" ({code})" if isinstance(code, str) and code else "")
                         + f": {error}",
                         metadata=meta)


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str)
