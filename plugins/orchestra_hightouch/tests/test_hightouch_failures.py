"""Every failure injection: the documented retry, or a clear, redacted error."""

from __future__ import annotations

import json

import pytest

from orchestra_core import JobState, TaskFailed, VendorHTTPError
from orchestra_core.testing import Failure

TRIGGER = "/api/v1/syncs/1001/trigger"
RUNS = "/api/v1/syncs/1001/runs"
SYNC = "/api/v1/syncs/1001"


@pytest.mark.parametrize("failure", [
    Failure.timeout(processed=True),
    Failure.drop_after_processing(),
    Failure.malformed_json(),
    Failure.status(502),  # may or may not have been processed: Hightouch does not say
], ids=["timeout", "drop", "malformed", "502"])
async def test_ambiguous_trigger_failure_never_starts_a_second_run(kit, failure):
    kit.sim.fail("POST", TRIGGER, failure)
    ctx = kit.ctx()
    run, result = await kit.sync(ctx)
    assert result.state is JobState.SUCCEEDED
    [sim_run] = kit.sim.runs("1001")
    assert run.id == str(sim_run.id)
    sent = kit.sim.count("POST", TRIGGER)
    if failure.processed:  # the first POST created the run: it was found, not re-sent
        assert sent == 1
        assert any("found Hightouch run" in m for _, m in ctx.logs)
    else:  # nothing was created: looked, found nothing, sent again
        assert sent == 2
    assert kit.sim.count("GET", RUNS) >= 2  # the look-up, then the polls


@pytest.mark.parametrize("failure", [Failure.timeout(), Failure.connect_error()],
                         ids=["timeout-before-processing", "connect"])
async def test_trigger_that_never_arrived_is_sent_again(kit, failure):
    kit.sim.fail("POST", TRIGGER, failure)
    _, result = await kit.sync(kit.ctx())
    assert result.state is JobState.SUCCEEDED
    assert len(kit.sim.runs("1001")) == 1


async def test_rate_limited_without_retry_after_backs_off(kit):
    kit.sim.fail("GET", RUNS, Failure.rate_limited(), times=3)
    ctx = kit.ctx()
    _, result = await kit.sync(ctx)
    assert result.state is JobState.SUCCEEDED
    retries = [m for level, m in ctx.logs if level == "warning" and "HTTP 429" in m]
    assert len(retries) == 3
    assert "HTTP 429: Too Many Requests" in retries[0]
    delays = [float(m.split("retrying in ")[1].split(" s")[0]) for m in retries]
    # exponential: HttpRetry's default full jitter draws each in [base * (1 - jitter), base]
    for delay, base in zip(delays, [1.0, 2.0, 4.0], strict=True):
        assert 0.0 <= delay <= base


async def test_rate_limited_with_retry_after_is_honoured(kit):
    kit.sim.fail("GET", RUNS, Failure.rate_limited(retry_after=7))
    ctx = kit.ctx()
    await kit.sync(ctx)
    assert 7.0 in ctx.sleeps


@pytest.mark.parametrize("failure", [Failure.status(500), Failure.status(503),
                                     Failure.malformed_json(), Failure.timeout(),
                                     Failure.connect_error()],
                         ids=["500", "503", "malformed", "timeout", "connect"])
async def test_transient_poll_failures_are_retried(kit, failure):
    kit.sim.fail("GET", RUNS, failure, times=2)
    _, result = await kit.sync(kit.ctx())
    assert result.state is JobState.SUCCEEDED
    assert kit.sim.count("POST") == 1


async def test_a_long_outage_while_waiting_only_delays(kit):
    kit.sim.fail("GET", RUNS, Failure.status(503), times=12)  # beyond the client's 5 attempts
    ctx = kit.ctx()
    run, result = await kit.sync(ctx)
    assert result.state is JobState.SUCCEEDED
    assert any(level == "warning" and m.startswith(f"reading run {run.id} of Hightouch sync "
                                                   "1001 (daily-accounts) failed")
               and "trying again in" in m for level, m in ctx.logs)
    assert kit.sim.count("POST") == 1


async def test_server_errors_on_sync_lookup_are_retried(kit):
    kit.sim.fail("GET", SYNC, Failure.status(500), times=2)
    _, result = await kit.sync(kit.ctx())
    assert result.state is JobState.SUCCEEDED


async def test_persistent_5xx_on_trigger_gives_up_retryable(kit):
    kit.sim.fail("POST", TRIGGER, Failure.status(500), times=None)
    with pytest.raises(VendorHTTPError) as info:
        await kit.runner.start(kit.ctx())
    err = info.value
    assert err.retryable is True and err.status == 500 and err.attempts == 5
    assert str(err).startswith("hightouch POST /api/v1/syncs/1001/trigger: HTTP 500: "
                               "Internal Server Error")
    assert kit.sim.runs("1001") == []


async def test_key_revoked_while_waiting_is_a_clear_redacted_error(kit):
    ctx = kit.ctx()
    run = await kit.runner.start(ctx)
    kit.sim.state.tokens.clear()  # the key's creator was removed from the workspace
    with pytest.raises(VendorHTTPError) as info:
        await kit.runner.wait(ctx, run)
    err = info.value
    assert err.status == 401 and err.retryable is False
    assert str(err) == ("hightouch GET /api/v1/syncs/1001/runs: HTTP 401: Authentication "
                        "error")
    assert kit.sim.token not in str(err) and kit.sim.token not in json.dumps(err.metadata)


async def test_validation_error_is_not_retried(kit):
    kit.sim.fail("POST", TRIGGER, Failure.status(422, body={
        "message": "Validation failed", "details": {"body.fullResync": "expected boolean"}}))
    with pytest.raises(TaskFailed) as info:
        await kit.runner.start(kit.ctx())
    assert info.value.retryable is False
    assert "HTTP 422: Validation failed" in str(info.value)
    assert kit.sim.count("POST") == 1


async def test_trigger_answer_without_a_run_id(kit):
    kit.sim.fail("POST", TRIGGER, Failure.rewrite_json(lambda body: {"ok": True}))
    with pytest.raises(TaskFailed, match="Hightouch accepted the trigger of sync 1001 but "
                       "sent no run id"):
        await kit.runner.start(kit.ctx())


async def test_run_missing_from_the_list_for_too_long(kit):
    kit.sim.fail("GET", RUNS, Failure.rewrite_json(lambda body: {**body, "data": []}),
                 times=None)
    ctx = kit.ctx(poll_interval=30)
    run = await kit.runner.start(ctx)
    with pytest.raises(TaskFailed) as info:
        await kit.runner.wait(ctx, run)
    assert str(info.value) == (f"Hightouch does not list run {run.id} of sync 1001 "
                               "(daily-accounts) 150 s after it was triggered")
    assert info.value.retryable is False


async def test_run_appearing_late_in_the_list_is_waited_for(kit):
    kit.sim.fail("GET", RUNS, Failure.rewrite_json(lambda body: {**body, "data": []}),
                 times=3)
    _, result = await kit.sync(kit.ctx())
    assert result.state is JobState.SUCCEEDED


async def test_an_outage_of_an_hour_gives_up_retryable(kit):
    ctx = kit.ctx()
    run = await kit.runner.start(ctx)
    kit.sim.fail("GET", RUNS, Failure.status(503), times=None)
    began = kit.clock.monotonic()
    with pytest.raises(VendorHTTPError) as info:
        await kit.runner.wait(ctx, run)
    assert info.value.retryable is True and info.value.status == 503
    assert 3600 <= kit.clock.monotonic() - began < 3600 + 2 * 300 + 120
    assert kit.sim.count("POST") == 1
