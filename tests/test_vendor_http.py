"""The shared vendor HTTP layer against a small fake vendor (httpx MockTransport)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import anyio
import httpx
import pytest

from orchestra_core import Orchestra
from orchestra_core._errors import TaskFailed
from orchestra_core._redaction import MASK
from orchestra_core._retry import HttpRetry
from orchestra_core._vendor_http import (
    RateLimit,
    RateLimiters,
    VendorClient,
    VendorHTTPError,
    parse_retry_after,
)
from orchestra_core.testing import FakeClock, StubContext

NO_JITTER = HttpRetry(jitter=0.0)


class FakeVendor:
    """A scripted vendor: each request pops the next answer for its (method, path)."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.scripts: dict[tuple[str, str], list[Callable[[httpx.Request], httpx.Response]]] = {}
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []
        self.clock = clock
        self.runs: list[dict] = []
        self.transport = httpx.MockTransport(self.handle)

    def script(self, method: str, path: str, *answers: Callable) -> None:
        self.scripts.setdefault((method, path), []).extend(answers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.clock is not None:
            self.times.append(self.clock.monotonic())
        answers = self.scripts.get((request.method, request.url.path))
        if answers:
            return answers.pop(0)(request)
        if request.method == "POST" and request.url.path == "/v1/runs":
            run = {"id": len(self.runs) + 1}
            self.runs.append(run)
            return httpx.Response(200, json={"data": run})
        return httpx.Response(200, json={"ok": True, "path": request.url.path})

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.url.path == path)


def status(code: int, body: object = None, headers: dict | None = None) -> Callable:
    def answer(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes | str):
            return httpx.Response(code, content=body, headers=headers)
        return httpx.Response(code, json=body if body is not None else {"error": "x"},
                              headers=headers)
    return answer


def raises(exc: type[Exception], *, create_run: FakeVendor | None = None) -> Callable:
    def answer(request: httpx.Request) -> httpx.Response:
        if create_run is not None:
            create_run.runs.append({"id": len(create_run.runs) + 1})
        raise exc("boom", request=request)
    return answer


def make(vendor: FakeVendor, **kwargs) -> VendorClient:
    kwargs.setdefault("retry", NO_JITTER)
    kwargs.setdefault("clock", FakeClock(autojump=True))  # retries without ctx: no real sleeps
    return VendorClient("acme", "https://api.acme.test/v1", transport=vendor.transport, **kwargs)


async def test_get_returns_decoded_json_and_none_for_empty_body():
    vendor = FakeVendor()
    vendor.script("DELETE", "/v1/things/1", lambda r: httpx.Response(204))
    client = make(vendor)
    assert await client.get("/things", params={"limit": 5}) == {"ok": True, "path": "/v1/things"}
    assert vendor.requests[0].url.params["limit"] == "5"
    assert await client.delete("things/1") is None


async def test_5xx_is_retried_with_exponential_backoff_logged_in_the_run_log():
    vendor = FakeVendor()
    vendor.script("GET", "/v1/x", status(502), status(503, {"message": "maintenance"}))
    ctx = StubContext(None)
    assert await make(vendor).get("/x", ctx=ctx) == {"ok": True, "path": "/v1/x"}
    assert ctx.sleeps == [1.0, 2.0]
    assert vendor.count("GET", "/v1/x") == 3
    warnings = [m for level, m in ctx.logs if level == "warning"]
    assert "acme GET /v1/x: HTTP 502" in warnings[0]
    assert "maintenance" in warnings[1] and "attempt 3 of 5" in warnings[1]


async def test_jitter_spreads_delays_within_bounds():
    vendor = FakeVendor()
    vendor.script("GET", "/v1/x", *[status(500)] * 3)
    ctx = StubContext(None)
    await make(vendor, retry=HttpRetry(jitter=0.5), seed=7).get("/x", ctx=ctx)
    for delay, base in zip(ctx.sleeps, [1.0, 2.0, 4.0], strict=True):
        assert base * 0.5 <= delay <= base  # orchestra_core._retry.backoff: [base*(1-jitter), base]
    assert ctx.sleeps != [1.0, 2.0, 4.0]


