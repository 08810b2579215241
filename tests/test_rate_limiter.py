"""The rate limiter counts requests the way a server does: from their arrival, which lies
between the slot and the answer. A slot is held until the answer, then for the window and a
margin; requests that never left give their slot back; credentials are taken after the wait."""

from __future__ import annotations

import anyio
import httpx
import pytest

from orchestra_core._vendor_http import RateLimit, VendorClient
from orchestra_core._vendor_http._limits import MARGIN, RateLimiter
from orchestra_core.testing import FakeClock, RateWindowServer, StubContext


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def test_a_slot_is_held_until_the_answer_and_then_for_the_window():
    clock = FakeClock(autojump=True)
    limiter = RateLimiter(RateLimit(2, 10))
    assert limiter.hold == pytest.approx(10 * (1 + MARGIN))
    await limiter.acquire(clock)
    await limiter.acquire(clock)
    assert limiter.in_flight == 2
    clock.advance(30)  # both requests still in flight 30 s later: no slot is free
    assert limiter._try(clock) == 1.0  # all in flight: looked at again every second
    assert limiter.in_flight == 2
    limiter.release(clock)  # the first answer came at 30 s: its slot frees at 40.1 s
    limiter.release(clock, sent=False)  # the second never left: its slot is free now
    assert limiter.in_flight == 0
    assert await limiter.acquire(clock) == 0.0
    start = clock.monotonic()
    await limiter.acquire(clock)
    assert clock.monotonic() - start == pytest.approx(limiter.hold)


async def test_a_release_on_another_clock_after_the_window_restarted_is_ignored():
    first, second = FakeClock(), FakeClock()
    limiter = RateLimiter(RateLimit(1, 10))
    await limiter.acquire(first)
    await limiter.acquire(second)  # another time base: the window restarts
    limiter.release(first)
    assert limiter.in_flight == 1
    limiter.release(second)
    limiter.release(second)  # one release too many changes nothing
    assert limiter.in_flight == 0


async def test_latency_longer_than_the_margin_draws_no_429():
    """Requests whose answers take longer than the margin still never overrun a server that
    counts arrivals, because slots are counted from the answer."""
    clock = FakeClock()
    server = RateWindowServer(20, 10.0, clock=clock)
    client = VendorClient("acme", "https://api.acme.test/v1", clock=clock,
                          transport=server.transport(latency=(0.0, 3.0), resolution=0.25),
                          rate_limit=RateLimit(20, 10.0))
    ctx = StubContext(None, clock=clock)

    async def one():
        for _ in range(3):
            await client.get("/x", ctx=ctx)

    async with clock.driving(), anyio.create_task_group() as tg:
        for _ in range(40):
            tg.start_soon(one)
    assert server.refused == 0 and len(server.arrivals) == 120
    assert server.peak == 20


async def test_a_connection_refused_gives_the_slot_back():
    clock = FakeClock(autojump=True)

    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    client = VendorClient("acme", "https://api.acme.test/v1", clock=clock,
                          transport=httpx.MockTransport(refuse), rate_limit=RateLimit(1, 60))
    with pytest.raises(Exception, match="refused"):
        await client.get("/x")
    limiter = client.limiter
    assert limiter.in_flight == 0 and len(limiter._done) == 0  # nothing reached the server


class Token:
    """Credentials whose token lives 2 s (refreshed 0.5 s early); remembers every expiry."""

    def __init__(self, clock):
        self.clock, self.value, self.fetches, self.expiry = clock, None, 0, {}

    def cached(self):
        if self.value is None or self.clock.monotonic() >= self.expiry[self.value] - 0.5:
            return None
        return {"Authorization": f"Bearer {self.value}"}

    async def fetch(self):
        self.fetches += 1
        self.value = f"tok-{self.fetches}"
        self.expiry[self.value] = self.clock.monotonic() + 2.0
        return {"Authorization": f"Bearer {self.value}"}


async def test_credentials_are_taken_after_the_wait_for_a_slot():
    clock = FakeClock()
    token = Token(clock)
    sent = []

    def answer(request):  # 401 for a token that expired before the request arrived
        value = request.headers["authorization"].removeprefix("Bearer ")
        sent.append(value)
        return httpx.Response(401 if clock.monotonic() >= token.expiry[value] else 200,
                              json={})

    client = VendorClient("acme", "https://api.acme.test/v1", clock=clock,
                          transport=httpx.MockTransport(answer), rate_limit=RateLimit(2, 1.0))
    async def one():  # a 401 (a token sent after it expired) raises and fails the test
        await client.get("/x", credentials=token)

    async with clock.driving(), anyio.create_task_group() as tg:
        for _ in range(12):  # about 6 s of waiting for slots: three token lifetimes
            tg.start_soon(one)
    assert len(sent) == 12
    assert token.fetches >= 3  # fetched again as the old one neared its end, never sent late
