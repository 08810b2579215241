"""Fivetran webhooks: the signature, the events, and deliveries through Orchestra's real
``/webhooks/fivetran`` endpoint (accepted, rejected, replayed, waking a waiting task), and the
webhook created through the API by ``create_webhook``."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import orchestra_fivetran.plugin
import pytest
from orchestra_fivetran import create_webhook
from orchestra_fivetran.testing import FivetranSimulator
from orchestra_fivetran.webhooks import (
    FivetranWebhookHandler,
    event_key,
    parse_events,
    sign,
    verify_signature,
)

from orchestra_core import (
    Engine,
    JobState,
    OrchestraError,
    Store,
    VendorHTTPError,
    WebhookRejected,
    WebhookRequest,
    create_app,
)
from orchestra_core.testing import FakeClock, make_host

SECRET = "whsec-0123456789abcdef"
CID = "ambush_prettiest"


def sync_end(status: str = "SUCCESSFUL", *, sync_id: str = "b4703f73", cid: str = CID,
             **extra: Any) -> bytes:
    return json.dumps({
        "event": "sync_end", "created": "2026-01-01T00:02:00.000Z", "connector_type": "postgres",
        "connector_id": cid, "connector_name": "pg_prod", "sync_id": sync_id,
        "destination_group_id": "projected_sickle", "data": {"status": status, **extra}}).encode()


def headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Fivetran-Signature-256": sign(secret, body), "Content-Type": "application/json"}


# -- signature and parsing -----------------------------------------------------------------


def test_signature_is_upper_case_hex_hmac_and_compared_case_insensitively():
    body = sync_end()
    signature = sign(SECRET, body)
    assert signature == signature.upper() and len(signature) == 64
    assert verify_signature([SECRET], body, signature)
    assert verify_signature([SECRET], body, signature.lower())
    assert verify_signature(["old-secret", SECRET], body, signature)  # rotation
    assert not verify_signature(["other-secret"], body, signature)
    assert not verify_signature([SECRET], body + b"\n", signature)  # the exact raw bytes
    assert not verify_signature([SECRET], body, None)
    assert not verify_signature([""], body, sign("", body))


@pytest.mark.parametrize(("status", "state"), [
    ("SUCCESSFUL", JobState.SUCCEEDED), ("FAILURE", JobState.FAILED),
    ("FAILURE_WITH_TASK", JobState.FAILED), ("RESCHEDULED", None), ("EXPLODED", None),
])
def test_sync_end_events(status, state):
    [event] = parse_events(sync_end(status))
    assert event.integration == "fivetran" and event.kind == "sync_end"
    assert event.key == event_key(CID) == f"fivetran:{CID}"
    assert event.event_id == f"fivetran:{CID}:b4703f73:sync_end"
    assert event.state is state
    assert event.payload["data"]["status"] == status


def test_sync_start_and_the_newer_field_names():
    body = json.dumps({"event": "sync_start", "connection_id": CID, "sync_id": "s1",
                       "created": "2026-01-01T00:00:01Z"}).encode()
    [event] = parse_events(body)
    assert (event.kind, event.key, event.state) == ("sync_start", f"fivetran:{CID}", None)


def test_other_events_are_acknowledged_and_ignored():
    assert parse_events(json.dumps({"event": "dbt_run_succeeded"}).encode()) == []


@pytest.mark.parametrize(("body", "message"), [
    (b"{nope", "the Fivetran webhook body is not JSON"),
    (b"[1]", "the Fivetran webhook body has no 'event' field"),
    (json.dumps({"event": "sync_end"}).encode(),
     "the Fivetran sync_end webhook names no connector_id (or connection_id)"),
])
def test_malformed_bodies(body, message):
    with pytest.raises(WebhookRejected) as info:
        parse_events(body)
    assert info.value.status == 400 and str(info.value).startswith(message)


async def test_handler_without_a_secret_refuses_everything(monkeypatch):
    monkeypatch.delenv("FIVETRAN_WEBHOOK_SECRET", raising=False)
    body = sync_end()
    request = WebhookRequest(integration="fivetran", method="POST",
                             headers={"x-fivetran-signature-256": sign(SECRET, body)}, body=body)
    with pytest.raises(WebhookRejected) as info:
        await FivetranWebhookHandler().handle(request)
    assert info.value.status == 401
    assert "FIVETRAN_WEBHOOK_SECRET" in str(info.value) and "webhook_secret" in str(info.value)
    assert len(await FivetranWebhookHandler([SECRET]).handle(request)) == 1


# -- through Orchestra's endpoint ----------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    s = Store.open(str(tmp_path / "o.db"))
    yield s
    s.close()


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("FIVETRAN_WEBHOOK_SECRET", SECRET)


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://orch")


async def test_a_verified_delivery_wakes_the_waiting_task_and_a_replay_changes_nothing(
        store, secret_env):
    host = make_host(orchestra_fivetran.plugin)
    clock = FakeClock()
    engine = Engine(host, store, clock=clock)
    got = []
    body = sync_end()
    async with client(create_app(host, engine)) as http, anyio.create_task_group() as tg:
        async def waiter():
            got.append(await engine.events.next(f"fivetran:{CID}", 3600, clock))

        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        first = await http.post("/webhooks/fivetran", content=body, headers=headers(body))
        again = await http.post("/webhooks/FIVETRAN", content=body, headers=headers(body))
    assert first.status_code == 200 and first.json() == {"received": 1, "new": 1, "replayed": 0}
    assert again.status_code == 200 and again.json() == {"received": 1, "new": 0, "replayed": 1}
    assert got[0].kind == "sync_end" and got[0].state is JobState.SUCCEEDED


@pytest.mark.parametrize(("make_headers", "body", "status", "text"), [
    (lambda b: headers(b, "wrong-secret-123"), sync_end(), 401,
     "the X-Fivetran-Signature-256 signature does not match the body"),
    (lambda b: {}, sync_end(), 401, "the Fivetran webhook has no X-Fivetran-Signature-256"),
    (headers, b"{nope", 400, "the Fivetran webhook body is not JSON"),
])
async def test_unverified_or_malformed_deliveries_change_nothing(store, secret_env, make_headers,
                                                               body, status, text):
    host = make_host(orchestra_fivetran.plugin)
    engine = Engine(host, store, clock=FakeClock())
    async with client(create_app(host, engine)) as http:
        answer = await http.post("/webhooks/fivetran", content=body, headers=make_headers(body))
    assert answer.status_code == status and answer.json()["error"].startswith(text)
    assert not engine.events._seen


# -- the webhook created through the API ---------------------------------------------------


async def test_create_webhook_registers_a_signed_webhook_that_orchestra_accepts(
        store, monkeypatch):
    host = make_host(orchestra_fivetran.plugin)
    clock = FakeClock()
    engine = Engine(host, store, clock=clock)
    app = create_app(host, engine)
    sim = FivetranSimulator(clock=clock, run_duration=60,
                            webhook_transport=httpx.ASGITransport(app=app))
    sim.add_connector(CID)
    # the user stores the secret (FIVETRAN_WEBHOOK_SECRET here), then creates the webhook
    secret = "whsec-chosen-by-the-user-0001"
    monkeypatch.setenv("FIVETRAN_WEBHOOK_SECRET", secret)
    setup = await create_webhook("https://orchestra.example/webhooks/fivetran",
                                 connection=sim.connection(), secret=secret,
                                 transport=sim.transport)
    assert setup.secret == secret and "whsec" not in repr(setup)
    assert setup.webhook["type"] == "account" and setup.webhook["secret"] == "******"
    assert setup.webhook["events"] == ["sync_start", "sync_end"]
    [test_post] = sim.deliveries  # the test POST on creation, answered 200 by Orchestra
    assert test_post.ok and test_post.json()["connector_id"] == "_connector_1"
    assert test_post.headers["X-Fivetran-Signature-256"] == sign(secret, test_post.body)
    # a sync's start and end are delivered, signed, and accepted
    sim.start_sync(CID)
    clock.advance(60)
    made = await sim.deliver_due()
    assert [(r.kind, r.status) for r in made] == [("sync_start/projected_sickle", 200),
                                                  ("sync_end/projected_sickle", 200)]
    assert made[1].json()["data"] == {"status": "SUCCESSFUL"}
    sync_id = made[1].json()["sync_id"]
    assert set(engine.events._seen) == {"fivetran:_connector_1:test_2:sync_end",
                                        f"fivetran:{CID}:{sync_id}:sync_start",
                                        f"fivetran:{CID}:{sync_id}:sync_end"}


async def test_create_webhook_fails_when_orchestra_cannot_verify_the_test_post(store,
                                                                              monkeypatch):
    monkeypatch.delenv("FIVETRAN_WEBHOOK_SECRET", raising=False)
    host = make_host(orchestra_fivetran.plugin)
    app = create_app(host, Engine(host, store, clock=FakeClock()))
    sim = FivetranSimulator(clock=FakeClock(), webhook_transport=httpx.ASGITransport(app=app))
    with pytest.raises(VendorHTTPError) as info:
        await create_webhook("https://orchestra.example/webhooks/fivetran",
                             connection=sim.connection(), transport=sim.transport)
    assert info.value.status == 400
    assert "the webhook endpoint failed the test event: HTTP 401" in str(info.value)
    assert sim.fivetran_webhooks() == []


async def test_create_webhook_for_a_group_and_replacing_its_secret():
    sim = FivetranSimulator(clock=FakeClock(), webhook_transport=httpx.MockTransport(
        lambda request: httpx.Response(200)))
    url = "https://orchestra.example/webhooks/fivetran/prod"
    first = await create_webhook(url, connection=sim.connection(), group_id="projected_sickle",
                                 transport=sim.transport)
    assert first.webhook["type"] == "group" and first.webhook["group_id"] == "projected_sickle"
    assert len(first.secret) >= 40
    with pytest.raises(OrchestraError, match="exists already"):
        await create_webhook(url, connection=sim.connection(), group_id="projected_sickle",
                             transport=sim.transport)
    second = await create_webhook(url, connection=sim.connection(), group_id="projected_sickle",
                                  transport=sim.transport, replace=True)
    assert second.replaced and second.secret != first.secret
    [hook] = sim.fivetran_webhooks()
    assert hook.secret == second.secret and hook.id == first.webhook["id"]


async def test_create_webhook_refuses_plain_http():
    sim = FivetranSimulator(clock=FakeClock(), allow_http_webhooks=False)
    with pytest.raises(VendorHTTPError, match="must use HTTPS"):
        await create_webhook("http://127.0.0.1:9/webhooks/fivetran",
                             connection=sim.connection(), transport=sim.transport)
