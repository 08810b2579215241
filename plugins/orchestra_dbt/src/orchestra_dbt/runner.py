"""The runner of ``dbt_runjob``: trigger a dbt Cloud job, wait for its run, cancel it.

Every call goes through the host's shared vendor client (retries, ``Retry-After``, one rate
limit per account, redacted errors). ``start`` returns as soon as dbt Cloud answers with the
run id; ``wait`` works from the stored :class:`~orchestra_core.ExternalRun` alone, sleeping
on webhook events (``dbt:<run id>``) with polling as the fallback; ``recover`` finds the run
an interrupted ``start`` created, by the idempotency marker in the run's ``cause``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from orchestra_core import (
    ExternalRun,
    JobResult,
    JobState,
    RateLimit,
    ReadFailures,
    TaskFailed,
    VendorHTTPError,
)

from . import _artifacts
from ._api import DEFAULT_BASE_URL, IN_PROGRESS, TERMINAL, humanized, parse_time
from .webhooks import event_key

__all__ = ("DbtRunner",)

#: The environment variables of the quick-start connection (no stored connection named).
ENV_TOKEN, ENV_ACCOUNT, ENV_BASE_URL = (
    "DBT_CLOUD_API_TOKEN", "DBT_CLOUD_ACCOUNT_ID", "DBT_CLOUD_BASE_URL")
#: dbt Cloud's Administrative API limit: 5,000 requests per minute per account.
REQUESTS_PER_MINUTE = 5000
#: Seconds after a trigger during which a 404 on the new run is retried (it may not be
#: visible yet); later, a 404 means the run is gone.
VISIBILITY_WINDOW = 60.0
#: The longest ``cause`` dbt Cloud accepts.
MAX_CAUSE = 255
#: Shortest time between polls, and the longest wait after repeated transient errors.
MIN_POLL_INTERVAL = 0.05
MAX_ERROR_BACKOFF = 300.0
#: Characters of a raw payload written to the log when it cannot be understood.
RAW_EXCERPT = 2000
#: Runs listed when looking for one created by an interrupted trigger.
RECOVER_LIMIT = 20


def marker(idempotency_key: str) -> str:
    """The tag appended to a run's ``cause`` so that the run can be found again after a
    crash: ``[orchestra <key>]``, or a digest of a key too long to fit."""
    tag = f"[orchestra {idempotency_key}]"
    if len(tag) > MAX_CAUSE // 2:
        tag = f"[orchestra {hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]}]"
    return tag


def cause_with_marker(cause: str, idempotency_key: str) -> str:
    """*cause* followed by the idempotency marker, shortened to dbt Cloud's 255 characters
    (the marker is always kept whole)."""
    tag = marker(idempotency_key)
    room = MAX_CAUSE - len(tag) - 1
    text = " ".join(cause.split())
    if len(text) > room:
        text = text[: max(0, room - 3)].rstrip() + "..."
    return f"{text} {tag}" if text else tag


def _seconds(hms: Any) -> float | None:
    """``"HH:MM:SS"`` (dbt's durations) as seconds."""
    if not isinstance(hms, str):
        return None
    try:
        parts = [float(p) for p in hms.split(":")]
    except ValueError:
        return None
    total = 0.0
    for part in parts:
        total = total * 60 + part
    return total


def _raw(payload: Any, redactor: Any) -> str:
    """A payload for the log: JSON, masked with *redactor* (the host's), cut to
    :data:`RAW_EXCERPT` characters."""
    try:
        text = json.dumps(redactor.mask_obj(payload), default=str, sort_keys=True)
    except (TypeError, ValueError):
        text = redactor.mask(repr(payload))
    return text if len(text) <= RAW_EXCERPT else text[:RAW_EXCERPT] + "..."


class _Api:
    """One task's view of dbt Cloud: the client, the account and the paths under it."""

    def __init__(self, client: Any, account_id: int, access_url: str) -> None:
        self.client = client
        self.account_id = account_id
        self.access_url = access_url
        self.v2 = f"/api/v2/accounts/{account_id}"


def _access_url(base_url: str | None) -> str:
    """The access URL (scheme and host) from a connection's base URL, which may also be
    written with its API path (``https://cloud.getdbt.com/api/v2/accounts/1``)."""
    url = (base_url or DEFAULT_BASE_URL).strip().rstrip("/")
    cut = url.find("/api/")
    if cut != -1:
        url = url[:cut]
    elif url.endswith("/api"):
        url = url[: -len("/api")]
    return url


class DbtRunner:
    """Runs ``dbt_runjob`` tasks. One instance serves every such task of a host.

    The task's connection (``ctx.connection``: a stored dbt connection, or the quick-start
    one from ``DBT_CLOUD_API_TOKEN``, ``DBT_CLOUD_ACCOUNT_ID`` and ``DBT_CLOUD_BASE_URL``)
    gives the access URL (``base_url``, default ``https://cloud.getdbt.com``), the API token
    (credential field ``token``, sent as ``Authorization: Token ...``, or ``Bearer`` when the
    connection's auth is ``bearer``) and the default ``account_id`` (an option).

    :param host: the :class:`~orchestra_core.Orchestra` whose vendor clients (and the
        transports tests install on it) are used, and whose ``redactor`` masks the answers
        the runner logs or keeps.
    """

    def __init__(self, host: Any = None) -> None:
        self.host = host

    # -- the client ------------------------------------------------------------------------------

    def _api(self, ctx: Any, account_id: Any = None) -> _Api:
        conn = ctx.connection
        if conn is None:
            raise TaskFailed(
                "no dbt Cloud connection: set the environment variables "
                f"{ENV_TOKEN} and {ENV_ACCOUNT} (and {ENV_BASE_URL} for a host other than "
                f"{DEFAULT_BASE_URL}), or store a dbt connection (orchestra connections add) "
                "and name it in the task's secondary_configuration_id", retryable=False)
        token = conn.secret("token")
        if not token:
            raise TaskFailed(
                f"dbt Cloud connection {conn.name!r} has no API token: give its credential a "
                f"'token' field (orchestra credentials set), or set {ENV_TOKEN}",
                retryable=False)
        account = account_id if account_id is not None else conn.options.get("account_id")
        if account is None:
            account = conn.secrets.get("account_id")
        try:
            account = int(str(account).strip()) if account is not None else None
        except ValueError:
            raise TaskFailed(f"dbt Cloud account id {account!r} (connection {conn.name!r}) is "
                             "not an integer", retryable=False) from None
        if account is None:
            raise TaskFailed(
                "no dbt Cloud account id: give the task an account_id parameter, set the "
                f"connection option account_id, or set {ENV_ACCOUNT}", retryable=False)
        access = _access_url(conn.base_url)
        scheme = "Bearer" if (conn.auth or "").lower() == "bearer" else "Token"
        client = self.host.vendor_client(
            "dbt", base_url=access,
            headers={"Authorization": f"{scheme} {token}", "Accept": "application/json"},
            rate_limit=RateLimit(REQUESTS_PER_MINUTE, 60.0, key=f"{access}#{account}"))
        return _Api(client, account, access)

    def _raw(self, payload: Any) -> str:
        """*payload* for the log (see :func:`_raw`), the host's secrets masked."""
        return _raw(payload, self.host.redactor)

    def _data(self, response: Any, what: str) -> Any:
        """``data`` of a dbt Cloud envelope, or a clear error."""
        if not isinstance(response, dict) or "data" not in response:
            raise TaskFailed(f"dbt Cloud answered {what} without a data field: "
                             f"{self._raw(response)}", retryable=True)
        return response["data"]

    @staticmethod
    def _refused(exc: VendorHTTPError, what: str) -> TaskFailed:
        """A clearer error for the answers a user can fix (bad token, unknown job)."""
        hint = {401: "the API token is not valid (check the connection's token)",
                403: "the API token may not do this (it needs job admin or developer rights "
                     "on the account)",
                404: "not found: check the account id and the job id"}.get(exc.status or 0)
        if hint is None:
            return exc
        return TaskFailed(f"{what}: {hint} ({exc})", retryable=False, metadata=exc.metadata)

    # -- JobRunner -------------------------------------------------------------------------------

    async def start(self, ctx: Any) -> ExternalRun:
        """Trigger the job; return the run with its id, account and job."""
        params = ctx.parameters
        api = self._api(ctx, params.account_id)
        job_id = params.jobid
        body: dict[str, Any] = {"cause": cause_with_marker(params.cause, ctx.idempotency_key)}
        if params.steps_override:
            body["steps_override"] = list(params.steps_override)
        if params.git_branch:
            body["git_branch"] = params.git_branch
        triggered_at = ctx.now()

        async def find_existing() -> Any:
            found = await self._find_run(ctx, api, job_id, ctx.idempotency_key, triggered_at)
            return {"data": found} if found is not None else None

        what = f"triggering dbt Cloud job {job_id} (account {api.account_id})"
        # the runner protocol: record the intent, then trigger; the run carries the marker of
        # this attempt's idempotency key in its cause, which is what ``recover`` looks for
        await ctx.record_intent({"job_id": job_id, "marker": marker(ctx.idempotency_key)})
        try:
            response = await api.client.post(f"{api.v2}/jobs/{job_id}/run/", json=body,
                                              ctx=ctx, find_existing=find_existing)
        except VendorHTTPError as exc:
            raise self._refused(exc, what) from exc
        run = self._data(response, "the trigger")
        if not isinstance(run, dict) or run.get("id") is None:
            raise TaskFailed(f"{what}: the answer has no run id: {self._raw(response)}",
                             retryable=True)
        href = run.get("href")
        ctx.log(f"dbt Cloud job {job_id} triggered: run {run['id']}"
                + (f" ({href})" if href else ""))
        return self._external(run, api, job_id, triggered_at)

    @staticmethod
    def _external(run: dict[str, Any], api: _Api, job_id: int, started_at: Any) -> ExternalRun:
        data = {"account_id": api.account_id, "job_id": job_id}
        if run.get("href"):
            data["href"] = run["href"]
        return ExternalRun(id=str(run["id"]), started_at=started_at, data=data)

    async def recover(self, ctx: Any) -> ExternalRun | None:
        """The run an interrupted ``start`` of this attempt created, if dbt Cloud has one:
        the run whose cause carries this attempt's marker (proof that this attempt triggered
        it); when dbt Cloud leaves the trigger out, the first run it created at or after the
        recorded intent. No intent recorded: nothing was sent (``None``: trigger)."""
        intent = getattr(ctx, "intent", None)
        if intent is None:
            return None
        params = ctx.parameters
        api = self._api(ctx, params.account_id)
        found = await self._find_run(ctx, api, params.jobid, ctx.idempotency_key,
                                     intent.recorded_at)
        if found is None:
            return None
        ctx.log(f"found dbt Cloud run {found['id']} triggered before the interruption")
        created = parse_time(found.get("created_at")) or ctx.now()
        return self._external(found, api, params.jobid, created)

    async def _find_run(self, ctx: Any, api: _Api, job_id: int, key: str,
                        triggered_at: Any) -> dict[str, Any] | None:
        """The latest run of *job_id* whose cause carries *key*'s marker; when dbt Cloud
        leaves out the trigger (and so the cause), the first one created at or after
        *triggered_at*."""
        response = await api.client.get(f"{api.v2}/runs/", params={
            "job_definition_id": job_id, "order_by": "-id", "limit": RECOVER_LIMIT,
            "include_related": '["trigger"]'}, ctx=ctx)
        runs = response.get("data") if isinstance(response, dict) else None
        tag = marker(key)
        fallback = None
        for run in runs if isinstance(runs, list) else []:
            if not isinstance(run, dict):
                continue
            trigger = run.get("trigger")
            if isinstance(trigger, dict):
                if tag in str(trigger.get("cause") or ""):
                    return run
                continue
            created = parse_time(run.get("created_at"))
            if triggered_at is not None and created is not None and created >= triggered_at:
                fallback = run  # newest first: keep the earliest that qualifies
        return fallback

    async def wait(self, ctx: Any, run: ExternalRun) -> JobResult:
        """Wait for the run to end, woken by webhook events and polling in between."""
        params = ctx.parameters
        api = self._api(ctx, run.data.get("account_id"))
        interval = max(float(params.poll_interval), MIN_POLL_INTERVAL)
        limit = params.wait_timeout
        key = event_key(run.id)
        last: Any = None
        failures = ReadFailures(interval, max_delay=MAX_ERROR_BACKOFF, give_up_after=None,
                                max_doublings=16)
        while True:
            data = await self._poll(ctx, api, run)
            if data is None:  # a transient failure: back off, keep the run
                delay = failures.failed(ctx.now())
            else:
                failures.succeeded()
                status = data.get("status")
                if status in TERMINAL and not isinstance(status, bool):
                    return await self._result(ctx, api, run, data)
                if status not in IN_PROGRESS or isinstance(status, bool):
                    ctx.log(f"dbt Cloud run {run.id}: unknown status {status!r}; the run as "
                            f"received: {self._raw(data)}", level="error")
                    raise TaskFailed(
                        f"dbt Cloud run {run.id} reports status {status!r}, which Orchestra "
                        "does not know (expected 1, 2, 3, 10, 20 or 30); the run is left "
                        "as it is", retryable=False,
                        metadata={**self._meta(run, data),
                                  "raw": self.host.redactor.mask_obj(data)})
                if status != last:
                    ctx.log(f"dbt Cloud run {run.id} is {humanized(status)} ({status})")
                    last = status
                delay = interval
            elapsed = (ctx.now() - run.started_at).total_seconds()
            if limit is not None and elapsed >= limit:
                await self._cancel(ctx, api, run)
                raise TaskFailed(
                    f"dbt Cloud run {run.id} did not finish within {limit:g} s "
                    "(wait_timeout); it was cancelled",
                    metadata=self._meta(run, data or {}))
            if limit is not None:
                delay = min(delay, max(limit - elapsed, MIN_POLL_INTERVAL))
            event = await ctx.next_event(key, delay)
            if event is not None:
                ctx.log(f"webhook {event.kind} for dbt Cloud run {run.id}")

    async def _poll(self, ctx: Any, api: _Api, run: ExternalRun) -> dict[str, Any] | None:
        """The run as dbt Cloud reports it now; ``None`` after a transient failure."""
        since = (ctx.now() - run.started_at).total_seconds()
        window = VISIBILITY_WINDOW - since if since < VISIBILITY_WINDOW else None
        try:
            response = await api.client.get(f"{api.v2}/runs/{run.id}/", ctx=ctx,
                                            ok_404_within=window)
        except VendorHTTPError as exc:
            if exc.retryable:
                ctx.log(f"could not read dbt Cloud run {run.id}: {exc}; still waiting",
                        level="warning")
                return None
            raise self._refused(exc, f"reading dbt Cloud run {run.id}") from exc
        data = response.get("data") if isinstance(response, dict) else None
        if not isinstance(data, dict):
            ctx.log(f"dbt Cloud run {run.id}: unreadable answer: {self._raw(response)}",
                    level="error")
            raise TaskFailed(f"dbt Cloud answered a run request for run {run.id} without the "
                             "run (no data object)", retryable=False,
                             metadata={"run_id": run.id,
                                       "raw": self.host.redactor.mask_obj(response)})
        return data

    async def cancel(self, ctx: Any, run: ExternalRun) -> None:
        """Cancel the run in dbt Cloud (a run that has ended is left as it is)."""
        api = self._api(ctx, run.data.get("account_id"))
        await self._cancel(ctx, api, run)

    async def _cancel(self, ctx: Any, api: _Api, run: ExternalRun) -> None:
        response = await api.client.post(f"{api.v2}/runs/{run.id}/cancel/", ctx=ctx,
                                          idempotent=True)
        data = response.get("data") if isinstance(response, dict) else None
        status = data.get("status") if isinstance(data, dict) else None
        ctx.log(f"asked dbt Cloud to cancel run {run.id}; it is now {humanized(status)}",
                level="warning")

    # -- the result ------------------------------------------------------------------------------

    @staticmethod
    def _meta(run: ExternalRun, data: dict[str, Any]) -> dict[str, Any]:
        status = data.get("status")
        meta: dict[str, Any] = {
            "run_id": run.id, "job_id": run.data.get("job_id"),
            "account_id": run.data.get("account_id"), "status": status,
            "status_humanized": data.get("status_humanized") or humanized(status),
            "href": data.get("href") or run.data.get("href"),
        }
        for key in ("status_message", "created_at", "started_at", "finished_at",
                    "git_branch", "git_sha", "dbt_version", "environment_id", "project_id"):
            if data.get(key) is not None:
                meta[key] = data[key]
        for key in ("duration", "queued_duration", "run_duration"):
            seconds = _seconds(data.get(key))
            if seconds is not None:
                meta[f"{key}_seconds"] = seconds
        if "duration_seconds" not in meta:
            start, end = parse_time(data.get("created_at")), parse_time(data.get("finished_at"))
            if start and end:
                meta["duration_seconds"] = (end - start).total_seconds()
        return meta

    async def _artifact(self, ctx: Any, api: _Api, run: ExternalRun, path: str) -> Any:
        try:
            return await api.client.get(f"{api.v2}/runs/{run.id}/artifacts/{path}", ctx=ctx)
        except VendorHTTPError as exc:
            if exc.status == 404:
                return None
            raise

    async def _result(self, ctx: Any, api: _Api, run: ExternalRun,
                      data: dict[str, Any]) -> JobResult:
        status = data["status"]
        state = TERMINAL[status]
        meta = self._meta(run, data)
        nodes: list[dict[str, Any]] = []
        if state is not JobState.CANCELLED:
            try:
                results = await self._artifact(ctx, api, run, "run_results.json")
                manifest = None
                if results is not None and _artifacts.needs_manifest(results):
                    manifest = await self._artifact(ctx, api, run, "manifest.json")
                if results is None:
                    meta["artifacts"] = None
                else:
                    nodes = _artifacts.node_results(results, manifest)
                    meta["artifacts"] = _artifacts.summary(nodes)
            except VendorHTTPError as exc:
                ctx.log(f"could not read the artifacts of dbt Cloud run {run.id}: {exc}",
                        level="warning")
                meta["artifacts_error"] = str(exc)
        assets = _artifacts.built_assets(nodes)
        where = f" ({meta['href']})" if meta.get("href") else ""
        took = meta.get("duration_seconds")
        took_text = f" in {took:g} s" if isinstance(took, int | float) else ""
        if state is JobState.SUCCEEDED:
            built = f": {len(assets)} models built" if nodes else ""
            return JobResult(state=state, message=f"dbt Cloud run {run.id} succeeded"
                             f"{took_text}{built}{where}", metadata=meta, assets=assets)
        if state is JobState.CANCELLED:
            return JobResult(state=state, message=f"dbt Cloud run {run.id} was cancelled"
                             f"{where}", metadata=meta, retryable=False)
        failed = [n["name"] for n in nodes if n["status"] in ("error", "fail")]
        reason = data.get("status_message") or "the run ended with an error"
        detail = f"; failed: {', '.join(failed[:10])}" if failed else ""
        return JobResult(state=state, message=f"dbt Cloud run {run.id} failed: {reason}"
                         f"{detail}{where}", metadata=meta, assets=assets)
