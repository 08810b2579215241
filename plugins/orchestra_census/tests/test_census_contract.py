import orchestra_census.plugin

from orchestra_core.testing.contracts import IntegrationJobContract


class TestCensusSync(IntegrationJobContract):
    plugin = orchestra_census.plugin
    distribution = "orchestra-census"
    integration = "census"
    job = "census_sync"
    valid_parameters = {"syncid": 12345}
    required_parameters = ("syncid",)
