import orchestra_fivetran.plugin

from orchestra_core.testing.contracts import IntegrationJobContract


class TestFivetranSyncAll(IntegrationJobContract):
    plugin = orchestra_fivetran.plugin
    distribution = "orchestra-fivetran"
    integration = "fivetran"
    job = "fivetran_sync_all"
    valid_parameters = {"connectionid": "ambush_prettiest"}
    required_parameters = ("connectionid",)
