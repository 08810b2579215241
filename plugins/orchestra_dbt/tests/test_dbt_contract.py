import json
from datetime import UTC, datetime

import orchestra_dbt.plugin
from orchestra_dbt.testing import FAILING_JOB, SUCCEEDING_JOB, DbtCloudSimulator

from orchestra_core.testing import (
    IntegrationJobContract,
    VendorRunnerContract,
    WebhookHandlerContract,
)


class TestDbtRunJob(IntegrationJobContract):
    plugin = orchestra_dbt.plugin
    distribution = "orchestra-dbt"
    integration = "dbt"
    job = "dbt_runjob"
    valid_parameters = {"jobid": 123456}
    required_parameters = ("jobid",)


class TestDbtRunner(VendorRunnerContract):
    plugin = orchestra_dbt.plugin
    integration = "dbt"
    job = "dbt_runjob"
    trigger_pattern = "/api/v2/accounts/*/jobs/*/run/"

    def make_simulator(self, clock):
        return DbtCloudSimulator(clock=clock, run_visible_after=2)

    def make_connection(self, sim):
        return sim.connection()

    def parameters(self, sim, outcome):
        job = SUCCEEDING_JOB if outcome == "succeeded" else FAILING_JOB
        return {"jobid": job, "poll_interval": 5}

    def start_foreign_run(self, sim, parameters, outcome):
        # a run of the job's own schedule, ending with *outcome*
        with sim.lock:
            job = sim.job(parameters["jobid"])
            run = sim.state.trigger(job, sim.now(), {"cause": "Triggered by the schedule"})
            run.outcome = "success" if outcome == "succeeded" else "error"
            sim.state.schedule(job)

    def assert_cancelled(self, sim, requests_before):
        [run] = sim.state.runs.values()
        assert sim.status(run.id) == 30
        assert sim.count("POST", "/api/v2/accounts/1/runs/*/cancel/") == 1


class TestDbtWebhooks(WebhookHandlerContract):
    plugin = orchestra_dbt.plugin
    integration = "dbt"
    secret_env = "DBT_CLOUD_WEBHOOK_SECRET"

    def make_simulator(self):
        return DbtCloudSimulator()

    def valid_body(self):
        return json.dumps({
            "accountId": 1, "webhooksID": "wsu_1", "eventId": "wev_contract",
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f123Z"),
            "eventType": "job.run.completed",
            "webhookName": "orchestra",
            "data": {"jobId": str(SUCCEEDING_JOB), "runId": "70403194297680",
                     "runStatus": "Success", "runStatusCode": 10}}).encode()
