"""Fivetran counts requests per rolling hour (20,000 on paid plans, 500 on a trial); the
shared rate limit must draw no 429 from a server that counts them when they arrive."""

import anyio
import orchestra_fivetran.plugin
import pytest
from orchestra_fivetran._api import DEFAULT_REQUESTS_PER_HOUR, FivetranAPI

from orchestra_core import Connection
from orchestra_core.testing import (
    FakeClock,
    RateWindowServer,
    ScaledClock,
    StubContext,
    make_host,
)


@pytest.fixture
def anyio_backend():
    return "asyncio"


def _conn(base_url, **options):
    return Connection(name="ft", integration="fivetran", base_url=base_url, options=options,
                      secrets={"api_key": "ft-key", "api_secret": "ft-secret"})


async def _hammer(host, conn, clock, tasks, each):
    apis = [FivetranAPI.for_connection(host, conn) for _ in range(tasks)]
    assert apis[0].client.limiter is apis[-1].client.limiter  # one budget per API key
    ctx = StubContext(None, clock=clock)

    async def one(api):
        for _ in range(each):
            await api.client.get("/connections/ambush_prettiest", ctx=ctx)

    async with anyio.create_task_group() as tg:
        for api in apis:
            tg.start_soon(one, api)
    return apis[0]


async def test_a_trial_accounts_500_an_hour_over_real_http():
    clock = ScaledClock(speed=3600)  # an hour of the clock in 1 s of real time
    host = make_host(orchestra_fivetran.plugin)
    with RateWindowServer(500, 3600.0, clock=clock) as server:
        api = await _hammer(host, _conn(server.url, requests_per_hour=500), clock, 600, 1)
        await api.client.aclose()
    assert server.refused == 0
    assert len(server.arrivals) == 600
    assert server.peak <= 500
    assert api.client.limiter.waited > 0  # the budget ran out: tasks waited for slots


async def test_the_default_20000_an_hour_with_latency():
    """The plugin's own limit for a paid account, through its limiter (20,000 requests
    through httpx would take too long): each request arrives after a random latency and its
    answer comes back after another; the server counts arrivals."""
    import random

    clock = FakeClock()
    server = RateWindowServer(DEFAULT_REQUESTS_PER_HOUR, 3600.0, clock=clock)
    host = make_host(orchestra_fivetran.plugin)
    api = FivetranAPI.for_connection(host, _conn("https://api.fivetran.test/v1"))
    limiter = api.client.limiter
    assert (limiter.limit.requests, limiter.limit.per) == (20_000, 3600.0)
    rng = random.Random(3)

    def latency():  # mostly a few seconds; one request in ten waits a minute and more
        return rng.randrange(60, 120, 4) if rng.random() < 0.1 else rng.randrange(0, 6, 2)

    async def one():
        for _ in range(110):
            await limiter.acquire(clock)
            await clock.sleep(latency())
            server.arrive()
            await clock.sleep(latency())
            limiter.release(clock)

    async with clock.driving(), anyio.create_task_group() as tg:
        for _ in range(200):
            tg.start_soon(one)
    assert server.refused == 0
    assert len(server.arrivals) == 22_000
    assert server.peak == DEFAULT_REQUESTS_PER_HOUR
