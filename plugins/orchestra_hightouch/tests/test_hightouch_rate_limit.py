"""Hightouch allows 200 requests per 10 s per workspace: every task of a process shares it."""

from __future__ import annotations

import anyio
import orchestra_hightouch.plugin
import pytest
from orchestra_hightouch import HightouchSync
from orchestra_hightouch.testing import HightouchSimulator

from orchestra_core import Connection, JobState, TaskFailed
from orchestra_core.testing import FakeClock, StubContext, make_host


@pytest.fixture
def anyio_backend():
    return "asyncio"


def _setup(rate_limit: int = 200):
    clock = FakeClock()
    sim = HightouchSimulator(clock=clock, rate_limit=rate_limit)
    host = make_host(orchestra_hightouch.plugin)
    host.set_transport("hightouch", sim.transport)
    runner = host.runner(host.find_job("hightouch", "hightouch_sync"))
    return clock, sim, runner


async def _run_all(clock, runner, contexts):
    results = {}

    async def one(i, ctx):
        try:
            run = await runner.start(ctx)
            results[i] = await runner.wait(ctx, run)
        except TaskFailed as exc:
            results[i] = exc

    async with clock.driving(), anyio.create_task_group() as tg:
        for i, ctx in enumerate(contexts):
            tg.start_soon(one, i, ctx)
    return results


async def test_500_concurrent_tasks_stay_under_the_workspace_limit():
    clock, sim, runner = _setup()
    syncs = [sim.add_sync(slug=f"audience-{i}", duration=8) for i in range(50)]
    conn = sim.connection()
    contexts = [StubContext(HightouchSync(syncid=syncs[i % 50].id, poll_interval=5),
                            clock=clock, connection=conn, task_id=f"t{i}")
                for i in range(500)]
    results = await _run_all(clock, runner, contexts)
    assert len(results) == 500
    assert all(r.state is JobState.SUCCEEDED for r in results.values())
    assert sim.rate_limited == 0  # not one 429
    assert 150 < sim.peak_rate <= 200  # the budget was used, never exceeded
    assert sim.count("POST") == 500
    # at least 1,000 requests (a look-up and a trigger each) at 20 per second
    assert clock.monotonic() >= 50


@pytest.mark.parametrize("shared", [True, False])
async def test_two_keys_of_one_workspace_share_the_limit_when_told(shared):
    clock, sim, runner = _setup()
    second_key = "ht-sim-token-0002"
    sim.state.add_token(second_key, sim.workspace.id)
    options = {"workspace": "acme"} if shared else {}
    conns = [Connection(name=f"c{n}", integration="hightouch", base_url=sim.base_url,
                        secrets={"token": token}, options=options)
             for n, token in enumerate((sim.token, second_key))]
    syncs = [sim.add_sync(slug=f"audience-{i}") for i in range(30)]
    contexts = [StubContext(HightouchSync(syncid=syncs[i % 30].id, poll_interval=5),
                            clock=clock, connection=conns[i % 2], task_id=f"t{i}")
                for i in range(300)]
    results = await _run_all(clock, runner, contexts)
    if shared:
        assert sim.rate_limited == 0 and sim.peak_rate == 200
        assert all(r.state is JobState.SUCCEEDED for r in results.values())
    else:  # each key has its own budget of 200: together they overrun the workspace's
        assert sim.rate_limited > 0


async def test_separate_workspaces_have_separate_limits():
    clock, sim, runner = _setup()
    other = sim.add_workspace("ht-other-workspace-key")
    mine = [sim.add_sync(slug=f"mine-{i}") for i in range(15)]
    theirs = [sim.add_sync(slug=f"theirs-{i}", workspace=other) for i in range(15)]
    contexts = [StubContext(HightouchSync(syncid=mine[i % 15].id, poll_interval=5),
                            clock=clock, connection=sim.connection(), task_id=f"a{i}")
                for i in range(150)]
    contexts += [StubContext(HightouchSync(syncid=theirs[i % 15].id, poll_interval=5),
                             clock=clock, task_id=f"b{i}",
                             connection=sim.connection(token="ht-other-workspace-key"))
                 for i in range(150)]
    results = await _run_all(clock, runner, contexts)
    assert all(r.state is JobState.SUCCEEDED for r in results.values())
    assert sim.rate_limited == 0
    # both workspaces used their whole budget at the same time
    assert sim.workspace.rate.peak == other.rate.peak == 200


async def test_the_simulator_refuses_the_201st_request_without_retry_after():
    import httpx

    clock = FakeClock()
    sim = HightouchSimulator(clock=clock)
    headers = {"Authorization": f"Bearer {sim.token}"}
    async with httpx.AsyncClient(transport=sim.transport, base_url=sim.base_url) as client:
        answers = [await client.get("/syncs/1001", headers=headers) for _ in range(201)]
        assert {a.status_code for a in answers[:200]} == {200}
        refused = answers[200]
        assert refused.status_code == 429
        assert "retry-after" not in refused.headers
        assert refused.json() == {"error": "Rate limit exceeded: 200 requests per 10 seconds "
                                  "per workspace"}
        clock.advance(10)
        assert (await client.get("/syncs/1001", headers=headers)).status_code == 200
    assert sim.rate_limited == 1 and sim.peak_rate == 200


# -- over real HTTP: the server counts requests when they arrive ------------------------------


async def _hammer(limit_server, tasks: int, requests_each: int):
    """*tasks* concurrent tasks, each sending *requests_each* requests through the plugin's
    own client (its rate limit) to *limit_server* over real HTTP."""
    from orchestra_hightouch._api import HightouchAPI

    host = make_host(orchestra_hightouch.plugin)
    conn = Connection(name="ht", integration="hightouch", base_url=limit_server.url,
                      auth="bearer", secrets={"token": "ht-token"})
    contexts = [StubContext(None, clock=limit_server.clock, connection=conn, task_id=f"t{i}")
                for i in range(tasks)]
    apis = [HightouchAPI(host, ctx) for ctx in contexts]
    assert apis[0].client.limiter is apis[-1].client.limiter  # one budget for the workspace

    async def one(api, ctx):
        for _ in range(requests_each):
            await api.client.get("/syncs/1", ctx=ctx)

    async with anyio.create_task_group() as tg:
        for api, ctx in zip(apis, contexts, strict=True):
            tg.start_soon(one, api, ctx)
    await apis[0].client.aclose()
    return apis[0].client.limiter


@pytest.mark.parametrize(("tasks", "requests_each"), [(200, 2), (500, 1)])
async def test_no_429_over_real_http_from_a_server_counting_arrivals(tasks, requests_each):
    """Hightouch counts 200 requests per sliding 10 s when they arrive: latency between the
    limiter's slot and the arrival must not let the next burst overlap the last one."""
    from orchestra_hightouch._api import RATE_LIMIT_REQUESTS, RATE_LIMIT_SECONDS

    from orchestra_core.testing import RateWindowServer, ScaledClock

    clock = ScaledClock(speed=10)  # 10 s windows pass in 1 s of real time
    with RateWindowServer(RATE_LIMIT_REQUESTS, RATE_LIMIT_SECONDS, clock=clock) as server:
        limiter = await _hammer(server, tasks, requests_each)
    assert server.refused == 0
    assert len(server.arrivals) == tasks * requests_each
    assert server.peak <= RATE_LIMIT_REQUESTS
    assert limiter.waited > 0  # the budget ran out: tasks waited for slots
