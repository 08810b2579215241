"""Two :class:`Orchestra` hosts in one process, side by side in one event loop: different
plugins, integration limits, stores, keys and secrets. Nothing leaks from one to the other:
not a plugin, not a secret (each host masks with its own redactor), not a rate limiter, not a
vendor client."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from attrs import frozen

from orchestra_core import (
    ConnectionSpec,
    ExternalRun,
    JobResult,
    JobState,
    Orchestra,
    TaskFailed,
    hookimpl,
    parameter,
)
from orchestra_core._engine import Engine
from orchestra_core._redaction import MASK
from orchestra_core._secrets import KeyRing, generate_key
from orchestra_core._store import Store
from orchestra_core._vendor_http import RateLimit
from orchestra_core.testing import FakeClock

from ._secrets_kit import plant, run_logs, stored_text

BEACON_URL = "https://beacon.invalid/v1"
#: the rate limit of the beacon API (per connection)
BEACON_LIMIT = RateLimit(100, 1.0, key="beacon-prod")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


# -- a small integration only host A has ---------------------------------------------------------


@frozen(kw_only=True)
class BeaconParams:
    """Parameters of beacon_signal."""

    fail_first: bool = parameter(default=False, help="fail the first attempt, echoing the token")


class BeaconRunner:
    """Posts a signal with the connection's token; logs (and on a first attempt, fails with)
    the token, as a careless plugin would."""

    def __init__(self, host: Any) -> None:
        self.host = host
        self.clients: list[Any] = []

    def client(self, ctx: Any) -> Any:
        token = ctx.connection.secret("token")
        client = self.host.vendor_client("beacon", base_url=ctx.connection.base_url,
                                         headers={"Authorization": f"Bearer {token}"},
                                         rate_limit=BEACON_LIMIT)
        self.clients.append(client)
        return client

    async def start(self, ctx: Any) -> ExternalRun:
        token = ctx.connection.secret("token")
        ctx.log(f"signalling with token {token}")
        if ctx.parameters.fail_first and ctx.attempt == 1:
            raise TaskFailed(f"the beacon refused token {token}", retryable=True,
                             metadata={"token": token})
        body = await self.client(ctx).post("/signals", json={"key": ctx.idempotency_key},
                                           ctx=ctx, idempotent=True)
        return ExternalRun(id=body["id"], started_at=ctx.now())

    async def wait(self, ctx: Any, run: ExternalRun) -> JobResult:
        return JobResult(state=JobState.SUCCEEDED, metadata={"signal": run.id})

    async def cancel(self, ctx: Any, run: ExternalRun) -> None:
        return None


class BeaconPlugin:
    """Integration ``beacon``: one job, a connection holding a bearer ``token``."""

    orchestra_plugin_name = "beacon"

    @hookimpl
    def orchestra_register_integrations(self, registry: Any) -> None:
        beacon = registry.integration(
            "beacon", description="signals a beacon",
            connection=ConnectionSpec(secrets=("token",), auth="bearer", base_url=BEACON_URL))
        beacon.job("beacon_signal", parameters=BeaconParams, description="send a signal",
                   runner=BeaconRunner)


class Api:
    """A MockTransport handler recording the Authorization header of every request."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.auth: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.auth.append(request.headers.get("authorization"))
        return httpx.Response(200, json=self.answer)


# -- the two hosts ---------------------------------------------------------------------------------


class Side:
    """One host with its own store, key ring, secrets and engine (on the shared clock)."""

    def __init__(self, host: Orchestra, db: str, clock: FakeClock,
                 integration_limits: dict[str, int]) -> None:
        self.host = host
        self.store = Store.open(db)
        self.ring = KeyRing.from_keys(generate_key())
        self.secrets = host.secrets(store=self.store, keys=self.ring)
        self.engine = Engine(host, self.store, clock=clock, keys=self.ring,
                             integration_limits=integration_limits)

    def stored_text(self) -> str:
        return stored_text(self.store)

    def logs(self, run_id: str) -> list[str]:
        return run_logs(self.store, run_id)


@pytest.fixture
def sides(tmp_path):
    clock = FakeClock()
    beacon_api, http_api = Api({"id": "sig-1"}), Api({"ok": True})
    a = Side(Orchestra(plugins=[BeaconPlugin()], load_entrypoints=False,
                       transports={"beacon": httpx.MockTransport(beacon_api)}),
             str(tmp_path / "a.db"), clock, {"beacon": 1})
    b = Side(Orchestra(load_entrypoints=False,
                       transports={"http": httpx.MockTransport(http_api)}),
             str(tmp_path / "b.db"), clock, {"http": 3})
    yield a, b, clock, beacon_api, http_api
    a.store.close()
    b.store.close()


