"""The job runner of ``weather_refresh``, on the recommended path: its HTTP client from
``host.vendor_client`` (shared pools, retries of transient errors, the simulator's transport
in tests), the URL and token from ``ctx.connection``, the intent recorded before the
trigger, and waits on ``ctx.sleep``.

The service (made up for this example; :mod:`orchestra_weather.simulator` serves it)::

    POST   /v1/stations/{station}/refreshes  {"units": ...}  -> 201 {"id": 7, "status": ...}
    GET    /v1/refreshes/{id}                                -> {"id": 7, "status": ...}
    GET    /v1/refreshes?station={station}                   -> {"data": [newest first]}
    DELETE /v1/refreshes/{id}                                -> the refresh

``status`` is ``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from orchestra_core import ExternalRun, JobResult, JobState, TaskContext, TaskFailed

DEFAULT_BASE_URL = "https://api.weather.example/v1"

_RUNNING = ("queued", "running")


class WeatherRunner:
    """Starts, waits for, cancels and recovers refreshes. One instance serves every task of
    the job: it keeps no per-task state.

    :param host: the :class:`~orchestra_core.Orchestra` building the runner.
    """

    def __init__(self, host: Any) -> None:
        self.host = host

    def client(self, ctx: TaskContext) -> Any:
        """The service's client for the task's connection."""
        conn = ctx.connection
        token = conn.secret("token") if conn is not None else None
        if not token:
            raise TaskFailed("no weather service token: set WEATHER_TOKEN (and "
                             "WEATHER_BASE_URL), or name a connection in the task's "
                             "secondary_configuration_id", retryable=False)
        return self.host.vendor_client("weather", base_url=conn.base_url or DEFAULT_BASE_URL,
                                       headers={"Authorization": f"Bearer {token}"})

    async def _refreshes(self, ctx: TaskContext, station: str) -> list[dict[str, Any]]:
        found = await self.client(ctx).get("/refreshes", params={"station": station}, ctx=ctx)
        return [r for r in found.get("data", []) if isinstance(r, dict)]

    async def start(self, ctx: TaskContext) -> ExternalRun:
        """Note the newest refresh of the station, record that as the intent, then ask for
        a refresh; return as soon as the service has accepted it."""
        params = ctx.parameters
        station = params.station.upper()
        newest = max((int(r["id"]) for r in await self._refreshes(ctx, station)), default=0)
        await ctx.record_intent({"newest_refresh": newest})

        async def find_existing() -> Any:  # the answer to the POST was lost
            newer = [r for r in await self._refreshes(ctx, station) if int(r["id"]) > newest]
            return min(newer, key=lambda r: int(r["id"])) if newer else None

        refresh = await self.client(ctx).post(
            f"/stations/{quote(station, safe='')}/refreshes", json={"units": params.units},
            ctx=ctx, find_existing=find_existing)
        ctx.log(f"refresh {refresh['id']} of station {station} accepted")
        return ExternalRun(id=str(refresh["id"]), started_at=ctx.now(),
                           data={"station": station})

    async def recover(self, ctx: TaskContext) -> ExternalRun | None:
        """After a crash between the intent and the stored run: the first refresh newer than
        the one the intent noted, or ``None`` (nothing was sent: the engine starts again)."""
        if ctx.intent is None:
            return None
        station = ctx.parameters.station.upper()
        newer = [int(r["id"]) for r in await self._refreshes(ctx, station)
                 if int(r["id"]) > int(ctx.intent.facts.get("newest_refresh", 0))]
        if not newer:
            return None
        return ExternalRun(id=str(min(newer)), started_at=ctx.now(), data={"station": station})

    async def wait(self, ctx: TaskContext, run: ExternalRun) -> JobResult:
        """Poll until the refresh ends. Uses nothing but *run*, so it works after a restart."""
        while True:
            refresh = await self.client(ctx).get(f"/refreshes/{quote(run.id, safe='')}",
                                                 ctx=ctx)
            status = refresh.get("status")
            if status == "succeeded":
                return JobResult(state=JobState.SUCCEEDED,
                                 message=f"{refresh.get('observations', 0)} observations stored",
                                 metadata=refresh, assets=(f"weather.{run.data['station']}",))
            if status == "failed":
                return JobResult(state=JobState.FAILED,
                                 message=refresh.get("error") or "refresh failed",
                                 metadata=refresh, retryable=bool(refresh.get("retryable")))
            if status == "cancelled":
                return JobResult(state=JobState.CANCELLED, message="refresh cancelled",
                                 metadata=refresh)
            if status not in _RUNNING:
                raise TaskFailed(f"refresh {run.id} has an unknown status {status!r}",
                                 retryable=False, metadata=refresh)
            await ctx.sleep(ctx.parameters.poll_interval)

    async def cancel(self, ctx: TaskContext, run: ExternalRun) -> None:
        """Cancel the refresh; one that has already finished is left as it is."""
        refresh = await self.client(ctx).delete(f"/refreshes/{quote(run.id, safe='')}",
                                                ctx=ctx)
        if isinstance(refresh, dict) and refresh.get("status") not in ("cancelled", *_RUNNING):
            ctx.log(f"refresh {run.id} not cancelled: it has already finished")