async def test_429_honours_retry_after_seconds_and_http_date():
    clock = FakeClock(autojump=True)
    vendor = FakeVendor()
    vendor.script("GET", "/v1/x", status(429, headers={"Retry-After": "7"}),
                  status(429, headers={"Retry-After": "Thu, 01 Jan 2026 00:00:42 GMT"}),
                  status(429))
    ctx = StubContext(None, clock=clock)
    client = make(vendor, clock=clock)
    assert await client.get("/x", ctx=ctx) == {"ok": True, "path": "/v1/x"}
    # 7 s as asked; then until 00:00:42 (the clock is at 00:00:07); then plain backoff (3rd retry)
    assert ctx.sleeps == [7.0, 35.0, 4.0]


async def test_retry_after_beyond_the_maximum_fails_at_once_as_retryable():
    vendor = FakeVendor()
    vendor.script("GET", "/v1/x", status(429, {"code": "TooManyRequests", "message": "slow"},
                                         {"Retry-After": "3600"}))
    ctx = StubContext(None)
    with pytest.raises(VendorHTTPError) as info:
        await make(vendor).get("/x", ctx=ctx)
    err = info.value
    assert err.kind == "rate_limited" and err.status == 429 and err.retryable is True
    assert "retry after 3600 s" in str(err) and "TooManyRequests: slow" in str(err)
    assert ctx.sleeps == []


async def test_other_4xx_fail_at_once_with_structured_redacted_error():
    secret = "tok-very-secret-123"
    vendor = FakeVendor()
    vendor.script("POST", "/v1/jobs/9/run", status(
        400, {"status": {"code": 400, "user_message": f"bad cause for {secret}"}},
        {"x-request-id": "req-77"}))
    client = make(vendor, headers={"Authorization": f"Token {secret}"})
    with pytest.raises(VendorHTTPError) as info:
        await client.post("/jobs/9/run", json={"cause": "x"}, params={"token": secret})
    err = info.value
    assert isinstance(err, TaskFailed)
    assert (err.vendor, err.method, err.path, err.status) == ("acme", "POST", "/v1/jobs/9/run",
                                                              400)
    assert err.request_id == "req-77" and err.retryable is False and err.attempts == 1
    assert secret not in str(err) and secret not in err.body and MASK in err.body
    assert "Authorization" not in str(err) and "token=" not in str(err)
    assert str(err) == (f"acme POST /v1/jobs/9/run: HTTP 400: bad cause for {MASK} "
                        "(request id req-77)")
    assert err.metadata["status"] == 400 and err.metadata["request_id"] == "req-77"
    assert vendor.count("POST", "/v1/jobs/9/run") == 1
    assert secret in client.redactor  # the header's token was registered


async def test_basic_auth_password_is_registered_and_never_shown():
    vendor = FakeVendor()
    vendor.script("GET", "/v1/x", status(401, {"message": "bad key long-api-key-0001:pw-9876543"}))
    client = make(vendor, auth=httpx.BasicAuth("long-api-key-0001", "pw-9876543"))
    with pytest.raises(VendorHTTPError) as info:
        await client.get("/x")
    assert "pw-9876543" not in str(info.value) and "long-api-key-0001" not in str(info.value)
    assert vendor.requests[0].headers["authorization"].startswith("Basic ")


async def test_basic_auth_as_a_pair_is_sent_and_registered():
    vendor = FakeVendor()
    vendor.script("GET", "/v1/x", status(401, {"message": "bad key long-api-key-0002:pw-1234567"}))
    client = make(vendor, auth=("long-api-key-0002", "pw-1234567"))
    with pytest.raises(VendorHTTPError) as info:
        await client.get("/x")
    assert "pw-1234567" not in str(info.value) and "long-api-key-0002" not in str(info.value)
    token = base64.b64encode(b"long-api-key-0002:pw-1234567").decode()
    assert vendor.requests[0].headers["authorization"] == f"Basic {token}"
    assert token in client.redactor


