"""dbt Cloud webhooks: the handler, and deliveries through Orchestra's real /webhooks/dbt
endpoint (accepted, rejected, replayed, waking a waiting task)."""

import json
from datetime import UTC, datetime

import anyio
import httpx
import orchestra_dbt.plugin
import pytest
from orchestra_dbt.testing import FAILING_JOB, SUCCEEDING_JOB, DbtCloudSimulator
from orchestra_dbt.webhooks import ENV_SECRET, DbtWebhookHandler, event_key, sign

from orchestra_core import Engine, JobState, Store, WebhookRejected, WebhookRequest, create_app
from orchestra_core.testing import FakeClock, make_host

SECRET = "whsec-dbt-0123456789"


def payload(kind="job.run.completed", run_id="70403194297680", code=10, status="Success",
            event_id="wev_1"):
    return {"accountId": 1, "webhooksID": "wsu_1", "eventId": event_id,
            "timestamp": "2026-01-31T19:29:35.789265936Z", "eventType": kind,
            "webhookName": "orchestra",
            "data": {"jobId": "123456", "jobName": "Daily", "runId": run_id,
                     "environmentId": "1234", "runStatus": status, "runStatusCode": code,
                     "runStatusMessage": "None", "runReason": "Triggered via API"}}


def raw(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def request(body, authorization=None, connection=None):
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    return WebhookRequest(integration="dbt", method="POST", headers=headers, body=body,
                          connection=connection)


# -- the handler ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "code", "status", "state"), [
    ("job.run.started", 3, "Running", None),
    ("job.run.completed", 10, "Success", JobState.SUCCEEDED),
    ("job.run.completed", 20, "Errored", JobState.FAILED),
    ("job.run.completed", 30, "Cancelled", JobState.CANCELLED),
    ("job.run.completed", None, "Cancelled", JobState.CANCELLED),
    ("job.run.errored", 20, "Errored", JobState.FAILED),
])
async def test_events_are_keyed_by_run_and_carry_the_outcome(kind, code, status, state):
    body = raw(payload(kind, code=code, status=status))
    [event] = await DbtWebhookHandler([SECRET]).handle(request(body, sign(SECRET, body)))
    assert (event.integration, event.kind, event.key, event.event_id, event.state) == (
        "dbt", kind, "dbt:70403194297680", "dbt:wev_1", state)
    assert event.payload["data"]["runStatus"] == status
    assert event_key(70403194297680) == event.key


async def test_signature_is_the_lowercase_hex_hmac_of_the_raw_body():
    body = raw(payload())
    handler = DbtWebhookHandler(["old-secret-rotated", SECRET])  # any configured secret
    signature = sign(SECRET, body)
    assert signature == signature.lower() and len(signature) == 64
    assert await handler.handle(request(body, signature))
    assert await handler.handle(request(body, signature.upper()))  # hex case does not matter
    with pytest.raises(WebhookRejected) as info:
        await handler.handle(request(body + b"\n", signature))  # the exact bytes are signed
    assert info.value.status == 401
    with pytest.raises(WebhookRejected, match="no Authorization header"):
        await handler.handle(request(body))
    with pytest.raises(WebhookRejected, match="signature does not match"):
        await handler.handle(request(body, "sha256=" + signature))  # no scheme or prefix


async def test_without_a_secret_every_delivery_is_refused():
    body = raw(payload())
    with pytest.raises(WebhookRejected) as info:
        await DbtWebhookHandler([]).handle(request(body, sign(SECRET, body)))
    assert info.value.status == 401
    assert ENV_SECRET in str(info.value) and "webhook_secret" in str(info.value)


