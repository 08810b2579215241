import orchestra_amperity.plugin

from orchestra_core.testing.contracts import IntegrationJobContract


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
