import orchestra_amperity.plugin
from orchestra_amperity.testing import AmperitySimulator

from orchestra_core.testing import IntegrationJobContract, VendorRunnerContract


class TestAmperityCourierGroup(IntegrationJobContract):
    plugin = orchestra_amperity.plugin
    distribution = "orchestra-amperity"
    integration = "amperity"
    job = "amperity_courier_group"
    valid_parameters = {"config_id": "cg-abc123"}
    required_parameters = ("config_id",)


class TestAmperityCourierGroupWithWindow(IntegrationJobContract):
    plugin = orchestra_amperity.plugin
    distribution = "orchestra-amperity"
    integration = "amperity"
    job = "amperity_courier_group"
    valid_parameters = {"config_id": "cg-abc123", "run_mode": "refresh",
                        "range_from": "2026-03-01T00:00:00Z", "range_to": "2026-03-02T00:00:00Z"}
    required_parameters = ("config_id",)


class TestAmperityOrchestrationGroup(IntegrationJobContract):
    plugin = orchestra_amperity.plugin
    distribution = "orchestra-amperity"
    integration = "amperity"
    job = "amperity_orchestration_group"
    valid_parameters = {"config_id": "og-abc123"}
    required_parameters = ("config_id",)


class TestAmperityCampaign(IntegrationJobContract):
    plugin = orchestra_amperity.plugin
    distribution = "orchestra-amperity"
    integration = "amperity"
    job = "amperity_campaign"
    valid_parameters = {"config_id": "cc-abc123"}
    required_parameters = ("config_id",)


class _RunnerContract(VendorRunnerContract):
    plugin = orchestra_amperity.plugin
    integration = "amperity"
    trigger_pattern = "/api/workflow/runs"
    config_id = ""
    oauth = False

    def make_simulator(self, clock):
        return AmperitySimulator(clock=clock, configs=())

    def make_connection(self, sim):
        return sim.connection(oauth=self.oauth)

    def parameters(self, sim, outcome):
        sim.add_config(self.config_id, duration=30, outcome=outcome,
                       attribution="customer")
        return {"config_id": self.config_id, "poll_interval": 5}

    def start_foreign_run(self, sim, parameters, outcome):
        # a workflow Amperity's own schedule started, ending with *outcome*
        tenant = sim.tenants[sim.tenant]
        config = tenant.configs[parameters["config_id"]]
        with sim.lock:
            tenant.scripted.setdefault(config.id, []).insert(0, {"outcome": outcome})
            tenant.start(config, now=sim.clock.monotonic(), clock_now=sim.now(),
                         principal="amperity-scheduler", rng=sim._rng)

    def assert_cancelled(self, sim, requests_before):
        assert sim.count("POST", "/api/workflow/runs/*/stop") == 1
        [run] = sim.runs()
        assert sim.run(run.id)["state"] == "canceled"


class TestCourierGroupRunner(_RunnerContract):
    job = "amperity_courier_group"
    config_id = "cg-contract1"


class TestOrchestrationGroupRunnerWithOAuth(_RunnerContract):
    job = "amperity_orchestration_group"
    config_id = "og-contract1"
    oauth = True


class TestCampaignRunner(_RunnerContract):
    job = "amperity_campaign"
    config_id = "cc-contract1"
