"""Tests of the example plugin: the contract, validation, and the runner against a fake API."""

from __future__ import annotations

import json
from typing import Any

import anyio
import attrs
import httpx
import orchestra_weather.plugin
import pytest
from orchestra_weather import WeatherRefresh, WeatherRunner

from orchestra_core import JobRunner, JobState, TaskContext, TaskFailed
from orchestra_core.testing import FakeClock, IntegrationJobContract, make_host

# -- the contract every integration job must pass ---------------------------------------------


class TestWeatherRefreshContract(IntegrationJobContract):
    plugin = orchestra_weather.plugin
    distribution = None  # not installed when run from a checkout; "orchestra-weather" if it is
    integration = "weather"
    job = "weather_refresh"
    valid_parameters = {"station": "KSFO"}
    required_parameters = ("station",)


# -- validation of pipelines using the job ----------------------------------------------------

PIPELINE = """\
name: weather_daily
tasks:
  - id: sfo
    integration: WEATHER                # names match case-insensitively
    integration_job: WEATHER_REFRESH
    station_id: KSFO                    # an alias of station, at the task's top level
  - id: heathrow
    integration: weather
    integration_job: weather_refresh
    parameters: {station: EGLL, units: standard}
  - id: report
    integration: noop
    integration_job: noop_run
    depends_on: [sfo, heathrow]
"""


def test_pipeline_validates():
    host = make_host(orchestra_weather.plugin)
    pipeline, problems = host.check_text(PIPELINE, source="weather.yaml")
    assert problems == []
    sfo = pipeline.task("sfo")
    assert (sfo.integration, sfo.integration_job) == ("weather", "weather_refresh")
    assert sfo.parameters == {"station": "KSFO"}
    assert host.find_job("weather", "weather_refresh").phase == "ingestion"


def test_bad_units_and_blank_station_are_reported_with_their_place():
    host = make_host(orchestra_weather.plugin)
    text = PIPELINE.replace("{station: EGLL, units: standard}", "{station: ' ', units: kelvin}")
    _, problems = host.check_text(text, source="weather.yaml")
    assert [p.format() for p in problems] == [
        "weather.yaml:10:27: $.tasks[1].parameters.station: station must not be empty",
        "weather.yaml:10:39: $.tasks[1].parameters.units: "
        "expected one of metric, imperial, standard, got 'kelvin'",
    ]


def test_missing_station_names_the_parameter():
    host = make_host(orchestra_weather.plugin)
    _, problems = host.check_text(PIPELINE.replace("station_id: KSFO", "units: metric"))
    assert [p.format() for p in problems] == [
        "$.tasks[0].parameters: missing required parameter 'station' "
        "(the station code, e.g. KSFO) (integration job weather_refresh)",
    ]


# -- the runner, against an in-process fake of the weather service -----------------------------


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    """Run every async test on asyncio and on trio: runners must work on both."""
    return request.param



class FakeWeatherService:
    """The weather API in memory. A refresh ends ``duration`` clock seconds after it starts.

    Station ``XFAIL`` always fails; ``down = True`` answers 503 to everything.
    """

    observations = {"KSFO": 24, "EGLL": 48, "XFAIL": 0}

    def __init__(self, clock: FakeClock, duration: float = 12.0) -> None:
        self.clock = clock
        self.duration = duration
        self.refreshes: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        self.down = False

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        if self.down:
            return httpx.Response(503, json={"error": "down for maintenance"})
        match request.method, request.url.path.strip("/").split("/"):
            case "POST", ["v1", "stations", station, "refreshes"]:
                if station not in self.observations:
                    return httpx.Response(404, json={"error": f"no station {station}"})
                rid = f"r-{len(self.refreshes) + 1}"
                self.refreshes[rid] = {
                    "id": rid, "station": station, "status": "queued",
                    "units": json.loads(request.content)["units"],
                    "due": self.clock.monotonic() + self.duration,
                }
                return httpx.Response(201, json=self.public(rid))
            case "GET", ["v1", "refreshes", rid] if rid in self.refreshes:
                self.progress(rid)
                return httpx.Response(200, json=self.public(rid))
            case "DELETE", ["v1", "refreshes", rid] if rid in self.refreshes:
                self.progress(rid)
                refresh = self.refreshes[rid]
                if refresh["status"] not in ("queued", "running"):
                    return httpx.Response(409, json={"error": "refresh already finished"})
                refresh["status"] = "cancelled"
                return httpx.Response(202, json=self.public(rid))
        return httpx.Response(404, json={"error": "not found"})

    def progress(self, rid: str) -> None:
        refresh = self.refreshes[rid]
        if refresh["status"] not in ("queued", "running"):
            return
        if self.clock.monotonic() < refresh["due"]:
            refresh["status"] = "running"
        elif refresh["station"] == "XFAIL":
            refresh.update(status="failed", error="sensor offline", retryable=True)
        else:
            refresh.update(status="succeeded", observations=self.observations[refresh["station"]])

    def public(self, rid: str) -> dict[str, Any]:
        return {k: v for k, v in self.refreshes[rid].items() if k != "due"}


