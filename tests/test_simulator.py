"""The simulator kit, proven with a tiny example vendor (tests/_acme.py): clock-driven
state, auth, failure injection, signed webhook delivery, in-process and as a real server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from orchestra_core._retry import HttpRetry
from orchestra_core._vendor_http import VendorClient, VendorHTTPError
from orchestra_core.testing import (
    Failure,
    FakeClock,
    Simulator,
    StubContext,
    SystemClock,
    basic_credentials,
    bearer_token,
    hmac_sha256,
    is_loopback,
)

from ._acme import TOKEN, AcmeSimulator


def client_for(sim: AcmeSimulator, token: str = TOKEN, **kwargs) -> VendorClient:
    kwargs.setdefault("retry", HttpRetry(jitter=0))
    kwargs.setdefault("clock", sim.clock)
    return VendorClient("acme", sim.base_url, transport=sim.transport,
                        headers={"Authorization": f"Bearer {token}"}, **kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(autojump=True)


@pytest.fixture
def sim(clock: FakeClock) -> AcmeSimulator:
    return AcmeSimulator(clock=clock)


async def test_status_progresses_with_the_clock(sim: AcmeSimulator, clock: FakeClock):
    client = client_for(sim)
    run = await client.post("/jobs/nightly/runs")
    assert run["state"] == "queued" and run["id"] == 1
    clock.advance(2)
    assert (await client.get("/runs/1"))["state"] == "running"
    clock.advance(8)
    assert (await client.get("/runs/1"))["state"] == "succeeded"
    await client.post("/jobs/fail-1/runs")
    clock.advance(10)
    assert (await client.get("/runs/2"))["state"] == "failed"
    assert sim.count("POST", "/api/jobs/*/runs") == 2
    assert sim.count("GET") == 3 and sim.count() == 5
    assert [r.path for r in sim.requests][:2] == ["/api/jobs/nightly/runs", "/api/runs/1"]
    assert sim.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


async def test_bad_credentials_get_the_vendors_401(sim: AcmeSimulator):
    with pytest.raises(VendorHTTPError) as info:
        await client_for(sim, token="wrong-token").get("/runs/1")
    assert info.value.status == 401 and "invalid token" in str(info.value)
    assert not sim.runs


async def test_injected_5xx_then_success(sim: AcmeSimulator):
    injection = sim.fail("GET", "/api/runs/*", Failure.status(503), times=2)
    await client_for(sim).post("/jobs/a/runs")
    ctx = StubContext(None, clock=sim.clock)
    assert (await client_for(sim).get("/runs/1", ctx=ctx))["id"] == 1
    assert injection.hits == 2 and injection.remaining == 0
    assert ctx.sleeps == [1.0, 2.0]
    assert sim.count("GET", "/api/runs/1") == 3


async def test_injected_429_with_and_without_retry_after(sim: AcmeSimulator):
    await client_for(sim).post("/jobs/a/runs")
    sim.fail("GET", "/api/runs/1", Failure.rate_limited(retry_after=7))
    sim.fail("GET", "/api/runs/1", Failure.rate_limited())
    ctx = StubContext(None, clock=sim.clock)
    await client_for(sim).get("/runs/1", ctx=ctx)
    assert ctx.sleeps == [7.0, 2.0]


async def test_timeout_before_processing_lets_the_trigger_be_resent(sim: AcmeSimulator):
    sim.fail("POST", "/api/jobs/*/runs", Failure.timeout())
    client = client_for(sim)
    found = []

    async def find_existing():
        runs = (await client.get("/runs", params={"job": "a"}))["data"]
        found.append(len(runs))
        return runs[0] if runs else None

    run = await client.post("/jobs/a/runs", find_existing=find_existing)
    assert run["id"] == 1 and found == [0] and len(sim.runs) == 1
    assert sim.count("POST") == 2


@pytest.mark.parametrize("failure", [Failure.timeout(processed=True),
                                     Failure.drop_after_processing(),
                                     Failure.malformed_json()],
                         ids=["timeout", "drop", "malformed"])
async def test_ambiguous_failures_never_trigger_twice(sim: AcmeSimulator, failure: Failure):
    sim.fail("POST", "/api/jobs/*/runs", failure)
    client = client_for(sim)

    async def find_existing():
        runs = (await client.get("/runs", params={"job": "a"}))["data"]
        return runs[0] if runs else None

    run = await client.post("/jobs/a/runs", find_existing=find_existing)
    assert run["id"] == 1 and len(sim.runs) == 1 and sim.count("POST") == 1


async def test_connect_error_and_endless_failures(sim: AcmeSimulator):
    sim.fail("*", "*", Failure.connect_error())
    await client_for(sim).post("/jobs/a/runs")  # safe to resend: nothing left the client
    assert len(sim.runs) == 1
    sim.fail("GET", "*", Failure.status(500, body={"error": {"message": "db down"}}),
             times=None)
    with pytest.raises(VendorHTTPError) as info:
        await client_for(sim, retry=HttpRetry(count=2, jitter=0)).get("/runs/1")
    assert "db down" in str(info.value) and info.value.attempts == 3
    sim.clear_failures()
    assert (await client_for(sim).get("/runs/1"))["id"] == 1


async def test_rewrite_json_injects_an_unknown_status(sim: AcmeSimulator):
    await client_for(sim).post("/jobs/a/runs")
    sim.fail("GET", "/api/runs/1", Failure.rewrite_json(lambda b: {**b, "state": "exploded"}))
    assert (await client_for(sim).get("/runs/1"))["state"] == "exploded"
    assert (await client_for(sim).get("/runs/1"))["state"] == "queued"


class Receiver:
    """An in-process webhook receiver that checks Acme's signature."""

    def __init__(self, secret: str, status: int = 200) -> None:
        self.secret = secret
        self.status = status
        self.got: list[dict] = []

        async def receive(request: Request) -> JSONResponse:
            body = await request.body()
            assert request.headers["x-acme-signature"] == hmac_sha256(self.secret, body)
            if self.status == 200:
                self.got.append(json.loads(body))
            return JSONResponse({}, status_code=self.status)

        self.transport = httpx.ASGITransport(app=Starlette(routes=[
            Route("/hooks", receive, methods=["POST"])]))


