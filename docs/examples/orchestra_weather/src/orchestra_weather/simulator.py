"""A simulator of the weather service, built on the core's kit
(:class:`orchestra_core.testing.Simulator`): the tests drive it on a fake clock through
``sim.transport``; ``orchestra run --simulate`` and ``orchestra simulate weather`` serve it on
127.0.0.1.

A refresh is ``queued`` for the first tenth of ``run_duration``, ``running`` until
``run_duration``, then ``succeeded`` (station ``XFAIL`` fails, as do stations listed in
``failing``). Every status is computed from the clock when asked: no background task.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestra_core import Connection, format_timestamp
from orchestra_core.testing import Simulator, bearer_token


class WeatherSimulator(Simulator):
    """The weather service, simulated. Every constructor argument is optional."""

    name = "weather"
    base_path = "/v1"
    default_run_duration = 12.0

    def __init__(self, *, token: str = "weather-test-token", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.refreshes: dict[int, dict[str, Any]] = {}
        #: stations whose next refreshes fail
        self.failing: set[str] = {"XFAIL"}

    def routes(self) -> list[Any]:
        """The service's endpoints."""
        return [
            Route("/v1/stations/{station}/refreshes", self.create, methods=["POST"]),
            Route("/v1/refreshes", self.list, methods=["GET"]),
            Route("/v1/refreshes/{id:int}", self.get, methods=["GET"]),
            Route("/v1/refreshes/{id:int}", self.cancel, methods=["DELETE"]),
        ]

    def authenticate(self, request: Request) -> bool:
        """A request needs the bearer token."""
        return bearer_token(request) == self.token

    def error_response(self, status: int, message: str) -> Response:
        """Errors as the service words them."""
        return JSONResponse({"error": message}, status_code=status)

    def credentials(self) -> dict[str, str]:
        """The keys are those of the ConnectionSpec's ``env`` (``--simulate`` maps them)."""
        return {"token": self.token}

    def describe(self) -> dict[str, Any]:
        """What ``orchestra simulate`` prints."""
        return {"stations": "any code; XFAIL fails", "refreshes": len(self.refreshes)}

    def connection(self) -> Connection:
        """A connection to this simulator, for tests."""
        return Connection(name="weather-sim", integration="weather", base_url=self.base_url,
                          secrets=self.credentials())

    def start_refresh(self, station: str, *, fails: bool | None = None,
                      units: str = "metric") -> dict[str, Any]:
        """Start a refresh of *station* (as the service's own schedule would)."""
        with self.lock:
            rid = len(self.refreshes) + 1
            self.refreshes[rid] = {
                "id": rid, "station": station, "units": units, "created": self.now(),
                "fails": station in self.failing if fails is None else fails,
                "cancelled": False,
            }
            return self.view(self.refreshes[rid])

    def view(self, refresh: dict[str, Any]) -> dict[str, Any]:
        """The refresh as the API shows it now."""
        elapsed = self.elapsed(refresh["created"])
        shown = {"id": refresh["id"], "station": refresh["station"],
                 "units": refresh["units"], "created_at": format_timestamp(refresh["created"])}
        if refresh["cancelled"]:
            shown["status"] = "cancelled"
        elif elapsed < self.run_duration / 10:
            shown["status"] = "queued"
        elif elapsed < self.run_duration:
            shown["status"] = "running"
        elif refresh["fails"]:
            shown.update(status="failed", error="sensor offline", retryable=True)
        else:
            shown.update(status="succeeded", observations=24)
        return shown

    async def create(self, request: Request) -> Response:
        """``POST /v1/stations/{station}/refreshes``."""
        body = await request.json()
        units = body.get("units", "metric") if isinstance(body, dict) else "metric"
        return JSONResponse(self.start_refresh(request.path_params["station"], units=units),
                            status_code=201)

    async def list(self, request: Request) -> Response:
        """``GET /v1/refreshes?station=``, newest first."""
        station = request.query_params.get("station")
        found = [self.view(r) for r in self.refreshes.values()
                 if station is None or r["station"] == station]
        return JSONResponse({"data": sorted(found, key=lambda r: -r["id"])})

    async def get(self, request: Request) -> Response:
        """``GET /v1/refreshes/{id}``."""
        refresh = self.refreshes.get(request.path_params["id"])
        if refresh is None:
            return self.error_response(404, "no such refresh")
        return JSONResponse(self.view(refresh))

    async def cancel(self, request: Request) -> Response:
        """``DELETE /v1/refreshes/{id}``: cancels one still running."""
        refresh = self.refreshes.get(request.path_params["id"])
        if refresh is None:
            return self.error_response(404, "no such refresh")
        if self.view(refresh)["status"] in ("queued", "running"):
            refresh["cancelled"] = True
        return JSONResponse(self.view(refresh))