async def test_accepted_statuses_are_answers():
    vendor = FakeVendor()
    vendor.script("GET", "/v1/x", status(404, {"found": False}), status(503, {"down": True}))
    client = make(vendor)
    assert await client.get("/x", accept=(404,)) == {"found": False}
    response = await client.get("/x", accept=(503,), raw=True)
    assert response.status_code == 503 and response.json() == {"down": True}
    assert vendor.count("GET", "/v1/x") == 2  # neither was retried


@pytest.mark.parametrize("url", ["ftp://files.acme.test/x", "https://api.acme.test:abc/x"])
async def test_a_request_that_cannot_be_sent_is_not_retried(url):
    client = VendorClient("acme", url.rsplit("/", 1)[0], retry=NO_JITTER,
                          clock=FakeClock(autojump=True))
    try:
        with pytest.raises(VendorHTTPError) as info:
            await client.get(url)
    finally:
        await client.aclose()
    err = info.value
    assert (err.kind, err.retryable, err.attempts, err.status) == ("invalid", False, 1, None)
    assert isinstance(err.__cause__, httpx.UnsupportedProtocol | httpx.InvalidURL)


async def test_the_httpx_exception_is_the_cause():
    vendor = FakeVendor()
    vendor.script("GET", "/v1/x", *[raises(httpx.ConnectError)] * 5)
    with pytest.raises(VendorHTTPError) as info:
        await make(vendor).get("/x")
    assert info.value.kind == "connection" and info.value.retryable is True
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_exhausted_retries_raise_retryable_error_with_attempt_count():
    vendor = FakeVendor()
    vendor.script("GET", "/v1/x", *[status(500, "<html>oops</html>")] * 3)
    ctx = StubContext(None)
    with pytest.raises(VendorHTTPError) as info:
        await make(vendor, retry=HttpRetry(count=2, jitter=0)).get("/x", ctx=ctx)
    err = info.value
    assert err.retryable is True and err.attempts == 3 and err.status == 500
    assert "gave up after 3 attempts" in str(err) and "oops" in str(err)
    assert ctx.sleeps == [1.0, 2.0]


async def test_post_timeout_after_sending_asks_find_existing_and_returns_it():
    vendor = FakeVendor()
    vendor.script("POST", "/v1/runs", raises(httpx.ReadTimeout, create_run=vendor))
    client = make(vendor)
    found_calls = []

    async def find_existing():
        found_calls.append(1)
        return {"data": vendor.runs[-1]} if vendor.runs else None

    ctx = StubContext(None)
    result = await client.post("/runs", json={}, ctx=ctx, find_existing=find_existing)
    assert result == {"data": {"id": 1}}
    assert vendor.count("POST", "/v1/runs") == 1 and len(vendor.runs) == 1
    assert found_calls == [1]
    assert any("not sending it again" in m for _, m in ctx.logs)


async def test_post_resent_only_when_find_existing_finds_nothing():
    vendor = FakeVendor()
    vendor.script("POST", "/v1/runs", status(500))  # failed before creating anything

    async def find_existing():
        return {"data": vendor.runs[-1]} if vendor.runs else None

    result = await make(vendor).post("/runs", json={}, find_existing=find_existing)
    assert result == {"data": {"id": 1}}
    assert vendor.count("POST", "/v1/runs") == 2 and len(vendor.runs) == 1


async def test_post_without_find_existing_is_never_resent_after_ambiguous_failure():
    vendor = FakeVendor()
    vendor.script("POST", "/v1/runs", raises(httpx.RemoteProtocolError, create_run=vendor))
    with pytest.raises(VendorHTTPError) as info:
        await make(vendor).post("/runs", json={})
    err = info.value
    assert err.kind == "ambiguous" and err.retryable is None and err.status is None
    assert "may have been processed" in str(err)
    assert vendor.count("POST", "/v1/runs") == 1


