"""Shared fixtures of the Fivetran plugin's tests: a fake clock, the in-process simulator on
it, and a runner whose host sends every request to the simulator."""

from __future__ import annotations

import anyio
import orchestra_fivetran.plugin
import pytest
from orchestra_fivetran import FivetranSyncAll
from orchestra_fivetran.runner import FivetranSyncRunner
from orchestra_fivetran.testing import FivetranSimulator

from orchestra_core.testing import FakeClock, StubContext, make_host

CID = "ambush_prettiest"


class Kit:
    """A fake clock, the simulator on it, and a runner whose host sends to the simulator."""

    def __init__(self, **sim_options):
        self.clock = FakeClock()
        self.sim = FivetranSimulator(clock=self.clock, run_duration=120, **sim_options)
        self.host = make_host(orchestra_fivetran.plugin)
        self.host.set_transport("fivetran", self.sim.transport)
        self.runner = FivetranSyncRunner(self.host)

    def ctx(self, connection=..., **params):
        params.setdefault("connectionid", CID)
        params.setdefault("poll_interval", 10)
        return StubContext(FivetranSyncAll(**params), clock=self.clock,
                           connection=self.sim.connection() if connection is ... else
                           connection)

    def run(self, fn, *args):
        """Run ``fn(*args)`` on the driven fake clock; its exception is raised as is."""
        box = {}

        async def main():
            async with self.clock.driving():
                try:
                    box["result"] = await fn(*args)
                except Exception as exc:
                    box["error"] = exc
        anyio.run(main)
        if "error" in box:
            raise box["error"]
        return box["result"]

    def sync(self, ctx):
        async def both():
            ext = await self.runner.start(ctx)
            return ext, await self.runner.wait(ctx, ext)
        return self.run(both)


@pytest.fixture
def kit():
    """A fresh :class:`Kit`."""
    return Kit()


@pytest.fixture
def make_kit():
    """Build a :class:`Kit` with simulator options."""
    return Kit
