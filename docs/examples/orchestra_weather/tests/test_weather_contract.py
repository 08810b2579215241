"""The core's contract tests, inherited: the job's registration and parameters, and the
runner against the simulator (start, wait, fail, cancel, resume, retries, no duplicate
trigger, recovery after a crash)."""

from __future__ import annotations

import orchestra_weather.plugin
from orchestra_weather.simulator import WeatherSimulator

from orchestra_core.testing import IntegrationJobContract, VendorRunnerContract


class TestWeatherRefresh(IntegrationJobContract):
    plugin = orchestra_weather.plugin
    distribution = None  # not installed when run from a checkout; "orchestra-weather" if it is
    integration = "weather"
    job = "weather_refresh"
    valid_parameters = {"station": "KSFO"}
    required_parameters = ("station",)


class TestWeatherRunner(VendorRunnerContract):
    plugin = orchestra_weather.plugin
    integration = "weather"
    job = "weather_refresh"
    trigger_pattern = "/v1/stations/*/refreshes"

    def make_simulator(self, clock):
        return WeatherSimulator(clock=clock)

    def make_connection(self, sim):
        return sim.connection()

    def parameters(self, sim, outcome):
        if outcome == "failed":
            sim.failing.add("KSFO")
        return {"station": "KSFO", "poll_interval": 5}

    def start_foreign_run(self, sim, parameters, outcome):
        sim.start_refresh(parameters["station"], fails=outcome == "failed")