async def test_post_connect_error_before_sending_is_retried_without_asking():
    vendor = FakeVendor()
    vendor.script("POST", "/v1/runs", raises(httpx.ConnectError), raises(httpx.ConnectTimeout))

    async def find_existing():
        raise AssertionError("not ambiguous: nothing was sent")

    result = await make(vendor).post("/runs", json={}, find_existing=find_existing)
    assert result == {"data": {"id": 1}}


async def test_idempotent_true_lets_a_post_be_resent():
    vendor = FakeVendor()
    vendor.script("POST", "/v1/sync", raises(httpx.ReadTimeout))
    assert await make(vendor).post("/sync", json={}, idempotent=True) == {
        "ok": True, "path": "/v1/sync"}
    assert vendor.count("POST", "/v1/sync") == 2


async def test_malformed_json_is_retried_then_reported():
    vendor = FakeVendor()
    vendor.script("GET", "/v1/x", status(200, b'{"data": {"id": '))
    assert await make(vendor).get("/x") == {"ok": True, "path": "/v1/x"}
    vendor.script("GET", "/v1/y", *[status(200, b"<html>proxy</html>")] * 5)
    with pytest.raises(VendorHTTPError) as info:
        await make(vendor).get("/y")
    assert info.value.kind == "malformed" and info.value.retryable is True
    assert "not JSON" in str(info.value) and info.value.body == "<html>proxy</html>"


async def test_malformed_json_on_a_trigger_is_ambiguous():
    vendor = FakeVendor()
    vendor.script("POST", "/v1/runs", lambda r: (vendor.runs.append({"id": 1}),
                                                 httpx.Response(200, content=b"{"))[1])

    async def find_existing():
        return {"data": vendor.runs[-1]} if vendor.runs else None

    assert await make(vendor).post("/runs", find_existing=find_existing) == {"data": {"id": 1}}
    assert vendor.count("POST", "/v1/runs") == 1


async def test_404_retried_only_within_ok_404_within():
    clock = FakeClock(autojump=True)
    vendor = FakeVendor()
    vendor.script("GET", "/v1/runs/5", status(404), status(404))
    ctx = StubContext(None, clock=clock)
    client = make(vendor, clock=clock)
    assert await client.get("/runs/5", ctx=ctx, ok_404_within=30) == {
        "ok": True, "path": "/v1/runs/5"}
    vendor.script("GET", "/v1/runs/6", *[status(404)] * 100)
    start = clock.monotonic()
    with pytest.raises(VendorHTTPError) as info:
        await client.get("/runs/6", ctx=ctx, ok_404_within=10)
    assert info.value.status == 404 and info.value.retryable is False
    assert clock.monotonic() - start == 10  # gave up once the window had passed
    vendor.script("GET", "/v1/runs/7", status(404))
    with pytest.raises(VendorHTTPError):
        await client.get("/runs/7")
    assert vendor.count("GET", "/v1/runs/7") == 1


async def test_rate_limit_is_shared_by_concurrent_tasks_and_clients():
    clock = FakeClock()
    vendor = FakeVendor(clock)
    limit = RateLimit(3, 10, key="workspace-1")
    limiters = RateLimiters()
    clients = [make(vendor, rate_limit=limit, limiters=limiters, clock=clock)
               for _ in range(2)]

    async with clock.driving(), anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(clients[i % 2].get, "/x")
    times = vendor.times
    assert len(times) == 10
    for t in times:  # never more than 3 requests in any 10 s window
        assert sum(1 for u in times if t <= u < t + 10) <= 3
    assert times[-1] == pytest.approx(30.3)  # three windows, each with its 1 % margin
    other = make(vendor, rate_limit=RateLimit(3, 10, key="workspace-2"), limiters=limiters,
                 clock=clock)
    before = clock.monotonic()
    await other.get("/x")  # another workspace has its own budget: no wait
    assert clock.monotonic() == before
    assert limiters.get("ACME", limit) is limiters.get("acme", RateLimit(3, 10, "workspace-1"))
    assert clients[0].limiter is clients[1].limiter is limiters.get("acme", limit)
    assert len(limiters) == 2


