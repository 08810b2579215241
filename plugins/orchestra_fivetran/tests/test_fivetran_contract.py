import json
from datetime import UTC, datetime

import orchestra_fivetran.plugin
from orchestra_fivetran.testing import FivetranSimulator

from orchestra_core.testing import (
    IntegrationJobContract,
    VendorRunnerContract,
    WebhookHandlerContract,
)

CID = "ambush_prettiest"


class TestFivetranSyncAll(IntegrationJobContract):
    plugin = orchestra_fivetran.plugin
    distribution = "orchestra-fivetran"
    integration = "fivetran"
    job = "fivetran_sync_all"
    valid_parameters = {"connectionid": "ambush_prettiest"}
    required_parameters = ("connectionid",)


class TestFivetranRunner(VendorRunnerContract):
    plugin = orchestra_fivetran.plugin
    integration = "fivetran"
    job = "fivetran_sync_all"
    trigger_pattern = "/v1/connections/*/sync"

    def make_simulator(self, clock):
        return FivetranSimulator(clock=clock, run_duration=90, connectors=[CID])

    def make_connection(self, sim):
        return sim.connection()

    def parameters(self, sim, outcome):
        sim.connector(CID).outcomes[:] = ["success" if outcome == "succeeded" else "failure"]
        # Fivetran has no cancel endpoint: with pause_on_cancel, cancel pauses the connection
        return {"connectionid": CID, "poll_interval": 10, "pause_on_cancel": True}

    def assert_cancelled(self, sim, requests_before):
        assert sim.count("PATCH", f"/v1/connections/{CID}") == 1
        assert sim.connector(CID).paused

    def start_foreign_run(self, sim, parameters, outcome):
        # an automatic sync (the schedule's): its outcome first, then the task's own
        sim.connector(CID).outcomes.insert(0, "success" if outcome == "succeeded" else "failure")
        assert sim.start_sync(CID) == 200


class TestFivetranWebhooks(WebhookHandlerContract):
    plugin = orchestra_fivetran.plugin
    integration = "fivetran"
    secret_env = "FIVETRAN_WEBHOOK_SECRET"

    def make_simulator(self):
        return FivetranSimulator()

    def valid_body(self):
        return json.dumps({
            "event": "sync_end", "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "connector_type": "postgres", "connector_id": CID, "connector_name": "pg_prod",
            "sync_id": "b4703f73-6315-4e22-8d7a-3bfb18b2fed2",
            "destination_group_id": "projected_sickle", "data": {"status": "SUCCESSFUL"},
        }).encode()
