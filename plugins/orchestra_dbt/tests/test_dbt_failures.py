"""Every failure the simulator can inject gives the documented retry or a clear, redacted
error, and a trigger is never sent twice for one run."""

import pytest
from orchestra_dbt.testing import SUCCEEDING_JOB as JOB

from orchestra_core import JobState, TaskFailed
from orchestra_core.testing import Failure

TRIGGER = f"/api/v2/accounts/1/jobs/{JOB}/run/"


async def run_to_end(kit, **params):
    ctx = kit.ctx(**params)
    run = await kit.runner.start(ctx)
    return ctx, run, await kit.runner.wait(ctx, run)


def assert_no_secret(ctx, *texts):
    everything = " ".join([*texts, *(m for _, m in ctx.logs)])
    assert "dbt-test-token" not in everything


# -- the trigger ---------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [
    Failure.timeout(processed=True),
    Failure.drop_after_processing(),
    Failure.malformed_json(),
], ids=["timeout-after-processing", "dropped-connection", "malformed-json"])
async def test_ambiguous_trigger_failure_finds_the_run_instead_of_triggering_again(kit, failure):
    kit.sim.fail("POST", TRIGGER, failure)
    ctx, run, result = await run_to_end(kit)
    assert result.state is JobState.SUCCEEDED
    [sim_run] = kit.sim.runs_of_job(JOB)  # one run in dbt Cloud
    assert run.id == str(sim_run.id)
    assert kit.sim.count("POST", TRIGGER) == 1
    assert kit.sim.count("GET", "/api/v2/accounts/1/runs/") == 1  # the look-up
    assert any("found what the request created, not sending it again" in m
               for _, m in ctx.logs)


@pytest.mark.parametrize("failure", [
    Failure.status(503), Failure.status(500), Failure.timeout(processed=False),
    Failure.connect_error()], ids=["503", "500", "timeout-unprocessed", "connect-error"])
async def test_trigger_failure_that_created_nothing_is_sent_again(kit, failure):
    kit.sim.fail("POST", TRIGGER, failure)
    ctx, _, result = await run_to_end(kit)
    assert result.state is JobState.SUCCEEDED
    assert len(kit.sim.runs_of_job(JOB)) == 1
    assert kit.sim.count("POST", TRIGGER) == 2
    assert_no_secret(ctx)


@pytest.mark.parametrize(("retry_after", "waited"), [(7, 7.0), (None, None)])
async def test_rate_limited_trigger_is_retried(kit, retry_after, waited):
    kit.sim.fail("POST", TRIGGER, Failure.rate_limited(retry_after=retry_after))
    ctx = kit.ctx()
    run = await kit.runner.start(ctx)
    assert kit.sim.count("POST", TRIGGER) == 2
    assert len(kit.sim.runs_of_job(JOB)) == 1
    assert kit.sim.count("GET", "/api/v2/accounts/1/runs/") == 0  # a 429 created nothing
    if waited is not None:
        assert run.started_at == kit.sim.run(run.id).created_at - __import__(
            "datetime").timedelta(seconds=waited)
        assert ctx.sleeps == [7.0]
    else:
        # backoff with HttpRetry's default full jitter: in [base * (1 - jitter), base]
        assert len(ctx.sleeps) == 1 and 0.0 <= ctx.sleeps[0] <= 1.0


async def test_trigger_keeps_failing_then_a_retryable_clear_error(kit):
    kit.sim.fail("POST", TRIGGER, Failure.status(503), times=None)
    ctx = kit.ctx()
    with pytest.raises(TaskFailed) as info:
        await kit.runner.start(ctx)
    assert info.value.retryable is True
    assert str(info.value).startswith(f"dbt POST {TRIGGER}: HTTP 503: simulated HTTP 503 "
                                      "(gave up after 5 attempts)")
    assert kit.sim.runs_of_job(JOB) == []
    assert_no_secret(ctx, str(info.value), repr(info.value.metadata))


async def test_rate_limit_longer_than_the_policy_allows_fails_retryable(kit):
    kit.sim.fail("POST", TRIGGER, Failure.rate_limited(retry_after=3600))
    with pytest.raises(TaskFailed) as info:
        await kit.runner.start(kit.ctx())
    assert info.value.retryable is True
    assert "the vendor asks to retry after 3600 s" in str(info.value)


