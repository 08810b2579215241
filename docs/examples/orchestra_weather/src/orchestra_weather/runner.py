"""The job runner of ``weather_refresh``: talks to the weather service's REST API over httpx.

The service (made up for this example; the tests serve it in-process) has three endpoints::

    POST   /v1/stations/{station}/refreshes  {"units": ...}  -> 201 {"id": "r-1", "status": ...}
    GET    /v1/refreshes/{id}                                -> 200 {"id": ..., "status": ...}
    DELETE /v1/refreshes/{id}                                -> 202, or 409 once finished

``status`` is ``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled``.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import httpx

from orchestra_core import ExternalRun, JobResult, JobState, TaskContext, TaskFailed

DEFAULT_BASE_URL = "https://api.weather.example"


class WeatherRunner:
    """Starts, waits for and cancels refreshes. One instance serves every task of the job.

    :param host: the :class:`~orchestra_core.Orchestra` building the runner (unused here).
    :param base_url: the service; default ``$WEATHER_API_URL`` or :data:`DEFAULT_BASE_URL`.
    :param transport: an httpx transport; tests pass an ``httpx.MockTransport``.
    :param poll_interval: seconds between status requests while waiting.
    """

    def __init__(
        self,
        host: Any = None,
        *,
        base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        poll_interval: float = 5.0,
    ) -> None:
        self.base_url = base_url or os.environ.get("WEATHER_API_URL", DEFAULT_BASE_URL)
        self.transport = transport
        self.poll_interval = poll_interval

    async def start(self, ctx: TaskContext) -> ExternalRun:
        """Ask for a refresh; return as soon as the service has accepted it."""
        params = ctx.parameters
        response = await self._call(
            "POST", f"/v1/stations/{quote(params.station, safe='')}/refreshes",
            json={"units": params.units},
        )
        refresh = response.json()
        ctx.log(f"refresh {refresh['id']} of station {params.station} accepted")
        return ExternalRun(
            id=refresh["id"], started_at=ctx.now(), data={"station": params.station}
        )

    async def wait(self, ctx: TaskContext, run: ExternalRun) -> JobResult:
        """Poll until the refresh ends. Uses nothing but *run*, so it works after a restart."""
        while True:
            refresh = (await self._call("GET", f"/v1/refreshes/{run.id}")).json()
            status = refresh["status"]
            if status == "succeeded":
                return JobResult(
                    state=JobState.SUCCEEDED,
                    message=f"{refresh['observations']} observations stored",
                    metadata=refresh,
                    assets=(f"weather.{run.data['station']}",),
                )
            if status == "failed":
                return JobResult(
                    state=JobState.FAILED,
                    message=refresh.get("error", "refresh failed"),
                    metadata=refresh,
                    retryable=bool(refresh.get("retryable")),
                )
            if status == "cancelled":
                return JobResult(state=JobState.CANCELLED, message="refresh cancelled")
            await ctx.sleep(self.poll_interval)

    async def cancel(self, ctx: TaskContext, run: ExternalRun) -> None:
        """Cancel the refresh. One that has already finished is left as it is."""
        response = await self._call("DELETE", f"/v1/refreshes/{run.id}", ok=(404, 409))
        if response.status_code == 409:
            ctx.log(f"refresh {run.id} not cancelled: it has already finished")
        elif response.status_code == 404:
            ctx.log(f"refresh {run.id} not cancelled: the service does not know it",
                    level="warning")

    async def _call(
        self, method: str, url: str, *, ok: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        """Send one request; turn errors into :class:`TaskFailed` (retryable when it may help)."""
        try:
            async with httpx.AsyncClient(
                base_url=self.base_url, transport=self.transport, timeout=30.0
            ) as client:
                response = await client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise TaskFailed(f"weather service unreachable: {exc}", retryable=True) from exc
        if response.status_code >= 400 and response.status_code not in ok:
            try:
                reason = response.json().get("error", response.text)
            except ValueError:
                reason = response.text
            raise TaskFailed(
                f"weather service answered {response.status_code} to {method} {url}: {reason}",
                retryable=response.status_code == 429 or response.status_code >= 500,
            )
        return response
