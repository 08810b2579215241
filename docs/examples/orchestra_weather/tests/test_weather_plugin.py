"""Tests of the example plugin beyond the contract: validation as a user meets it, the
runner's own results, and a pipeline run against the served simulator."""

from __future__ import annotations

import json

import orchestra_weather.plugin
import pytest
from orchestra_weather.destination import ArchiveOptions, WeatherArchive
from orchestra_weather.simulator import WeatherSimulator

from orchestra_core import JobState
from orchestra_core.testing import DestinationContract, FakeClock, StubContext, make_host

PIPELINE = """\
name: weather_daily
tasks:
  - id: sfo
    integration: WEATHER                # names match case-insensitively
    integration_job: WEATHER_REFRESH
    StationId: KSFO                     # an alias of station (any case), at the top level
  - id: heathrow
    integration: weather
    integration_job: weather_refresh
    parameters: {station: EGLL, units: standard, poll_interval: 0.2}
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


def test_validator_errors_are_located_at_their_field():
    host = make_host(orchestra_weather.plugin)
    text = PIPELINE.replace("{station: EGLL, units: standard,", "{station: ' ', units: kelvin,")
    _, problems = host.check_text(text, source="weather.yaml")
    # validators run in field order and the first failing one is reported
    assert [p.format() for p in problems] == [
        "weather.yaml:10:27: $.tasks[1].parameters.station: station must not be empty"]
    _, problems = host.check_text(text.replace("' '", "EGLL"), source="weather.yaml")
    assert [p.format() for p in problems] == [
        "weather.yaml:10:40: $.tasks[1].parameters.units: 'units' must be in "
        "('metric', 'imperial', 'standard') (got 'kelvin')"]


def test_the_same_station_twice_is_refused_by_the_pipeline_check():
    host = make_host(orchestra_weather.plugin)
    _, problems = host.check_text(PIPELINE.replace("station: EGLL", "station: ksfo"),
                                  source="weather.yaml")
    assert [p.format() for p in problems] == [
        "weather.yaml:10:27: $.tasks[1].parameters.station: task 'sfo' refreshes station "
        "KSFO already"]


def test_missing_station_names_the_parameter():
    host = make_host(orchestra_weather.plugin)
    _, problems = host.check_text(PIPELINE.replace("StationId: KSFO", "units: metric"))
    assert [p.format() for p in problems] == [
        "$.tasks[0].parameters: missing required parameter 'station' "
        "(the station code, e.g. KSFO) (integration job weather_refresh)",
    ]


async def test_a_refresh_reports_its_observations_and_asset():
    clock = FakeClock(autojump=True)
    sim = WeatherSimulator(clock=clock)
    host = make_host(orchestra_weather.plugin)
    host.set_transport("weather", sim.transport)
    runner = host.runner(host.find_job("weather", "weather_refresh"))
    params, _ = host.structure_parameters(host.find_job("weather", "weather_refresh"),
                                          {"station": "egll", "units": "imperial"})
    ctx = StubContext(params, clock=clock, connection=sim.connection())
    run = await runner.start(ctx)
    result = await runner.wait(ctx, run)
    assert (result.state, result.message, result.assets) == (
        JobState.SUCCEEDED, "24 observations stored", ("weather.EGLL",))
    assert sim.refreshes[1]["units"] == "imperial"
    await runner.cancel(ctx, run)  # finished already: left alone, and said so
    assert sim.view(sim.refreshes[1])["status"] == "succeeded"


def test_a_pipeline_runs_against_the_served_simulator(tmp_path, monkeypatch):
    """What ``orchestra run --simulate`` does, by hand: serve the simulator, point the
    quick-start variables at it, run."""
    import anyio

    sim = WeatherSimulator(run_duration=0.5)
    host = make_host(orchestra_weather.plugin)
    (tmp_path / "p.yaml").write_text(PIPELINE.replace("KSFO  ", "KSFO\n    poll_interval: 0.2"
                                                      "  ", 1))
    with sim.serve() as url:
        monkeypatch.setenv("WEATHER_BASE_URL", url)
        monkeypatch.setenv("WEATHER_TOKEN", sim.token)
        result = anyio.run(lambda: host.run(str(tmp_path / "p.yaml"),
                                            db=str(tmp_path / "o.db")))
    assert result.succeeded, result.error
    assert {r["station"] for r in sim.refreshes.values()} == {"KSFO", "EGLL"}


# -- the destination, through the destination contract ----------------------------------------


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
