"""The webhook endpoint (POST /webhooks/{integration}[/{connection}]) with the Acme example
plugin: verification, events waking tasks, replays, errors; end to end with the simulator."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest

from orchestra_core import Orchestra, hookimpl
from orchestra_core._engine import Engine
from orchestra_core._models import JobState, WebhookEvent
from orchestra_core._redaction import MASK
from orchestra_core._server import create_app
from orchestra_core._server.webhooks import webhook_secrets
from orchestra_core._store import Store
from orchestra_core.testing import FakeClock
from orchestra_core.testing._simulator import hmac_sha256

from ._acme import WEBHOOK_SECRET, AcmePlugin, AcmeSimulator


@pytest.fixture
def store(tmp_path):
    s = Store.open(str(tmp_path / "o.db"))
    yield s
    s.close()


def body_for(run_id: int = 7, state: str = "succeeded", event: str = "run.finished") -> bytes:
    return json.dumps({"event": event, "run": {"id": run_id, "state": state}}).encode()


def signed(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {"X-Acme-Signature": hmac_sha256(secret, body).upper(),
            "Content-Type": "application/json"}


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://orch")


async def test_verified_webhook_wakes_the_waiting_task_and_replay_is_idempotent(store):
    host = Orchestra(plugins=[AcmePlugin()], load_entrypoints=False)
    clock = FakeClock()
    engine = Engine(host, store, clock=clock)
    got: list[Any] = []
    body = body_for()
    async with client(create_app(host, engine)) as http, anyio.create_task_group() as tg:
        async def waiter() -> None:
            got.append(await engine.events.next("acme:7", 3600, clock))

        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        first = await http.post("/webhooks/acme", content=body, headers=signed(body))
        again = await http.post("/webhooks/ACME", content=body, headers=signed(body))
    assert first.status_code == 200 and first.json() == {"received": 1, "new": 1, "replayed": 0}
    assert again.status_code == 200 and again.json() == {"received": 1, "new": 0, "replayed": 1}
    assert got[0].kind == "run.finished" and got[0].state is JobState.SUCCEEDED


@pytest.mark.parametrize(("headers", "body", "status", "text"), [
    ({"X-Acme-Signature": "00" * 32}, body_for(), 401, "bad X-Acme-Signature"),
    ({}, body_for(), 401, "bad X-Acme-Signature"),
    (signed(b"{not json"), b"{not json", 400, "not an Acme webhook"),
])
async def test_unverified_or_malformed_requests_change_nothing(store, headers, body, status,
                                                                text):
    host = Orchestra(plugins=[AcmePlugin()], load_entrypoints=False)
    engine = Engine(host, store, clock=FakeClock())
    async with client(create_app(host, engine)) as http:
        answer = await http.post("/webhooks/acme", content=body, headers=headers)
    assert answer.status_code == status and text in answer.json()["error"]
    assert not engine.events._seen


async def test_unknown_integration_or_no_handler_is_404(store):
    host = Orchestra(plugins=[AcmePlugin()], load_entrypoints=False)
    async with client(create_app(host, Engine(host, store))) as http:
        unknown = await http.post("/webhooks/nope", content=b"{}")
        no_handler = await http.post("/webhooks/http", content=b"{}")
        wrong_method = await http.get("/webhooks/acme")
    assert unknown.status_code == 404 and unknown.json() == {"error": "unknown integration 'nope'"}
    assert no_handler.status_code == 404
    assert no_handler.json()["error"] == "no installed plugin accepts webhooks for http"
    assert wrong_method.status_code == 405


class Crashing:
    """Plugin whose identify hook or handler crashes, mentioning a secret."""

    orchestra_plugin_name = "crashing"

    def __init__(self, where: str, secret: str) -> None:
        self.where = where
        self.secret = secret

    @hookimpl
    def orchestra_register_integrations(self, registry):
        registry.integration("boom", description="crashes")

    @hookimpl
    def orchestra_identify_webhook(self, request):
        if request.integration != "boom":
            return None
        if self.where == "identify":
            raise RuntimeError(f"cannot use {self.secret}")
        outer = self

        class Handler:
            async def handle(self, request):
                if outer.where == "wrong-type":
                    return [{"not": "an event"}]
                raise KeyError(outer.secret)

        return Handler()


@pytest.mark.parametrize(("where", "text"), [
    ("identify", "failed while identifying the request: RuntimeError: cannot use"),
    ("handle", "failed while handling the request: KeyError"),
    ("wrong-type", "returned dict, not WebhookEvent"),
])
async def test_plugin_crash_is_500_with_a_redacted_message(store, where, text):
    secret = "sk-live-abcdef123456"
    host = Orchestra(plugins=[Crashing(where, secret)], load_entrypoints=False)
    host.redactor.add(secret)
    engine = Engine(host, store)
    async with client(create_app(host, engine)) as http:
        answer = await http.post("/webhooks/boom", content=b"{}")
    assert answer.status_code == 500
    assert text in answer.json()["error"] and secret not in answer.text
    if where != "wrong-type":
        assert MASK in answer.text
    assert not engine.events._seen


class Recording:
    """Records the requests and the host the hook got; returns one fixed event."""

    orchestra_plugin_name = "recording"

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.secrets: list[Any] = []

    @hookimpl
    def orchestra_register_integrations(self, registry):
        registry.integration("rec", description="records", aliases=("recorder",))

    @hookimpl
    def orchestra_identify_webhook(self, request, orchestra):
        outer = self

        class Handler:
            async def handle(self, request):
                outer.seen.append((request, orchestra))
                outer.secrets.append(await webhook_secrets(request))
                return [WebhookEvent(integration="rec", kind="k", key="x", event_id="e1")]

        return Handler() if request.integration == "rec" else None


async def test_request_fields_connection_path_and_no_engine(store, monkeypatch):
    monkeypatch.setenv("REC_WEBHOOK_SECRET", "env-secret-value-1")
    plugin = Recording()
    host = Orchestra(plugins=[plugin], load_entrypoints=False)
    async with client(create_app(host, Engine(host, store))) as http:
        answer = await http.post("/webhooks/recorder/", content=b"raw \x00 bytes",
                                 headers={"X-Thing": "1"}, params={"a": "b"})
        assert answer.status_code == 200  # a trailing slash is accepted, not redirected
        answer = await http.post("/webhooks/recorder", content=b"raw \x00 bytes",
                                 headers={"X-Thing": "1"}, params={"a": "b"})
    assert answer.status_code == 200
    request, orchestra = plugin.seen[-1]
    assert orchestra is host
    assert request.integration == "rec" and request.method == "POST"
    assert request.body == b"raw \x00 bytes" and request.headers["x-thing"] == "1"
    assert request.query == {"a": "b"} and request.connection is None
    assert plugin.secrets[-1] == ["env-secret-value-1"]
    async with client(create_app(host)) as http:  # no engine: the vendor should retry later
        answer = await http.post("/webhooks/rec", content=b"{}")
    assert answer.status_code == 503


async def test_stored_connection_secrets(store, monkeypatch):
    from orchestra_core._secrets import KeyRing, generate_key

    monkeypatch.delenv("REC_WEBHOOK_SECRET", raising=False)
    plugin = Recording()
    host = Orchestra(plugins=[plugin], load_entrypoints=False)
    engine = Engine(host, store, keys=KeyRing.from_keys(generate_key()))
    engine.secrets.credentials.set("rec-cred", secrets={"webhook_secret": "stored-secret-1",
                                                        "token": "tok-123456"})
    engine.secrets.credentials.set("rec-cred-2", secrets={"webhook_secret": "stored-secret-2"})
    engine.secrets.connections.add("rec-prod", integration="rec", credential="rec-cred")
    engine.secrets.connections.add("rec-dev", integration="rec", credential="rec-cred-2")
    async with client(create_app(host, engine)) as http:
        one = await http.post("/webhooks/rec/rec-prod", content=b"{}")
        every = await http.post("/webhooks/rec", content=b"{}")
        missing = await http.post("/webhooks/rec/nope", content=b"{}")
    assert one.status_code == 200 and every.status_code == 200
    assert plugin.seen[0][0].connection == "rec-prod"
    assert plugin.secrets[0] == ["stored-secret-1"]
    assert sorted(plugin.secrets[1]) == ["stored-secret-1", "stored-secret-2"]
    assert missing.status_code == 404 and "no rec connection named 'nope'" in missing.text


async def test_oversized_body_is_413(store):
    host = Orchestra(plugins=[AcmePlugin()], load_entrypoints=False)
    async with client(create_app(host, Engine(host, store))) as http:
        answer = await http.post("/webhooks/acme", content=b"x" * (1024 * 1024 + 1))
    assert answer.status_code == 413


def test_event_channel_forgets_the_oldest_ids(monkeypatch):
    from orchestra_core._engine import EventChannel

    monkeypatch.setattr(EventChannel, "MAX_SEEN", 3)
    channel = EventChannel()
    events = [WebhookEvent(integration="a", kind="k", key="x", event_id=f"e{i}")
              for i in range(5)]
    assert [channel.publish(e) for e in events] == [True] * 5
    assert len(channel._seen) == 3
    assert channel.publish(events[4]) is False and channel.publish(events[0]) is True


# -- end to end: pipeline + simulator + endpoint -------------------------------------------------


def acme_pipeline(host: Orchestra, poll_interval: float = 60.0) -> Any:
    return host.pipeline_from_data({"name": "acme", "tasks": [
        {"id": f"t{i}", "integration": "acme", "integration_job": "acme_run",
         "parameters": {"job": f"job{i}", "poll_interval": poll_interval}} for i in range(3)]})


async def _run_with_simulator(store, *, webhooks: bool) -> tuple[Any, AcmeSimulator, float]:
    clock = FakeClock()
    sim = AcmeSimulator(clock=clock)
    host = Orchestra(plugins=[AcmePlugin()], load_entrypoints=False,
                     transports={"acme": sim.transport})
    engine = Engine(host, store, clock=clock)
    if webhooks:
        sim.add_webhook("http://orchestra.test/webhooks/acme", WEBHOOK_SECRET,
                        transport=httpx.ASGITransport(app=create_app(host, engine)))
    async with clock.driving(), anyio.create_task_group() as tg:
        async def deliver() -> None:
            while True:
                await clock.sleep(0.5)
                await sim.deliver_due()

        tg.start_soon(deliver)
        result = await engine.run(acme_pipeline(host))
        tg.cancel_scope.cancel()
    return result, sim, clock.monotonic()


async def test_pipeline_completes_by_webhook_long_before_the_poll_interval(store):
    result, sim, elapsed = await _run_with_simulator(store, webhooks=True)
    assert result.state == "succeeded"
    assert elapsed < 15  # runs take 10 s; the next poll would have been at 60 s
    assert all(d.ok for d in sim.deliveries) and len(sim.deliveries) == 6
    assert sim.count("POST", "/api/jobs/*/runs") == 3
    assert result.tasks["t0"]["meta"]["acme_run"]["state"] == "succeeded"


async def test_pipeline_completes_by_polling_when_no_webhook_arrives(store):
    result, sim, elapsed = await _run_with_simulator(store, webhooks=False)
    assert result.state == "succeeded"
    assert 60 <= elapsed < 70 and not sim.deliveries


async def test_real_servers_webhook_round_trip(store):
    """The simulator as a real HTTP server delivers signed webhooks to Orchestra's app served
    by uvicorn in the engine's event loop; the task finishes without waiting for a poll."""
    import uvicorn

    sim = AcmeSimulator(run_duration=0.5)
    with sim.serve() as url:
        host = Orchestra(plugins=[AcmePlugin(base_url=url)], load_entrypoints=False)
        engine = Engine(host, store)
        server = uvicorn.Server(uvicorn.Config(create_app(host, engine), host="127.0.0.1",
                                               port=0, log_level="error", lifespan="off"))
        pipeline = host.pipeline_from_data({"name": "real", "tasks": [
            {"id": "t", "integration": "acme", "integration_job": "acme_run",
             "parameters": {"job": "j", "poll_interval": 600}}]})
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve)
            while not server.started:
                await anyio.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            sim.add_webhook(f"http://127.0.0.1:{port}/webhooks/acme", WEBHOOK_SECRET)
            try:
                with anyio.fail_after(60):
                    result = await engine.run(pipeline)
            finally:
                server.should_exit = True
    assert result.state == "succeeded"
    assert [(d.kind, d.status) for d in sim.deliveries][:1] == [("run.finished", 200)]
    assert sim.count("GET", "/api/runs/1") <= 3  # woken by events, never a 600 s poll


@pytest.fixture(params=["asyncio"])
def anyio_backend(request):
    return request.param
