"""Every failure the simulator can inject, against the runner: the documented retry or a
clear, redacted error, and never a second sync run from one trigger."""

import orchestra_census.plugin
import pytest
from orchestra_census import CensusSync
from orchestra_census.sync_runs import UnknownSyncRunStatus
from orchestra_census.testing import DEFAULT_TOKEN, CensusSimulator

from orchestra_core import Connection, JobState, TaskFailed, VendorHTTPError
from orchestra_core.testing import Failure, FakeClock, StubContext, make_host

TRIGGER = "/api/v1/syncs/52/trigger"
RUN = "/api/v1/sync_runs/*"


def setup():
    clock = FakeClock(autojump=True)
    sim = CensusSimulator(clock=clock, syncs=())
    sim.add_sync(52, "accounts", destination_object="Account", queued_for=1, working_for=12)
    host = make_host(orchestra_census.plugin)
    host.set_transport("census", sim.transport)
    runner = host.runner(host.find_job("census", "census_sync"))
    conn = Connection(name="census", integration="census", base_url=sim.base_url,
                      secrets={"token": DEFAULT_TOKEN})
    ctx = StubContext(CensusSync(syncid=52, poll_interval=5.0), clock=clock, connection=conn)
    return sim, runner, ctx


@pytest.mark.parametrize("failure", [
    Failure.timeout(processed=True),
    Failure.drop_after_processing(),
    Failure.malformed_json(),
], ids=["timeout-after-processing", "dropped-connection", "malformed-json"])
async def test_ambiguous_trigger_failure_finds_the_run_instead_of_triggering_again(failure):
    sim, runner, ctx = setup()
    sim.fail("POST", TRIGGER, failure)
    run = await runner.start(ctx)
    assert sim.count("POST", TRIGGER) == 1
    [only] = sim.workspace.runs.values()
    assert run.id == str(only.id)
    assert any("found what the request created" in m for _, m in ctx.logs)
    assert (await runner.wait(ctx, run)).state is JobState.SUCCEEDED


@pytest.mark.parametrize("failure", [
    Failure.status(500), Failure.status(502), Failure.status(503),
    Failure.timeout(processed=False), Failure.connect_error(),
    Failure.rate_limited(), Failure.rate_limited(retry_after=7),
], ids=["500", "502", "503", "timeout", "connect", "429", "429-retry-after"])
async def test_trigger_not_processed_is_sent_again_once(failure):
    sim, runner, ctx = setup()
    sim.fail("POST", TRIGGER, failure)
    run = await runner.start(ctx)
    assert sim.count("POST", TRIGGER) == 2
    assert len(sim.workspace.runs) == 1
    assert run.id == str(next(iter(sim.workspace.runs)))
    if failure.retry_after == "7":
        assert 7.0 in ctx.sleeps


async def test_trigger_keeps_failing_gives_a_retryable_redacted_error():
    sim, runner, ctx = setup()
    sim.fail("POST", TRIGGER, Failure.status(503), times=None)
    with pytest.raises(VendorHTTPError) as info:
        await runner.start(ctx)
    assert info.value.retryable is True and info.value.status == 503
    assert "gave up after 5 attempts" in str(info.value)
    assert DEFAULT_TOKEN not in str(info.value) and DEFAULT_TOKEN not in str(ctx.logs)
    assert not sim.workspace.runs


@pytest.mark.parametrize("failure", [
    Failure.status(500), Failure.status(503), Failure.timeout(), Failure.connect_error(),
    Failure.rate_limited(), Failure.rate_limited(retry_after=11), Failure.malformed_json(),
    Failure.drop_after_processing(),
], ids=["500", "503", "timeout", "connect", "429", "429-retry-after", "malformed", "drop"])
async def test_transient_poll_failures_are_retried(failure):
    sim, runner, ctx = setup()
    run = await runner.start(ctx)
    sim.fail("GET", RUN, failure, times=2)
    result = await runner.wait(ctx, run)
    assert result.state is JobState.SUCCEEDED
    assert sim.count("POST", TRIGGER) == 1
    if failure.retry_after == "11":
        assert ctx.sleeps.count(11.0) == 2


async def test_a_long_outage_while_waiting_backs_off_and_recovers():
    sim, runner, ctx = setup()
    run = await runner.start(ctx)
    injection = sim.fail("GET", RUN, Failure.status(503), times=12)  # > one call's 5 attempts
    result = await runner.wait(ctx, run)
    assert injection.remaining == 0
    assert result.state is JobState.SUCCEEDED
    warnings = [m for level, m in ctx.logs if level == "warning"
                and m.startswith("could not read Census sync run")]
    assert len(warnings) == 2  # two exhausted calls, each followed by a longer wait
    assert "reading it again in 10.0 s" in warnings[0]
    assert "reading it again in 20.0 s" in warnings[1]


async def test_unknown_status_injected_by_rewrite():
    sim, runner, ctx = setup()
    run = await runner.start(ctx)
    sim.fail("GET", RUN, Failure.rewrite_json(
        lambda body: {**body, "data": {**body["data"], "status": "exploded"}}))
    with pytest.raises(UnknownSyncRunStatus) as info:
        await runner.wait(ctx, run)
    assert "'exploded'" in str(info.value)


async def test_token_revoked_while_waiting_is_a_clear_error():
    sim, runner, ctx = setup()
    run = await runner.start(ctx)
    sim.tokens.clear()
    with pytest.raises(VendorHTTPError) as info:
        await runner.wait(ctx, run)
    assert info.value.status == 401 and info.value.retryable is False
    assert "Invalid credentials" in str(info.value)
    assert DEFAULT_TOKEN not in str(info.value)


async def test_run_deleted_while_waiting():
    sim, runner, ctx = setup()
    run = await runner.start(ctx)
    sim.workspace.runs.clear()
    with pytest.raises(TaskFailed) as info:
        await runner.wait(ctx, run)
    assert info.value.retryable is False
    assert f"Census does not know sync run {run.id}" in str(info.value)


async def test_trigger_answer_without_a_run_id():
    sim, runner, ctx = setup()
    sim.fail("POST", TRIGGER, Failure.rewrite_json(lambda body: {"status": "success",
                                                                 "data": {}}))
    with pytest.raises(TaskFailed) as info:
        await runner.start(ctx)
    assert "returned no sync_run_id" in str(info.value) and info.value.retryable is False