@attrs.define
class Context:
    """The smallest object satisfying the TaskContext protocol, on a fake clock."""

    parameters: Any
    clock: FakeClock
    pipeline: str = "weather_daily"
    task_id: str = "sfo"
    run_id: str = "run-1"
    attempt: int = 1
    task: Any = None  # the validated Task; this runner reads only ctx.parameters
    connection: Any = None  # no stored connection: the runner knows its base URL
    run_type: str = "full"
    started_at: Any = None  # when the attempt began; only recovering runners read it
    intent: Any = None  # what record_intent recorded; only recovering runners read it
    lines: list[str] = attrs.field(factory=list)

    @property
    def idempotency_key(self) -> str:
        return f"{self.run_id}/{self.task_id}/{self.attempt}"

    async def record_intent(self, facts: Any = None) -> None:
        self.intent = facts  # the engine stores an Intent durably; enough for this runner

    def log(self, message: str, *, level: str = "info") -> None:
        self.lines.append(f"{level}: {message}")

    async def sleep(self, seconds: float) -> None:
        await self.clock.sleep(seconds)

    def now(self) -> Any:
        return self.clock.now()

    async def next_event(self, key: str, timeout: float) -> None:
        await self.clock.sleep(timeout)  # no webhooks in this service: always poll


def make_runner(station: str = "KSFO", clock: FakeClock | None = None):
    clock = clock or FakeClock(autojump=True)
    service = FakeWeatherService(clock)
    runner = WeatherRunner(transport=service.transport(), poll_interval=5.0)
    ctx = Context(parameters=WeatherRefresh(station=station, units="imperial"), clock=clock)
    return service, runner, ctx


def test_runner_and_context_satisfy_the_protocols():
    _, runner, ctx = make_runner()
    assert isinstance(runner, JobRunner)
    assert isinstance(ctx, TaskContext)


async def test_start_then_wait_until_the_refresh_succeeds():
    service, runner, ctx = make_runner()
    run = await runner.start(ctx)
    assert run.id == "r-1"
    assert run.started_at == ctx.clock.now()
    assert service.refreshes["r-1"]["units"] == "imperial"

    result = await runner.wait(ctx, run)
    assert result.state is JobState.SUCCEEDED
    assert result.message == "24 observations stored"
    assert result.assets == ("weather.KSFO",)
    assert ctx.clock.monotonic() == 15.0  # polled at 0, 5, 10 and 15 s; done after 12 s
    assert service.requests == ["POST /v1/stations/KSFO/refreshes"] + 4 * ["GET /v1/refreshes/r-1"]
    assert ctx.lines == ["info: refresh r-1 of station KSFO accepted"]


async def test_wait_resumes_from_the_stored_run_in_a_new_runner():
    service, runner, ctx = make_runner()
    run = await runner.start(ctx)
    restarted = WeatherRunner(transport=service.transport(), poll_interval=5.0)
    assert (await restarted.wait(ctx, run)).state is JobState.SUCCEEDED


async def test_cancel_while_waiting(orchestra_clock):
    service, runner, ctx = make_runner(clock=orchestra_clock)  # a clock that only moves when told
    run = await runner.start(ctx)
    results = []

    async def wait() -> None:
        results.append(await runner.wait(ctx, run))

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        await anyio.wait_all_tasks_blocked()  # wait() is asleep between two polls
        assert orchestra_clock.sleepers == 1
        await runner.cancel(ctx, run)
        orchestra_clock.advance(5)  # the next poll sees the cancellation
    assert [r.state for r in results] == [JobState.CANCELLED]
    assert "DELETE /v1/refreshes/r-1" in service.requests


async def test_cancel_after_the_refresh_finished_is_a_no_op():
    _, runner, ctx = make_runner()
    run = await runner.start(ctx)
    await runner.wait(ctx, run)
    await runner.cancel(ctx, run)
    assert ctx.lines[-1] == "info: refresh r-1 not cancelled: it has already finished"


async def test_a_failed_refresh_is_a_failed_result():
    _, runner, ctx = make_runner(station="XFAIL")
    result = await runner.wait(ctx, await runner.start(ctx))
    assert (result.state, result.message, result.retryable) == (
        JobState.FAILED, "sensor offline", True)


async def test_an_unknown_station_fails_at_start_for_good():
    _, runner, ctx = make_runner(station="NOWHERE")
    with pytest.raises(TaskFailed, match=r"answered 404 .*: no station NOWHERE") as caught:
        await runner.start(ctx)
    assert caught.value.retryable is False


async def test_an_outage_is_retryable():
    service, runner, ctx = make_runner()
    service.down = True
    with pytest.raises(TaskFailed, match="answered 503") as caught:
        await runner.start(ctx)
    assert caught.value.retryable is True


# -- the destination, through the destination contract ----------------------------------------

from orchestra_weather.destination import ArchiveOptions, WeatherArchive  # noqa: E402

from orchestra_core.testing import DestinationContract  # noqa: E402


class TestWeatherArchive(DestinationContract):
    @pytest.fixture
    def make_destination(self, tmp_path):
        def make(case="ok"):
            if case in ("refused_auth", "unreachable", "full_disk"):
                pytest.skip("a local directory: no auth, no host, no small disk here")
            directory = "/sys" if case == "permission_denied" else str(tmp_path)
            return WeatherArchive(ArchiveOptions(directory=directory))
        return make

    @pytest.fixture
    def delivered(self, tmp_path):
        def rows():
            path = tmp_path / "observations.jsonl"
            if not path.exists():
                return []
            return [tuple(json.loads(line).values()) for line in path.read_text().splitlines()]
        return rows


def test_the_destination_type_is_registered():
    host = make_host(orchestra_weather.plugin)
    assert host.destinations.find("weather_archive").plugin
