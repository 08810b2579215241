"""dbt Cloud allows 5,000 requests per minute per account; a server counts them when they
arrive, after a latency the client cannot see: the shared rate limit must still draw no 429."""

import anyio
import orchestra_dbt.plugin
import pytest
from orchestra_dbt.runner import REQUESTS_PER_MINUTE

from orchestra_core import Connection
from orchestra_core.testing import FakeClock, RateWindowServer, StubContext, make_host


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def test_5000_a_minute_with_latency_draws_no_429():
    clock = FakeClock()
    server = RateWindowServer(REQUESTS_PER_MINUTE, 60.0, clock=clock)
    host = make_host(orchestra_dbt.plugin)
    host.set_transport("dbt", server.transport(latency=(0.0, 1.5), resolution=0.125))
    runner = host.runner(host.find_job("dbt", "dbt_runjob"))
    conn = Connection(name="dbt", integration="dbt", base_url="https://cloud.getdbt.test",
                      secrets={"token": "dbt-token"}, options={"account_id": "1"})
    contexts = [StubContext(None, clock=clock, connection=conn, task_id=f"t{i}")
                for i in range(150)]
    apis = [runner._api(ctx) for ctx in contexts]
    assert apis[0].client.limiter is apis[-1].client.limiter  # one budget for the account

    async def one(api, ctx):
        for _ in range(40):
            await api.client.get(f"{api.v2}/runs/1/", ctx=ctx)

    async with clock.driving(), anyio.create_task_group() as tg:
        for api, ctx in zip(apis, contexts, strict=True):
            tg.start_soon(one, api, ctx)
    assert server.refused == 0
    assert len(server.arrivals) == 6000
    assert server.peak == REQUESTS_PER_MINUTE  # the budget was used, never exceeded
