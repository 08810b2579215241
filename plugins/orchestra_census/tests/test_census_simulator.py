import base64
import json

import httpx
import pytest
from orchestra_census.testing import DEFAULT_SYNCS, DEFAULT_TOKEN, CensusSimulator
from orchestra_census.webhooks import verify

from orchestra_core.testing import FakeClock

AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}


def make(**kwargs):
    clock = FakeClock()
    sim = CensusSimulator(clock=clock, syncs=(), **kwargs)
    sim.add_sync(52, "accounts", destination_object="Account", queued_for=2, working_for=10,
                 records=50)
    client = httpx.AsyncClient(transport=sim.transport, base_url=sim.base_url, headers=AUTH)
    return sim, clock, client


async def test_auth_bearer_and_basic_and_401_shape():
    _sim, _, client = make()
    assert (await client.get("/syncs/52")).status_code == 200
    basic = base64.b64encode(f"bearer:{DEFAULT_TOKEN}".encode()).decode()
    response = await client.get("/syncs/52", headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200
    for header in ("Bearer nope", "Token " + DEFAULT_TOKEN, ""):
        response = await client.get("/syncs/52", headers={"Authorization": header})
        assert response.status_code == 401
        assert response.json() == {"status": 401, "message": "Invalid credentials"}


async def test_sync_shape_and_404():
    _sim, _, client = make()
    body = (await client.get("/syncs/52")).json()
    assert body["status"] == "success"
    sync = body["data"]
    assert sync["id"] == 52 and sync["operation"] == "upsert" and sync["paused"] is False
    assert sync["destination_attributes"] == {"connection_id": 15, "object": "Account"}
    response = await client.get("/syncs/999")
    assert response.status_code == 404
    assert response.json() == {"status": 404, "message": "Resource not found"}
    assert (await client.get("/sync_runs/1")).status_code == 404
    assert (await client.post("/syncs/999/trigger")).status_code == 404
    listing = (await client.get("/syncs", params={"per_page": 1})).json()
    assert listing["pagination"]["total_records"] == 1 and listing["data"][0]["id"] == 52


async def test_default_syncs_for_orchestra_simulate():
    sim = CensusSimulator(run_duration=3)
    assert set(sim.workspace.syncs) == set(DEFAULT_SYNCS)
    assert sim.workspace.syncs[54].outcome == "failed"
    assert sim.workspace.syncs[52].working_for == 3
    assert sim.credentials() == {"token": DEFAULT_TOKEN}
    assert "52" in str(sim.describe())


async def test_run_progression_and_stats():
    _sim, clock, client = make()
    body = (await client.post("/syncs/52/trigger")).json()
    assert body["status"] == "success"
    run_id = body["data"]["sync_run_id"]
    assert isinstance(run_id, int)

    async def run():
        return (await client.get(f"/sync_runs/{run_id}")).json()["data"]

    first = await run()
    assert first["status"] == "queued" and first["canceled"] is False
    assert first["records_processed"] is None and first["completed_at"] is None
    assert first["sync_trigger_reason"]["ui_tag"] == "API"
    clock.advance(2)
    assert (await run())["status"] == "working"
    clock.advance(10)
    done = await run()
    assert done["status"] == "completed"
    assert done["records_processed"] == 50 and done["records_updated"] == 50
    assert done["records_failed"] == 0
    assert done["completed_at"] == "2026-01-01T00:00:12.000Z"


@pytest.mark.parametrize("how", ["query", "body"])
async def test_force_full_sync_as_query_or_body(how):
    sim, _, client = make()
    if how == "query":
        response = await client.post("/syncs/52/trigger", params={"force_full_sync": "true"})
    else:
        response = await client.post("/syncs/52/trigger", json={"force_full_sync": True})
    run_id = response.json()["data"]["sync_run_id"]
    assert sim.run(run_id)["full_sync"] is True


async def test_second_trigger_while_running_is_skipped():
    sim, clock, client = make()
    first = (await client.post("/syncs/52/trigger")).json()["data"]["sync_run_id"]
    clock.advance(3)
    second = (await client.post("/syncs/52/trigger")).json()["data"]["sync_run_id"]
    assert sim.run(second)["status"] == "queued"
    clock.advance(2)
    assert sim.run(second)["status"] == "skipped"
    assert "still running" in sim.run(second)["error_message"]
    assert sim.run(first)["status"] == "working"
    listing = (await client.get("/syncs/52/sync_runs",
                                params={"per_page": 1, "order": "desc"})).json()
    assert [r["id"] for r in listing["data"]] == [second]
    assert listing["pagination"] == {"total_records": 2, "per_page": 1, "page": 1,
                                     "prev_page": None, "next_page": 2, "last_page": 2}
    asc = (await client.get("/syncs/52/sync_runs", params={"order": "asc"})).json()
    assert [r["id"] for r in asc["data"]] == [first, second]


async def test_cancel():
    sim, clock, client = make()
    run_id = (await client.post("/syncs/52/trigger")).json()["data"]["sync_run_id"]
    clock.advance(3)
    response = await client.post(f"/sync_runs/{run_id}/cancel")
    assert response.json() == {"status": "cancelled", "data": {}}
    run = sim.run(run_id)
    assert run["canceled"] is True and run["status"] == "failed"
    clock.advance(20)
    assert sim.run(run_id)["canceled"] is True
    sim.workspace.cancelled_status = "completed"
    assert sim.run(run_id)["status"] == "completed"


async def test_scripted_unknown_and_failed_outcomes():
    sim, clock, _client = make()
    sim.script(52, working_status="preparing")
    sim.script(52, outcome="failed", error_code="JSON_ARRAY_ERROR")
    a = sim.trigger(52).id
    clock.advance(3)
    assert sim.run(a)["status"] == "preparing"
    clock.advance(20)
    b = sim.trigger(52).id
    clock.advance(20)
    failed = sim.run(b)
    assert failed["status"] == "failed" and failed["error_code"] == "JSON_ARRAY_ERROR"
    assert failed["records_processed"] is None


async def test_webhook_api_and_signed_lifecycle_deliveries():
    sim, clock, client = make()
    received = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200)

    bad = await client.post("/webhooks", json={"name": "x", "endpoint": "http://example.com/h"})
    assert bad.status_code == 400 and bad.json()["message"] == "endpoint must be an HTTPS URL"
    created = await client.post("/webhooks", json={
        "name": "orchestra", "endpoint": "http://127.0.0.1:8080/webhooks/census"})
    assert created.status_code == 201
    hook = created.json()
    assert hook["status"] == "created" and hook["data"]["secret"]
    secret = hook["data"]["secret"]
    shown = (await client.get(f"/webhooks/{hook['data']['id']}")).json()["data"]
    assert "secret" not in shown and shown["endpoint"].endswith("/webhooks/census")
    [target] = sim.census_webhooks()
    target.transport = httpx.MockTransport(receiver)

    run_id = sim.trigger(52).id
    await sim.deliver_due()
    clock.advance(2)
    await sim.deliver_due()
    clock.advance(10)
    await sim.deliver_due()
    payloads = [json.loads(r.content) for r in received]
    assert [p["event"] for p in payloads] == ["sync.triggered", "sync.started",
                                              "sync.completed", "sync.success"]
    assert payloads[2] == {"workspace_id": 3167, "sync_id": 52, "sync_run_id": run_id,
                           "event": "sync.completed", "status": "ok"}
    for request in received:
        assert verify([secret], request.content, request.headers["x-signature"])

    await client.delete(f"/webhooks/{hook['data']['id']}")
    assert sim.census_webhooks() == []


async def test_cancelled_run_webhooks():
    sim, clock, _ = make()
    target = sim.add_census_webhook("http://127.0.0.1:9/h", secret="s3cret-value",
                                    transport=httpx.MockTransport(lambda r: httpx.Response(204)))
    run = sim.trigger(52)
    await sim.deliver_due()
    clock.advance(1)
    sim.cancel(run.id)
    await sim.deliver_due()
    clock.advance(30)
    await sim.deliver_due()
    events = [(d.json()["event"], d.json().get("status")) for d in sim.deliveries
              if d.target == target.id]
    assert events == [("sync.triggered", None), ("sync.completed", "emergency"),
                      ("sync.failed", None)]


def test_real_server():
    sim = CensusSimulator(run_duration=0.2, syncs=(7,))
    with sim.serve() as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/v1")
        with httpx.Client(base_url=url, headers=AUTH) as client:
            run_id = client.post("/syncs/7/trigger").json()["data"]["sync_run_id"]
            assert client.get(f"/sync_runs/{run_id}").json()["data"]["status"] == "queued"
            assert client.get("/syncs/7", headers={"Authorization": "Bearer x"}).status_code \
                == 401