async def test_two_hosts_in_one_process_do_not_share_a_rate_limit():
    clock = FakeClock(autojump=True)
    vendor = FakeVendor(clock)
    limit = RateLimit(2, 10, key="workspace-1")
    hosts = [Orchestra(load_entrypoints=False, transports={"acme": vendor.transport})
             for _ in range(2)]
    clients = [host.vendor_client("acme", base_url="https://api.acme.test/v1",
                                  rate_limit=limit, retry=NO_JITTER) for host in hosts]
    ctx = StubContext(None, clock=clock)
    for client in clients:  # each host spends its own budget of 2 requests
        await client.get("/x", ctx=ctx)
        await client.get("/x", ctx=ctx)
    assert vendor.times == [0.0, 0.0, 0.0, 0.0]
    # within one host the budget is shared, by another client of the same vendor and key
    same_host = hosts[0].vendor_client("acme", base_url="https://api.acme.test/v1",
                                       headers={"X-Other": "1"}, rate_limit=limit)
    assert same_host is not clients[0] and same_host.limiter is clients[0].limiter
    await same_host.get("/x", ctx=ctx)
    assert vendor.times[-1] == pytest.approx(10.1)  # the window and its 1 % margin
    assert hosts[0].rate_limiters.get("acme", limit) is not hosts[1].rate_limiters.get(
        "acme", limit)


async def test_host_clients_register_and_mask_with_their_hosts_redactor():
    vendor = FakeVendor()
    vendor.script("GET", "/v1/x", status(400, {"message": "bad token tok-host-a-123456"}))
    a, b = (Orchestra(load_entrypoints=False, transports={"acme": vendor.transport})
            for _ in range(2))
    client = a.vendor_client("acme", base_url="https://api.acme.test/v1", retry=NO_JITTER,
                             headers={"Authorization": "Bearer tok-host-a-123456"})
    assert client.redactor is a.redactor
    assert "tok-host-a-123456" in a.redactor and "tok-host-a-123456" not in b.redactor
    with pytest.raises(VendorHTTPError) as info:
        await client.get("/x")
    assert "tok-host-a-123456" not in str(info.value) and MASK in info.value.body
    # a client of its own has a redactor of its own
    assert make(FakeVendor()).redactor is not make(FakeVendor()).redactor


def test_a_client_of_its_own_has_a_limiter_of_its_own():
    limit = RateLimit(2, 10)
    assert make(FakeVendor(), rate_limit=limit).limiter is not \
        make(FakeVendor(), rate_limit=limit).limiter
    assert make(FakeVendor()).limiter is None


async def test_rate_limit_uses_the_task_context_clock():
    clock = FakeClock(autojump=True)
    vendor = FakeVendor(clock)
    client = make(vendor, rate_limit=RateLimit(2, 5))
    ctx = StubContext(None, clock=clock)
    for _ in range(5):
        await client.get("/x", ctx=ctx)
    assert vendor.times == pytest.approx([0.0, 0.0, 5.05, 5.05, 10.1])  # 1 % margin


async def test_refuses_to_send_credentials_to_another_host():
    client = make(FakeVendor())
    assert client.url("https://api.acme.test/v1/x?cursor=2") == "https://api.acme.test/v1/x?cursor=2"
    with pytest.raises(ValueError, match="not under"):
        client.url("https://evil.test/v1/x")


def test_parse_retry_after():
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("12", now) == 12.0
    assert parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now) == 60.0
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("-3", now) == 0.0


def test_rate_limit_validates_its_numbers():
    with pytest.raises(ValueError, match="requests must be a positive integer"):
        RateLimit(0, 10)
    with pytest.raises(ValueError, match="per must be a positive number"):
        RateLimit(5, 0)