async def test_bad_request_is_not_retried(kit):
    kit.sim.fail("POST", TRIGGER, Failure.status(400))
    with pytest.raises(TaskFailed) as info:
        await kit.runner.start(kit.ctx())
    assert info.value.retryable is False
    assert kit.sim.count("POST", TRIGGER) == 1
    assert "HTTP 400: simulated HTTP 400" in str(info.value)


# -- polling -------------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [
    Failure.status(502), Failure.rate_limited(retry_after=3), Failure.rate_limited(),
    Failure.timeout(), Failure.malformed_json(), Failure.drop_after_processing(),
    Failure.connect_error()],
    ids=["502", "429-retry-after", "429", "timeout", "malformed", "dropped", "connect"])
async def test_poll_failures_are_retried(kit, failure):
    ctx = kit.ctx()
    run = await kit.runner.start(ctx)
    kit.sim.fail("GET", f"*/runs/{run.id}/", failure, times=2)
    result = await kit.runner.wait(ctx, run)
    assert result.state is JobState.SUCCEEDED
    assert sum(1 for line in ctx.logs if "retrying in" in line[1]) == 2
    assert_no_secret(ctx)


async def test_polling_outlasts_a_long_outage_without_triggering_again(kit):
    ctx = kit.ctx()
    run = await kit.runner.start(ctx)
    outage = kit.sim.fail("GET", f"*/runs/{run.id}/", Failure.status(503), times=12)
    result = await kit.runner.wait(ctx, run)
    assert result.state is JobState.SUCCEEDED
    assert outage.hits == 12
    assert kit.sim.count("POST", TRIGGER) == 1
    warnings = [m for level, m in ctx.logs if level == "warning" and "still waiting" in m]
    assert len(warnings) == 2  # the client gave up twice (5 attempts each); wait went on
    assert warnings[0].startswith(f"could not read dbt Cloud run {run.id}: dbt GET ")


async def test_poll_unauthorized_is_a_clear_error(kit):
    ctx = kit.ctx()
    run = await kit.runner.start(ctx)
    kit.sim.fail("GET", f"*/runs/{run.id}/", Failure.status(401))
    with pytest.raises(TaskFailed) as info:
        await kit.runner.wait(ctx, run)
    assert info.value.retryable is False
    assert str(info.value).startswith(f"reading dbt Cloud run {run.id}: the API token is not "
                                      "valid")


async def test_poll_answer_without_the_run_is_a_clear_error(kit):
    ctx = kit.ctx()
    run = await kit.runner.start(ctx)
    kit.sim.fail("GET", f"*/runs/{run.id}/", Failure.rewrite_json(lambda b: {**b,
                                                                             "data": None}))
    with pytest.raises(TaskFailed, match="without the run"):
        await kit.runner.wait(ctx, run)
    assert any("unreadable answer" in m for _, m in ctx.logs)


# -- artifacts and cancel ------------------------------------------------------------------------


async def test_artifacts_that_cannot_be_read_do_not_fail_the_task(kit):
    kit.sim.fail("GET", "*/artifacts/*", Failure.status(500), times=None)
    ctx, _, result = await run_to_end(kit)
    assert result.state is JobState.SUCCEEDED
    assert "HTTP 500" in result.metadata["artifacts_error"]
    assert result.assets == ()
    assert any(level == "warning" and "could not read the artifacts" in m
               for level, m in ctx.logs)


async def test_missing_artifacts_are_recorded_as_none(kit):
    kit.sim.fail("GET", "*/artifacts/run_results.json", Failure.status(404))
    _, run, result = await run_to_end(kit)
    assert result.state is JobState.SUCCEEDED
    assert result.metadata["artifacts"] is None
    assert result.message == f"dbt Cloud run {run.id} succeeded in 12 s ({run.data['href']})"


async def test_cancel_is_retried_through_outages(kit):
    kit.sim.add_job(42, duration=600)
    ctx = kit.ctx(jobid=42)
    run = await kit.runner.start(ctx)
    kit.sim.fail("POST", "*/cancel/", Failure.timeout(processed=False), times=2)
    await kit.runner.cancel(ctx, run)
    assert kit.sim.status(run.id) == 30
    assert kit.sim.count("POST", "*/cancel/") == 3