async def test_webhooks_are_signed_and_delivered_when_due(sim: AcmeSimulator, clock: FakeClock):
    receiver = Receiver("s3cret-value")
    target = sim.add_webhook("https://orchestra.example/hooks", "s3cret-value",
                             transport=receiver.transport)
    await client_for(sim).post("/jobs/a/runs")
    assert await sim.deliver_due() == [] and sim.pending_webhooks == 2
    assert sim.next_webhook_due == clock.now() + __import__("datetime").timedelta(seconds=1)
    clock.advance(1)
    made = await sim.deliver_due()
    assert [d.kind for d in made] == ["run.started"] and made[0].ok
    assert made[0].target == target.id
    clock.advance(9)
    await sim.deliver_due()
    assert [(e["event"], e["run"]["state"]) for e in receiver.got] == [
        ("run.started", "running"), ("run.finished", "succeeded")]
    assert len(sim.deliveries) == 2 and sim.pending_webhooks == 0


async def test_failed_deliveries_are_retried_and_cancelled_runs_send_nothing(
        sim: AcmeSimulator, clock: FakeClock):
    receiver = Receiver("s3cret-value", status=500)
    sim.add_webhook("http://127.0.0.1:9/hooks", "s3cret-value", events=["run.started"],
                    transport=receiver.transport)
    client = client_for(sim)
    await client.post("/jobs/a/runs")
    clock.advance(1)
    assert [d.status for d in await sim.deliver_due()] == [500]
    clock.advance(59)
    assert await sim.deliver_due() == []  # the first retry is 60 s after the failure
    clock.advance(1)
    receiver.status = 200
    assert [(d.attempt, d.status) for d in await sim.deliver_due()] == [(2, 200)]
    assert receiver.got[0]["event"] == "run.started"
    await client.post("/runs/1/cancel")
    clock.advance(100)
    assert await sim.deliver_due() == []  # finished event filtered and skipped


