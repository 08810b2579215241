"""Shared fixtures of the Amperity plugin's tests: a fake clock, the in-process simulator on
it, and a runner whose host sends every request to the simulator."""

from __future__ import annotations

import orchestra_amperity.plugin
import pytest
from orchestra_amperity import AmperityCampaign, AmperityCourierGroup, AmperityOrchestrationGroup
from orchestra_amperity.testing import AmperitySimulator

from orchestra_core.testing import FakeClock, StubContext, make_host

MODELS = {"cg-": AmperityCourierGroup, "og-": AmperityOrchestrationGroup,
          "cc-": AmperityCampaign}
JOBS = {"cg-": "amperity_courier_group", "og-": "amperity_orchestration_group",
        "cc-": "amperity_campaign"}


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


class Kit:
    """A fake clock (autojump), the simulator on it, and a host sending to it."""

    def __init__(self, **sim_options):
        self.clock = FakeClock(autojump=True)
        self.sim = AmperitySimulator(clock=self.clock, **sim_options)
        self.host = make_host(orchestra_amperity.plugin)
        self.host.set_transport("amperity", self.sim.transport)

    def runner(self, config_id="cg-4xTz9m2"):
        return self.host.runner(self.host.find_job("amperity", JOBS[config_id[:3]]))

    def ctx(self, config_id="cg-4xTz9m2", connection=..., oauth=False, run_type=None,
            **params):
        """A task context for the job of *config_id*'s prefix."""
        params.setdefault("poll_interval", 2.0)
        ctx = StubContext(MODELS[config_id[:3]](config_id=config_id, **params),
                          clock=self.clock,
                          connection=self.sim.connection(oauth=oauth) if connection is ...
                          else connection)
        if run_type is not None:
            ctx.run_type = run_type
        return ctx

    async def run(self, ctx):
        """Start and wait; return ``(external_run, result)``."""
        runner = self.runner(ctx.parameters.config_id)
        run = await runner.start(ctx)
        return run, await runner.wait(ctx, run)


@pytest.fixture
def kit():
    """A fresh :class:`Kit`."""
    return Kit()


@pytest.fixture
def make_kit():
    """:class:`Kit` itself, for tests that need simulator options."""
    return Kit
