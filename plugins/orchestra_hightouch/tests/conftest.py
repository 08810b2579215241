"""Shared fixtures of the Hightouch plugin's tests: a fake clock, the in-process simulator on
it, and a runner whose host sends every request to the simulator."""

from __future__ import annotations

import orchestra_hightouch.plugin
import pytest
from orchestra_hightouch import HightouchSync
from orchestra_hightouch.testing import HightouchSimulator

from orchestra_core.testing import FakeClock, StubContext, make_host


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


class Kit:
    """A fake clock (autojump), the simulator on it, and the runner of a host sending to it."""

    def __init__(self, **sim_options):
        self.clock = FakeClock(autojump=True)
        self.sim = HightouchSimulator(clock=self.clock, **sim_options)
        self.host = make_host(orchestra_hightouch.plugin)
        self.host.set_transport("hightouch", self.sim.transport)
        self.runner = self.host.runner(self.host.find_job("hightouch", "hightouch_sync"))

    def ctx(self, connection=..., **params):
        """A task context for ``hightouch_sync`` with *params* (default: sync 1001)."""
        if "syncid" not in params and "sync_slug" not in params:
            params["syncid"] = "1001"
        params.setdefault("poll_interval", 5.0)
        return StubContext(HightouchSync(**params), clock=self.clock,
                           connection=self.sim.connection() if connection is ... else
                           connection)

    async def sync(self, ctx):
        """Start and wait; return ``(external_run, result)``."""
        run = await self.runner.start(ctx)
        return run, await self.runner.wait(ctx, run)


@pytest.fixture
def kit():
    """A fresh :class:`Kit`."""
    return Kit()