@pytest.mark.parametrize(("body", "text"), [
    (b"{not json", "the body is not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (raw({"data": {}}), "no eventType"),
    (raw({**payload(), "data": {"runId": ""}}), "job.run.completed without data.runId"),
])
async def test_malformed_deliveries_are_400(body, text):
    with pytest.raises(WebhookRejected, match=text) as info:
        await DbtWebhookHandler([SECRET]).handle(request(body, sign(SECRET, body)))
    assert info.value.status == 400


async def test_other_event_types_are_acknowledged_and_ignored():
    body = raw({**payload(), "eventType": "job.run.queued"})
    assert await DbtWebhookHandler([SECRET]).handle(request(body, sign(SECRET, body))) == []


async def test_an_event_without_id_gets_a_stable_one():
    body = raw({k: v for k, v in payload().items() if k != "eventId"})
    handler = DbtWebhookHandler([SECRET])
    [one] = await handler.handle(request(body, sign(SECRET, body)))
    [two] = await handler.handle(request(body, sign(SECRET, body)))
    assert one.event_id == two.event_id and one.event_id.startswith("dbt:")


def test_identify_hook_picks_dbt_requests_only():
    assert isinstance(orchestra_dbt.plugin.orchestra_identify_webhook(request(b"{}")),
                      DbtWebhookHandler)
    other = WebhookRequest(integration="fivetran", method="POST", headers={}, body=b"")
    assert orchestra_dbt.plugin.orchestra_identify_webhook(other) is None


# -- through the endpoint ------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    s = Store.open(str(tmp_path / "o.db"))
    yield s
    s.close()


def client(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://orch")


async def test_endpoint_accepts_rejects_and_ignores_replays(store, monkeypatch):
    monkeypatch.setenv(ENV_SECRET, SECRET)
    host = make_host(orchestra_dbt.plugin)
    # the clock at the payload's signed timestamp (older deliveries are refused as replays)
    engine = Engine(host, store, clock=FakeClock(datetime(2026, 1, 31, 19, 30, tzinfo=UTC)))
    body = raw(payload())
    async with client(create_app(host, engine)) as http:
        first = await http.post("/webhooks/dbt", content=body,
                                headers={"Authorization": sign(SECRET, body)})
        again = await http.post("/webhooks/DBT", content=body,
                                headers={"Authorization": sign(SECRET, body)})
        forged = await http.post("/webhooks/dbt", content=body,
                                 headers={"Authorization": sign("guess", body)})
        bad = b"{oops"
        malformed = await http.post("/webhooks/dbt", content=bad,
                                    headers={"Authorization": sign(SECRET, bad)})
    assert first.status_code == 200 and first.json() == {"received": 1, "new": 1,
                                                          "replayed": 0}
    assert again.status_code == 200 and again.json() == {"received": 1, "new": 0,
                                                          "replayed": 1}
    assert forged.status_code == 401
    assert forged.json() == {"error": "dbt Cloud webhook refused: the signature does not "
                                      "match"}
    assert malformed.status_code == 400
    assert list(engine.events._seen) == ["dbt:wev_1"]


async def test_endpoint_without_a_configured_secret_refuses(store, monkeypatch):
    monkeypatch.delenv(ENV_SECRET, raising=False)
    host = make_host(orchestra_dbt.plugin)
    engine = Engine(host, store, clock=FakeClock())
    body = raw(payload())
    async with client(create_app(host, engine)) as http:
        answer = await http.post("/webhooks/dbt", content=body,
                                 headers={"Authorization": sign(SECRET, body)})
    assert answer.status_code == 401 and ENV_SECRET in answer.json()["error"]
    assert not engine.events._seen


async def test_simulator_deliveries_wake_the_waiting_task(store, monkeypatch):
    """A task polling once an hour finishes seconds after its run ends: the simulator's signed
    job.run.errored delivery goes through the endpoint and wakes it."""
    clock = FakeClock()
    sim = DbtCloudSimulator(clock=clock)
    host = make_host(orchestra_dbt.plugin)
    host.set_transport("dbt", sim.transport)
    engine = Engine(host, store, clock=clock)
    sim.webhook_transport = httpx.ASGITransport(app=create_app(host, engine))
    async with httpx.AsyncClient(transport=sim.transport, base_url=sim.base_url,
                                 headers={"Authorization": f"Token {sim.token}"}) as http:
        created = (await http.post("/api/v3/accounts/1/webhooks/subscriptions", json={
            "event_types": ["job.run.started", "job.run.completed", "job.run.errored"],
            "name": "orchestra", "client_url": "http://orchestra.test/webhooks/dbt"})).json()
    monkeypatch.setenv(ENV_SECRET, created["data"]["hmac_secret"])
    for name, value in {"DBT_CLOUD_API_TOKEN": sim.token, "DBT_CLOUD_ACCOUNT_ID": "1",
                        "DBT_CLOUD_BASE_URL": sim.base_url}.items():
        monkeypatch.setenv(name, value)
    pipeline = host.pipeline_from_data({"name": "wake", "tasks": [
        {"id": "ok", "integration": "dbt", "integration_job": "dbt_runjob",
         "jobid": SUCCEEDING_JOB, "poll_interval": "1h"},
        {"id": "bad", "integration": "dbt", "integration_job": "dbt_runjob",
         "jobid": FAILING_JOB, "poll_interval": "1h"}]})
    finished = anyio.Event()
    async with clock.driving(), anyio.create_task_group() as tg:
        async def deliver():
            # Stops between deliveries, never inside one: a delivery cancelled after the
            # endpoint handled it would go unrecorded in ``sim.deliveries``.
            while not finished.is_set():
                await clock.sleep(0.5)
                await sim.deliver_due()

        tg.start_soon(deliver)
        result = await engine.run(pipeline)
        finished.set()
    assert clock.monotonic() < 20  # runs take 12 s; the next poll was an hour away
    tasks = result.tasks
    assert tasks["ok"]["state"] == "succeeded" and tasks["bad"]["state"] == "failed"
    assert all(d.ok for d in sim.deliveries)
    kinds = sorted(d.kind for d in sim.deliveries)
    assert kinds.count("job.run.started") == 2 and "job.run.errored" in kinds
    assert sim.count("POST", "*/run/") == 2
    logs = [e["message"] for e in store.logs(run_id=result.run_id)]
    # A delivery wakes the waiting task (its next poll was an hour away). Which event woke it
    # last depends on timing: an event that arrives while the task is polling is not logged
    # when that poll already sees the run ended, so any wake-up line for the run will do.
    assert any(m.startswith("webhook job.run.") and m.endswith(tasks["bad"]["external_id"])
               for m in logs), logs