def test_webhook_targets_must_be_local_unless_in_process(sim: AcmeSimulator):
    with pytest.raises(ValueError, match="only delivers webhooks to this machine"):
        sim.add_webhook("https://example.com/hooks", "secret")
    assert sim.add_webhook("http://localhost:8080/webhooks/acme").secret is None
    assert is_loopback("127.0.0.5") and not is_loopback("10.0.0.1") and not is_loopback(None)


def test_auth_helpers_and_signatures():
    import base64

    scope = {"type": "http", "headers": [(b"authorization", b"Basic " + base64.b64encode(
        b"key:se:cret"))]}
    assert basic_credentials(Request(scope)) == ("key", "se:cret")
    assert bearer_token(Request(scope)) is None
    scope = {"type": "http", "headers": [(b"authorization", b"Token abc")]}
    assert bearer_token(Request(scope), ("token", "bearer")) == "abc"
    assert basic_credentials(Request(scope)) is None
    assert hmac_sha256("k", b"body") == hmac_sha256("k", b"body", encoding="HEX").lower()
    assert hmac_sha256("k", b"body", encoding="base64").endswith("=")
    with pytest.raises(ValueError):
        hmac_sha256("k", b"", encoding="rot13")


def test_base_simulator_defaults():
    sim = Simulator(run_duration=3)
    assert sim.run_duration == 3 and isinstance(sim.clock, SystemClock)
    assert sim.base_url == "http://simulator.simulator"
    assert sim.credentials() == {} and sim.sign(b"x", "s") == {}


class _Collector(BaseHTTPRequestHandler):
    got: list[tuple[dict, bytes]] = []
    arrived = threading.Event()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).got.append(({k.lower(): v for k, v in self.headers.items()}, body))
        type(self).arrived.set()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_real_server_serves_injects_and_delivers_webhooks():
    sim = AcmeSimulator(clock=SystemClock(), run_duration=3600)
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        sim.add_webhook(f"http://127.0.0.1:{receiver.server_address[1]}/hooks", "whsec-1")
        with sim.serve() as url, httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5) as http:
            assert url.startswith("http://127.0.0.1:") and url.endswith("/api")
            assert http.post("/jobs/a/runs").json()["state"] == "queued"
            assert http.get("/runs/1", headers={"Authorization": "Bearer nope"}).status_code == 401
            sim.fail("GET", "/api/runs/1", Failure.status(502))
            assert http.get("/runs/1").status_code == 502
            sim.fail("GET", "/api/runs/1", Failure.malformed_json())
            with pytest.raises(json.JSONDecodeError):
                json.loads(http.get("/runs/1").content)
            sim.fail("POST", "/api/jobs/*/runs", Failure.drop_after_processing())
            with pytest.raises(httpx.RemoteProtocolError):
                http.post("/jobs/b/runs")
            assert len(sim.runs) == 2  # processed before the drop
            sim.fail("GET", "/api/runs/1", Failure.timeout())
            with pytest.raises(httpx.ReadTimeout):
                http.get("/runs/1", timeout=0.2)
            sim.emit("run.started", {"event": "run.started", "run": {"id": 1}})
            assert _Collector.arrived.wait(10), "the webhook was not delivered"
            headers, body = _Collector.got[0]
            assert headers["x-acme-signature"] == hmac_sha256("whsec-1", body)
            assert json.loads(body) == {"event": "run.started", "run": {"id": 1}}
        assert sim.served_url is None
        with pytest.raises(ValueError, match="only listens on this machine"), \
                sim.serve(host="0.0.0.0"):
            pass
    finally:
        receiver.shutdown()
