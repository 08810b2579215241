"""Shared fixtures of the dbt plugin's tests: a fake clock, the in-process simulator on it,
a host whose dbt requests go to the simulator, and task contexts for driving the runner."""

from __future__ import annotations

from typing import Any

import orchestra_dbt.plugin
import pytest
from orchestra_dbt import DbtRunJob
from orchestra_dbt.testing import SUCCEEDING_JOB, DbtCloudSimulator

from orchestra_core.testing import FakeClock, StubContext, make_host


class Kit:
    """A fake clock (autojump: sleeps return at once), the simulator on it, a host sending
    dbt requests to the simulator, and its runner."""

    def __init__(self, *, autojump: bool = True, **sim_options: Any) -> None:
        self.clock = FakeClock(autojump=autojump)
        self.sim = DbtCloudSimulator(clock=self.clock, **sim_options)
        self.host = make_host(orchestra_dbt.plugin)
        self.host.set_transport("dbt", self.sim.transport)
        self.runner = self.host.runner(self.host.find_job("dbt", "dbt_runjob"))

    def ctx(self, connection: Any = ..., attempt: int = 1, **params: Any) -> StubContext:
        """A context for a ``dbt_runjob`` task with *params* (job 123456 by default)."""
        params.setdefault("jobid", SUCCEEDING_JOB)
        params.setdefault("poll_interval", 5.0)
        return StubContext(DbtRunJob(**params), clock=self.clock, attempt=attempt,
                           connection=self.sim.connection(redactor=self.host.redactor)
                           if connection is ... else connection)


@pytest.fixture
def kit() -> Kit:
    return Kit()


@pytest.fixture
def make_kit() -> Any:
    return Kit
