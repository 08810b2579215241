"""Injected API failures: each one is retried as documented or fails with a clear, redacted
error, and none starts a workflow twice."""

import pytest

from orchestra_core import JobState, TaskFailed
from orchestra_core.testing import Failure

pytestmark = pytest.mark.anyio

START = "/api/workflow/runs"


@pytest.mark.parametrize("failure", [
    Failure.status(500), Failure.status(503), Failure.rate_limited(),
    Failure.rate_limited(retry_after=2), Failure.timeout(), Failure.connect_error(),
    Failure.malformed_json(),
], ids=["500", "503", "429", "429-retry-after", "timeout", "connect", "malformed"])
async def test_transient_failures_while_polling_are_retried(kit, failure):
    ctx = kit.ctx()
    runner = kit.runner()
    run = await runner.start(ctx)
    kit.sim.fail("GET", f"{START}/*", failure, times=2)
    result = await runner.wait(ctx, run)
    assert result.state is JobState.SUCCEEDED
    assert sum(1 for level, _ in ctx.logs if level == "warning") >= 2


@pytest.mark.parametrize("failure", [
    Failure.drop_after_processing(), Failure.timeout(processed=True), Failure.status(502),
    Failure.malformed_json()], ids=["drop", "timeout", "502", "malformed"])
async def test_a_lost_start_answer_never_starts_twice(kit, failure):
    ctx = kit.ctx("og-8qLw3p1")
    kit.sim.fail("POST", START, failure)
    run = await kit.runner("og-8qLw3p1").start(ctx)
    created = [r.id for r in kit.sim.runs()]
    if failure.processed:
        assert created == [run.id]
        assert any("not starting another one" in m for _, m in ctx.logs)
    else:  # a 502 before processing: nothing was created, so it was sent again
        assert created == [run.id] and kit.sim.count("POST", START) == 2


async def test_rejected_before_sending_is_sent_again(kit):
    kit.sim.fail("POST", START, Failure.connect_error())
    kit.sim.fail("POST", START, Failure.rate_limited())
    run = await kit.runner().start(kit.ctx())
    assert [r.id for r in kit.sim.runs()] == [run.id]


async def test_an_outage_while_polling_gives_up_with_a_redacted_error(kit):
    ctx = kit.ctx(poll_interval=30)
    runner = kit.runner()
    run = await runner.start(ctx)
    kit.sim.fail("GET", f"{START}/*", Failure.status(503), times=None)
    with pytest.raises(TaskFailed) as info:
        await runner.wait(ctx, run)
    assert info.value.retryable is True
    assert "HTTP 503" in str(info.value)
    assert "secret-token:amperity-simulator" not in str(info.value)
    assert kit.clock.monotonic() >= 3600


async def test_a_workflow_amperity_forgot_is_a_clear_error(kit):
    ctx = kit.ctx()
    runner = kit.runner()
    run = await runner.start(ctx)
    kit.sim.fail("GET", f"{START}/*", Failure.status(404))
    with pytest.raises(TaskFailed, match=f"Amperity does not know workflow {run.id}") as info:
        await runner.wait(ctx, run)
    assert info.value.retryable is False


async def test_start_without_an_id_is_ambiguous(kit):
    kit.sim.fail("POST", START, Failure.rewrite_json(lambda body: {"state": "scheduled"}))
    with pytest.raises(TaskFailed, match="sent no workflow id") as info:
        await kit.runner().start(kit.ctx())
    assert info.value.retryable is None


async def test_a_409_on_start_is_retryable_with_a_hint(kit):
    kit.sim.fail("POST", START, Failure.status(409))
    with pytest.raises(TaskFailed, match="already running") as info:
        await kit.runner().start(kit.ctx())
    assert info.value.retryable is True


async def test_token_endpoint_outage_is_retried(kit):
    kit.sim.fail("POST", "/api/v0/oauth2/token", Failure.status(503), times=2)
    _, result = await kit.run(kit.ctx(oauth=True))
    assert result.state is JobState.SUCCEEDED
    assert kit.sim.count("POST", "/api/v0/oauth2/token") == 3
