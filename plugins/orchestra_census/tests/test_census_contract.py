import json

import orchestra_census.plugin
from orchestra_census.testing import DEFAULT_TOKEN, CensusSimulator

from orchestra_core import Connection
from orchestra_core.testing import (
    IntegrationJobContract,
    VendorRunnerContract,
    WebhookHandlerContract,
)


class TestCensusSync(IntegrationJobContract):
    plugin = orchestra_census.plugin
    distribution = "orchestra-census"
    integration = "census"
    job = "census_sync"
    valid_parameters = {"syncid": 12345}
    required_parameters = ("syncid",)


class TestCensusRunner(VendorRunnerContract):
    plugin = orchestra_census.plugin
    integration = "census"
    job = "census_sync"
    trigger_pattern = "/api/v1/syncs/*/trigger"

    def make_simulator(self, clock):
        return CensusSimulator(clock=clock, syncs=())

    def make_connection(self, sim):
        return Connection(name="census", integration="census", base_url=sim.base_url,
                          secrets={"token": DEFAULT_TOKEN})

    def parameters(self, sim, outcome):
        sim.add_sync(52, outcome="completed" if outcome == "succeeded" else "failed",
                     queued_for=1, working_for=15)
        return {"syncid": 52, "poll_interval": 5}

    def start_foreign_run(self, sim, parameters, outcome):
        # a run of the sync's schedule, ending with *outcome*; the task's own run comes next
        sync = parameters["syncid"]
        sim.script(sync, outcome="completed" if outcome == "succeeded" else "failed")
        sim.trigger(sync, trigger="Schedule")

    def assert_cancelled(self, sim, requests_before):
        assert sim.count("POST", "/api/v1/sync_runs/*/cancel") == 1
        [run] = sim.workspace.runs.values()
        assert sim.run(run.id)["canceled"] is True


class TestCensusWebhooks(WebhookHandlerContract):
    plugin = orchestra_census.plugin
    integration = "census"
    secret_env = "CENSUS_WEBHOOK_SECRET"

    def make_simulator(self):
        return CensusSimulator(syncs=())

    def valid_body(self):
        return json.dumps({"workspace_id": 3167, "sync_id": 3167956, "sync_run_id": 324399613,
                           "event": "sync.completed", "status": "ok"}).encode()
