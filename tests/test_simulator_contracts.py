"""The contract bases for vendor plugins, passed by the Acme example plugin; and a broken
plugin fails them."""

from __future__ import annotations

import json

import pytest

from orchestra_core._models import Connection
from orchestra_core.testing import VendorRunnerContract, WebhookHandlerContract

from ._acme import TOKEN, AcmePlugin, AcmeRunner, AcmeSimulator


class TestAcmeRunner(VendorRunnerContract):
    plugin = AcmePlugin()
    integration = "acme"
    job = "acme_run"
    trigger_pattern = "/api/jobs/*/runs"

    def make_simulator(self, clock):
        return AcmeSimulator(clock=clock)

    def make_connection(self, sim):
        return Connection(name="acme", integration="acme", base_url=sim.base_url,
                          secrets={"token": TOKEN})

    def parameters(self, sim, outcome):
        return {"job": "nightly" if outcome == "succeeded" else "fail-nightly"}

    def start_foreign_run(self, sim, parameters, outcome):
        run_id = len(sim.runs) + 1  # a run someone started in Acme's dashboard
        sim.runs[run_id] = {"id": run_id, "job": parameters["job"], "created": sim.now(),
                            "outcome": outcome, "cancelled_at": None}


class TestAcmeWebhooks(WebhookHandlerContract):
    plugin = AcmePlugin(webhook_secret=None)  # the secret comes from ACME_WEBHOOK_SECRET
    integration = "acme"

    def make_simulator(self):
        return AcmeSimulator()

    def valid_body(self):
        return json.dumps({"event": "run.finished",
                           "run": {"id": 3, "state": "succeeded"}}).encode()


class BlindRetryRunner(AcmeRunner):
    """Broken on purpose: re-sends its trigger after any failure."""

    async def start(self, ctx):
        from orchestra_core._models import ExternalRun

        client = self.client(ctx)
        job = ctx.parameters.job
        run = await client.post(f"/jobs/{job}/runs", ctx=ctx, idempotent=True)
        return ExternalRun(id=str(run["id"]), started_at=ctx.now())


class BrokenPlugin(AcmePlugin):
    def __init__(self):
        super().__init__()

    def orchestra_register_integrations(self, registry):
        acme = registry.integration("acme", description="Acme Jobs (broken)")
        acme.job("acme_run", parameters=__import__("tests._acme", fromlist=["_"]).AcmeRunParams,
                 description="x", runner=BlindRetryRunner)

    orchestra_register_integrations.orchestra_impl = AcmePlugin.orchestra_register_integrations \
        .orchestra_impl


async def test_a_runner_that_retriggers_blindly_fails_the_contract():
    contract = TestAcmeRunner()
    contract.plugin = BrokenPlugin()
    with pytest.raises(AssertionError, match=r"assert 2 == 1"):
        await contract.test_ambiguous_trigger_failure_never_starts_a_second_run()


class AdoptingRunner(AcmeRunner):
    """Broken on purpose (the false success of issue 13): adopts the latest run of the job,
    whenever it began."""

    async def recover(self, ctx):
        from orchestra_core._models import ExternalRun

        runs = (await self.client(ctx).get("/runs", params={"job": ctx.parameters.job},
                                           ctx=ctx))["data"]
        return ExternalRun(id=str(runs[0]["id"]), started_at=ctx.now()) if runs else None


class NoIntentRunner(AcmeRunner):
    """Broken on purpose: triggers without recording an intent first."""

    async def start(self, ctx):
        from orchestra_core._models import ExternalRun

        run = await self.client(ctx).post(f"/jobs/{ctx.parameters.job}/runs", ctx=ctx)
        return ExternalRun(id=str(run["id"]), started_at=ctx.now())


def plugin_with(runner_class):
    class Plugin(AcmePlugin):
        def orchestra_register_integrations(self, registry):
            acme = registry.integration("acme", description="Acme Jobs (broken)")
            acme.job("acme_run", parameters=__import__("tests._acme", fromlist=["_"])
                     .AcmeRunParams, description="x", runner=runner_class)

        orchestra_register_integrations.orchestra_impl = \
            AcmePlugin.orchestra_register_integrations.orchestra_impl

    return Plugin()


async def test_a_recover_that_adopts_any_run_fails_the_recovery_contract():
    contract = TestAcmeRunner()
    contract.plugin = plugin_with(AdoptingRunner)
    with pytest.raises(AssertionError, match="no intent was recorded"):
        await contract.test_kill_before_the_intent_triggers_once_with_its_own_outcome()
    with pytest.raises(AssertionError, match="did not trigger exactly once"):
        await contract.test_kill_between_intent_and_trigger_triggers_once_with_its_own_outcome()


async def test_a_start_without_an_intent_fails_the_recovery_contract():
    contract = TestAcmeRunner()
    contract.plugin = plugin_with(NoIntentRunner)
    with pytest.raises(pytest.fail.Exception, match="without recording its intent"):
        await contract.test_kill_between_intent_and_trigger_triggers_once_with_its_own_outcome()


def test_silent_overrides_are_refused():
    class Sloppy(TestAcmeRunner):
        async def test_cancel_reaches_the_vendor(self):
            pass

    with pytest.raises(pytest.fail.Exception, match="overridden without"):
        Sloppy().test_no_overrides_DO_NOT_OVERRIDE()
