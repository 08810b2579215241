"""Amperity allows 10 requests per second per tenant: every task of a host shares that
budget, counted the way the server counts (when requests arrive), and a request takes its
OAuth token only once it has its slot, so a long wait cannot outlive the token."""

import anyio
import pytest
from orchestra_amperity._api import RATE_LIMIT_REQUESTS, RATE_LIMIT_SECONDS, AmperityAPI

from orchestra_core import Connection, JobState, TaskFailed
from orchestra_core.testing import (
    Failure,
    RateWindowServer,
    ScaledClock,
    StubContext,
    make_host,
)


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def test_50_tasks_over_real_http_draw_no_429_from_a_sliding_second():
    import orchestra_amperity.plugin

    clock = ScaledClock(speed=15)  # a second of the clock in 67 ms of real time
    host = make_host(orchestra_amperity.plugin)
    with RateWindowServer(RATE_LIMIT_REQUESTS, RATE_LIMIT_SECONDS, clock=clock) as server:
        conn = Connection(name="amp", integration="amperity", base_url=server.url,
                          options={"tenant": "acme"}, secrets={"token": "amp-token"})
        apis = [AmperityAPI(host, StubContext(None, clock=clock, connection=conn))
                for _ in range(50)]
        assert apis[0].client.limiter is apis[-1].client.limiter

        async def one(api):
            for _ in range(3):
                await api.request("GET", "/workflow/runs/wf-1")

        async with anyio.create_task_group() as tg:
            for api in apis:
                tg.start_soon(one, api)
        await apis[0].client.aclose()
    assert server.refused == 0
    assert len(server.arrivals) == 150
    assert server.peak <= RATE_LIMIT_REQUESTS  # at most 10 in any sliding second
    assert apis[0].client.limiter.waited > 0  # the budget ran out: tasks waited for slots


async def test_short_lived_tokens_are_taken_after_the_wait_for_a_slot(make_kit):
    """50 tasks wait up to 5 s for their first slot; tokens live 3 s (refreshed 0.3 s early):
    a token taken before the wait would be expired when the request is sent."""
    kit = make_kit(token_lifetime=3)
    results: dict[int, object] = {}

    async def one(i):
        ctx = kit.ctx(oauth=True, poll_interval=5)
        try:
            results[i] = (await kit.run(ctx))[1]
        except TaskFailed as exc:
            results[i] = exc
        results[i, "logs"] = ctx.logs

    async with anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(one, i)
    failed = {i: r for i, r in results.items() if isinstance(i, int)
              and getattr(r, "state", None) is not JobState.SUCCEEDED}
    assert failed == {}
    assert not any("401" in m for i, logs in results.items() if isinstance(i, tuple)
                   for _, m in logs)
    assert kit.sim.rejected_by_rate_limit == 0
    assert kit.sim.count("POST", "/api/v0/oauth2/token") > 1  # renewed as the run went on


async def test_a_workflow_in_an_unknown_state_is_stopped(kit):
    ctx = kit.ctx("og-8qLw3p1")
    runner = kit.runner("og-8qLw3p1")
    run = await runner.start(ctx)
    kit.sim.fail("GET", "/api/workflow/runs/*", Failure.rewrite_json(
        lambda body: {**body, "state": "half_done"}))
    with pytest.raises(TaskFailed, match="unknown workflow state 'half_done'"):
        await runner.wait(ctx, run)
    assert kit.sim.count("POST", f"/api/workflow/runs/{run.id}/stop") == 1
    assert any(level == "warning" and f"stopped Amperity workflow {run.id}" in m
               for level, m in ctx.logs)