async def test_two_hosts_run_side_by_side_without_sharing_anything(sides):
    a, b, clock, beacon_api, http_api = sides
    token_a, token_b = plant("beacon-token"), plant("http-token")
    a.secrets.credentials.set("beacon", secrets={"token": token_a})
    a.secrets.connections.add("beacon-prod", integration="beacon", credential="beacon")
    b.secrets.credentials.set("api", secrets={"token": token_b})
    b.secrets.connections.add("api", integration="http", base_url="https://api.b.test",
                              auth="bearer", credential="api")
    pipeline_a = a.host.pipeline_from_data({"name": "signals", "tasks": [
        {"id": f"s{i}", "integration": "beacon", "integration_job": "beacon_signal",
         "secondary_configuration_id": "beacon-prod", "parameters": {"fail_first": i == 1},
         "retries": {"count": 1, "delay": "1s"}} for i in (1, 2)]})
    pipeline_b = b.host.pipeline_from_data({"name": "calls", "tasks": [
        {"id": "call", "integration": "http", "integration_job": "http_request",
         "secondary_configuration_id": "api",
         "parameters": {"method": "GET", "endpoint": "/status"}}]})

    # the plugin registered in A is unknown to B
    assert a.host.find_job("beacon", "beacon_signal") is not None
    assert b.host.find_job("beacon", "beacon_signal") is None
    assert b.host.integrations.find("beacon") is None and b.host.plugin_info("beacon") is None
    _, problems = b.host.check_data({"name": "x", "tasks": [
        {"id": "s", "integration": "beacon", "integration_job": "beacon_signal"}]})
    assert problems
    # each engine limits its own host's integrations
    assert set(a.engine.integration_limits) == {"beacon"}
    assert set(b.engine.integration_limits) == {"http"}
    assert a.engine.integration_limits["beacon"].total_tokens == 1
    assert b.engine.integration_limits["http"].total_tokens == 3

    results: dict[str, Any] = {}

    async def run(name: str, side: Side, pipeline: Any) -> None:
        results[name] = await side.engine.run(pipeline)

    async with clock.driving(), anyio.create_task_group() as tg:
        tg.start_soon(run, "a", a, pipeline_a)
        tg.start_soon(run, "b", b, pipeline_b)

    result_a, result_b = results["a"], results["b"]
    assert result_a.state == "succeeded", {t: r["error"] for t, r in result_a.tasks.items()}
    assert result_b.state == "succeeded", {t: r["error"] for t, r in result_b.tasks.items()}
    assert result_a.tasks["s1"]["attempt"] == 2 and result_a.tasks["s2"]["attempt"] == 1
    assert beacon_api.auth == [f"Bearer {token_a}"] * 2
    assert http_api.auth == [f"Bearer {token_b}"]

    # each host registered its own secrets, and only its own
    assert a.host.redactor is not b.host.redactor
    assert a.engine.redactor is a.host.redactor and b.engine.redactor is b.host.redactor
    assert token_a in a.host.redactor and token_a not in b.host.redactor
    assert token_b in b.host.redactor and token_b not in a.host.redactor
    assert b.host.redactor.mask(f"x {token_a}") == f"x {token_a}"
    # A's logs and errors are masked with A's redactor
    logs_a = a.logs(result_a.run_id)
    assert f"signalling with token {MASK}" in logs_a
    assert any(f"the beacon refused token {MASK}" in line for line in logs_a), logs_a
    assert token_a not in "\n".join(logs_a) + a.stored_text()
    assert token_b not in "\n".join(b.logs(result_b.run_id)) + b.stored_text()

    # rate limiters and vendor clients belong to their host
    assert a.host.rate_limiters is not b.host.rate_limiters
    runner_a = a.host.runner(a.host.find_job("beacon", "beacon_signal"))
    client_a = runner_a.clients[0]
    assert all(c is client_a for c in runner_a.clients)  # one shared client within A
    assert client_a.redactor is a.host.redactor
    assert client_a.limiter is a.host.rate_limiters.get("beacon", BEACON_LIMIT)
    assert len(a.host.rate_limiters) == 1 and len(b.host.rate_limiters) == 0
    same_args = {"base_url": BEACON_URL, "headers": {"Accept": "application/json"},
                 "rate_limit": BEACON_LIMIT}
    other_a = a.host.vendor_client("beacon", **same_args)
    client_b = b.host.vendor_client("beacon", **same_args)
    assert other_a is a.host.vendor_client("beacon", **same_args)  # shared within a host
    assert client_b is b.host.vendor_client("beacon", **same_args)
    assert client_b is not other_a and client_b.redactor is b.host.redactor
    assert other_a.limiter is client_a.limiter  # one budget per vendor and key within A
    assert client_b.limiter is not client_a.limiter  # never across hosts
    assert b.host.rate_limiters.get("beacon", BEACON_LIMIT) is client_b.limiter
    assert token_a not in b.host.redactor