async def test_host_vendor_client_is_shared_and_uses_installed_transport():
    vendor = FakeVendor()
    host = Orchestra(load_entrypoints=False, transports={"Acme": vendor.transport})
    a = host.vendor_client("acme", base_url="https://api.acme.test/v1",
                           auth=httpx.BasicAuth("user", "secret-1"))
    b = host.vendor_client("acme", base_url="https://api.acme.test/v1/",
                           auth=httpx.BasicAuth("user", "secret-1"))
    c = host.vendor_client("acme", base_url="https://api.acme.test/v1",
                           auth=httpx.BasicAuth("user", "secret-2"))
    e = host.vendor_client("acme", base_url="https://api.acme.test/v1",
                           auth=("user", "secret-1"))  # the same credentials as a pair
    assert a is b and a is not c and e is a
    assert await a.get("/ping") == {"ok": True, "path": "/v1/ping"}
    assert a.http() is a.http()  # one pool per event loop
    other = FakeVendor()
    host.set_transport("acme", other.transport)
    d = host.vendor_client("acme", base_url="https://api.acme.test/v1",
                           auth=httpx.BasicAuth("user", "secret-1"))
    assert d is not a
    await d.get("/ping")
    assert len(other.requests) == 1 and len(vendor.requests) == 1


async def test_error_body_is_truncated():
    vendor = FakeVendor()
    vendor.script("GET", "/v1/x", status(400, {"message": "m" * 5000}))
    with pytest.raises(VendorHTTPError) as info:
        await make(vendor).get("/x")
    assert len(info.value.body) <= 2003
    assert len(str(info.value)) < 400
    json.dumps(info.value.metadata)  # JSON-serialisable for the task run record


async def test_retry_after_date_is_read_on_the_task_clock():
    from datetime import UTC, datetime

    vendor = FakeVendor()
    vendor.script("GET", "/v1/x", status(429, headers={
        "Retry-After": "Thu, 01 Jan 2026 00:00:42 GMT"}))
    clock = FakeClock(datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC), autojump=True)
    ctx = StubContext(None, clock=clock)
    await make(vendor).get("/x", ctx=ctx)  # the client's own clock says 00:00:00
    assert ctx.sleeps == [12.0]


def test_idempotency_key_header_is_not_a_secret():
    client = make(FakeVendor(), headers={"Idempotency-Key": "run-1/t/1-abcdef"})
    assert "run-1/t/1-abcdef" not in client.redactor


def test_vendor_timestamps_are_read_and_written_in_utc():
    from datetime import UTC, datetime, timedelta, timezone

    from orchestra_core._vendor_http import format_timestamp, parse_timestamp

    when = datetime(2026, 3, 1, 15, 33, 51, 724000, tzinfo=UTC)
    assert parse_timestamp("2026-03-01T15:33:51.724Z") == when
    assert parse_timestamp("2026-03-01 15:33:51.724000+00:00") == when
    assert parse_timestamp("2026-03-01T15:33:51.724000123Z") == when  # nanoseconds
    assert parse_timestamp("2026-03-01T15:33:51.724") == when  # no offset: UTC
    assert parse_timestamp("yesterday") is None and parse_timestamp(None) is None
    assert format_timestamp(when) == "2026-03-01T15:33:51.724Z"
    assert format_timestamp(when.astimezone(timezone(timedelta(hours=2)))) == \
        "2026-03-01T15:33:51.724Z"


def test_read_failures_pace_reads_and_give_up_after_a_long_outage():
    from datetime import UTC, datetime, timedelta

    from orchestra_core._vendor_http import ReadFailures

    start = datetime(2026, 3, 1, tzinfo=UTC)
    failures = ReadFailures(10, max_delay=60, give_up_after=3600)
    assert [failures.failed(start + timedelta(seconds=s)) for s in (0, 20, 60, 140)] == \
        [20, 40, 60, 60]
    assert failures.failed(start + timedelta(seconds=3600)) is None  # an hour of failures
    failures.succeeded()
    assert failures.failed(start + timedelta(seconds=4000)) == 20  # a new outage
    never = ReadFailures(1, give_up_after=None, max_doublings=2)
    assert [never.failed(start + timedelta(days=d)) for d in (0, 1, 30)] == [2, 4, 4]
