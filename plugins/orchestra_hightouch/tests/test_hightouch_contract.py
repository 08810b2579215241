import json

import orchestra_hightouch.plugin
import pytest
from orchestra_hightouch.testing import HightouchSimulator

from orchestra_core.testing import (
    IntegrationJobContract,
    VendorRunnerContract,
    WebhookHandlerContract,
)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


class TestHightouchSync(IntegrationJobContract):
    plugin = orchestra_hightouch.plugin
    distribution = "orchestra-hightouch"
    integration = "hightouch"
    job = "hightouch_sync"
    valid_parameters = {"syncid": "12345"}
    required_parameters = ("syncid",)


class TestHightouchSyncBySlug(IntegrationJobContract):
    plugin = orchestra_hightouch.plugin
    distribution = "orchestra-hightouch"
    integration = "hightouch"
    job = "hightouch_sync"
    valid_parameters = {"sync_slug": "daily-accounts"}
    required_parameters = ()


class TestHightouchRunner(VendorRunnerContract):
    plugin = orchestra_hightouch.plugin
    integration = "hightouch"
    job = "hightouch_sync"
    trigger_pattern = "/api/v1/syncs/*/trigger"
    cancel_supported = False  # Hightouch documents no way to cancel a sync run

    def make_simulator(self, clock):
        return HightouchSimulator(clock=clock)

    def make_connection(self, sim):
        return sim.connection()

    def parameters(self, sim, outcome):
        sync = sim.add_sync(outcome={"succeeded": "success", "failed": "failed"}[outcome])
        return {"syncid": sync.id, "poll_interval": 5}

    def start_foreign_run(self, sim, parameters, outcome):
        # a run of the sync's schedule, ending with *outcome*
        sync = sim.sync(parameters["syncid"])
        with sim.lock:
            sync.script.appendleft({"succeeded": "success", "failed": "failed"}[outcome])
            sim.state.trigger(sync)


class TestHightouchAlertWebhooks(WebhookHandlerContract):
    plugin = orchestra_hightouch.plugin
    integration = "hightouch"
    secret_env = "HIGHTOUCH_WEBHOOK_SECRET"

    def make_simulator(self):
        return HightouchSimulator()

    def valid_body(self):
        return json.dumps({"id": "alert_1", "type": "sync.alert", "severity": "critical",
                           "syncId": "1003", "syncRunId": "50000001",
                           "status": "failed"}).encode()

    @pytest.mark.xfail(reason="Hightouch alert webhooks are not signed: a static shared "
                       "header authenticates them, so a changed body still carries it",
                       strict=True)
    async def test_tampered_body_is_401(self, monkeypatch):
        await super().test_tampered_body_is_401(monkeypatch)
