"""The built-in ``noop`` runner: start, sleep on the engine clock, fail on request."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from orchestra_core import ExternalRun, JobRunner, JobState, Orchestra, TaskContext
from orchestra_core._builtins._noop_runner import NoopRunner
from orchestra_core._builtins.noop import NoopParameters
from orchestra_core._config import structure_or_raise
from orchestra_core.testing import FakeClock, StubContext


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param


Ctx = StubContext


async def run(ctx: Ctx, runner: NoopRunner | None = None) -> Any:
    runner = runner or NoopRunner()
    external = await runner.start(ctx)
    return await runner.wait(ctx, external)


def test_registered_as_the_runner_of_noop_run():
    host = Orchestra(load_entrypoints=False)
    job = host.find_job("noop", "noop_run")
    runner = host.runner(job)
    assert isinstance(runner, NoopRunner)
    assert isinstance(runner, JobRunner)
    assert runner.host is host
    assert host.runner(job) is runner


async def test_start_returns_an_id_less_run_and_logs_nothing():
    ctx = Ctx(NoopParameters())
    assert isinstance(ctx, TaskContext)
    external = await NoopRunner().start(ctx)
    assert external == ExternalRun(id=None, started_at=ctx.clock.now(), data={})
    result = await NoopRunner().wait(ctx, external)
    assert result.state is JobState.SUCCEEDED
    assert result.retryable is None
    assert ctx.logs == []
    assert ctx.sleeps == []


async def test_message_is_logged():
    ctx = Ctx(NoopParameters(message="hello"))
    assert (await run(ctx)).state is JobState.SUCCEEDED
    assert ctx.logs == [("info", "hello")]


async def test_sleep_goes_through_the_engine_clock():
    ctx = Ctx(structure_or_raise({"sleep": "2m"}, NoopParameters))
    result = await run(ctx)
    assert result.state is JobState.SUCCEEDED
    assert ctx.sleeps == [120.0]
    assert ctx.clock.monotonic() == 120.0


async def test_sleep_waits_for_the_clock_and_is_cancellable():
    clock = FakeClock()
    ctx = Ctx(NoopParameters(sleep=10), clock=clock)
    runner = NoopRunner()
    external = await runner.start(ctx)
    results: list[Any] = []

    async def waiter() -> None:
        results.append(await runner.wait(ctx, external))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        while clock.sleepers == 0:
            await anyio.sleep(0)
        clock.advance(9)
        await anyio.sleep(0.01)
        assert results == []
        clock.advance(1)
    assert results[0].state is JobState.SUCCEEDED

    with anyio.move_on_after(0.05) as scope:
        await runner.wait(ctx, external)  # the clock never moves: only cancellation ends it
    assert scope.cancelled_caught
    await runner.cancel(ctx, external)  # nothing to stop


async def test_fail():
    result = await run(Ctx(NoopParameters(fail=True, sleep=1)))
    assert result.state is JobState.FAILED
    assert result.message == "failing on purpose (fail: true)"
    assert result.retryable is None


async def test_fail_times_fails_the_first_attempts_then_succeeds():
    params = NoopParameters(fail_times=2)
    outcomes = []
    for attempt in (1, 2, 3):
        result = await run(Ctx(params, attempt=attempt))
        outcomes.append((result.state, result.message, result.retryable))
    assert outcomes == [
        (JobState.FAILED, "failing attempt 1 of 2 on purpose", True),
        (JobState.FAILED, "failing attempt 2 of 2 on purpose", True),
        (JobState.SUCCEEDED, "", None),
    ]


async def test_ten_thousand_tasks_are_cheap():
    runner = NoopRunner()
    ctx = Ctx(NoopParameters())
    began = time.perf_counter()
    for _ in range(10_000):
        external = await runner.start(ctx)
        await runner.wait(ctx, external)
    assert time.perf_counter() - began < 2.0
    assert ctx.logs == []
