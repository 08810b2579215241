import orchestra_dbt.plugin

from orchestra_core.testing.contracts import IntegrationJobContract


class TestDbtRunJob(IntegrationJobContract):
    plugin = orchestra_dbt.plugin
    distribution = "orchestra-dbt"
    integration = "dbt"
    job = "dbt_runjob"
    valid_parameters = {"jobid": 123456}
    required_parameters = ("jobid",)
