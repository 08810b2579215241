"""The Fivetran simulator speaks the real API: paths, auth, envelopes, state progressions,
webhook management and signed deliveries with Fivetran's retry behaviour."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from orchestra_fivetran.testing import DEFAULT_KEY, DEFAULT_SECRET, FivetranSimulator
from orchestra_fivetran.webhooks import verify_signature

from orchestra_core.testing import Failure, FakeClock

CID = "ambush_prettiest"
AUTH = (DEFAULT_KEY, DEFAULT_SECRET)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def sim(clock):
    s = FivetranSimulator(clock=clock, run_duration=30)
    s.add_connector(CID, schema="pg_prod")
    return s


def api(sim, auth=AUTH):
    return httpx.AsyncClient(transport=sim.transport, base_url=sim.base_url, auth=auth)


async def test_bad_credentials_get_401(sim):
    async with api(sim, auth=(DEFAULT_KEY, "wrong")) as http:
        answer = await http.get(f"/connections/{CID}")
    assert answer.status_code == 401
    assert answer.json() == {"code": "AuthFailed", "message": "Missing or invalid API key / secret"}
    async with httpx.AsyncClient(transport=sim.transport, base_url=sim.base_url) as http:
        assert (await http.get(f"/connections/{CID}")).status_code == 401


@pytest.mark.parametrize(("kind", "code"), [("connections", "NotFound_Connection"),
                                            ("connectors", "NotFound_Connector")])
async def test_unknown_connections_get_fivetrans_404(sim, kind, code):
    async with api(sim) as http:
        answer = await http.get(f"/{kind}/nope_nope")
    assert answer.status_code == 404
    assert answer.json() == {"code": code, "message": f"{code.split('_')[1]} with id "
                                                      "'nope_nope' does not exist."}


async def test_a_sync_progresses_on_the_clock(sim, clock):
    async with api(sim) as http:
        before = (await http.get(f"/connections/{CID}")).json()
        assert before["code"] == "Success"
        data = before["data"]
        assert (data["id"], data["schema"], data["paused"], data["schedule_type"]) == (
            CID, "pg_prod", False, "manual")
        assert data["succeeded_at"] is None and data["status"]["sync_state"] == "scheduled"
        answer = await http.post(f"/connections/{CID}/sync", json={"force": False})
        assert answer.json() == {"code": "Success", "message": "Sync has been successfully "
                                 f"triggered for connection with id '{CID}'"}
        clock.advance(29)
        assert (await http.get(f"/connections/{CID}")).json()["data"]["status"][
            "sync_state"] == "syncing"
        clock.advance(1)
        after = (await http.get(f"/connectors/{CID}")).json()["data"]
    assert after["status"]["sync_state"] == "scheduled"
    assert after["succeeded_at"] == "2026-01-01T00:00:30.000000Z"
    assert sim.connector(CID).triggers == 1


async def test_trigger_rules(sim, clock):
    async with api(sim) as http:
        await http.post(f"/connections/{CID}/sync", json={})
        again = await http.post(f"/connections/{CID}/sync", json={"force": False})
        assert again.status_code == 200  # no-op while syncing
        assert sim.connector(CID).syncs == 1
        clock.advance(10)
        forced = await http.post(f"/connectors/{CID}/force")
        assert forced.status_code == 200 and sim.connector(CID).syncs == 2
        clock.advance(25)  # the first sync would have ended at 30 s: it was restarted
        assert sim.connector(CID).succeeded_at is None
        clock.advance(5)
        assert sim.connector(CID).succeeded_at == clock.now()
        bad = await http.post(f"/connections/{CID}/sync", json={"force": "yes"})
        assert bad.status_code == 400
        plain = await http.post(f"/connections/{CID}/sync", content=b"{}",
                                headers={"Content-Type": "text/plain"})
        assert plain.status_code == 415
        paused = await http.patch(f"/connections/{CID}", json={"paused": True})
        assert paused.json()["data"]["paused"] is True
        refused = await http.post(f"/connections/{CID}/sync", json={})
    assert refused.status_code == 409
    assert refused.json() == {"code": "Conflict",
                              "message": f"Connection '{CID}' is paused: resume it before syncing"}


async def test_409_switch_and_schemas(clock):
    sim = FivetranSimulator(clock=clock, conflict_when_syncing=True, connectors=[CID])
    async with api(sim) as http:
        await http.post(f"/connections/{CID}/sync", json={})
        assert (await http.post(f"/connections/{CID}/sync", json={})).status_code == 409
        schemas = (await http.get(f"/connections/{CID}/schemas")).json()["data"]
    assert schemas["schemas"]["public"]["tables"]["orders"]["enabled"] is True


async def test_rescheduled_syncs(sim, clock):
    c = sim.add_connector("auto_one", schedule_type="auto", outcomes=["rescheduled"],
                          reschedule_delay=100)
    m = sim.add_connector("manual_one", outcomes=["rescheduled"], reschedule_delay=100)
    sim.start_sync(c.id)
    sim.start_sync(m.id)
    clock.advance(30)
    for conn in (c, m):
        data = sim.connector(conn.id).details()
        assert data["status"]["sync_state"] == "rescheduled"
        assert data["status"]["rescheduled_for"] == "2026-01-01T00:02:10.000000Z"
        assert data["status"]["update_state"] == "delayed"
    clock.advance(100)
    assert sim.connector(c.id).sync_state == "syncing"  # auto: resumed by Fivetran
    assert sim.connector(m.id).sync_state == "rescheduled"  # manual: waits for a trigger
    clock.advance(30)
    assert sim.connector(c.id).succeeded_at == clock.now()


async def test_failure_injection_and_unknown_status(sim):
    sim.fail("GET", "/v1/connections/*", Failure.rate_limited(retry_after=12))
    sim.inject_sync_state(CID, "teleporting")
    async with api(sim) as http:
        limited = await http.get(f"/connections/{CID}")
        odd = await http.get(f"/connections/{CID}")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "12"
    assert limited.json() == {"code": "TooManyRequests", "message": "Rate limit exceeded"}
    assert odd.json()["data"]["status"]["sync_state"] == "teleporting"


async def test_counters_endpoint_needs_no_auth(sim):
    sim.start_sync(CID)
    async with httpx.AsyncClient(transport=sim.transport, base_url="http://sim") as http:
        counters = (await http.get("/_simulator/connections")).json()
    assert counters[CID]["triggers"] == 1 and counters[CID]["sync_state"] == "syncing"


# -- webhooks ---------------------------------------------------------------------------------


def receiver(answers):
    """A webhook endpoint answering the statuses in *answers* in turn (then 200)."""
    got = []

    def handle(request):
        got.append(request)
        return httpx.Response(answers.pop(0) if answers else 200)
    return httpx.MockTransport(handle), got


async def test_webhook_management_api(clock):
    transport, got = receiver([])
    sim = FivetranSimulator(clock=clock, webhook_transport=transport, connectors=[CID])
    async with api(sim) as http:
        created = await http.post("/webhooks/group/projected_sickle", json={
            "url": "https://orchestra.example/webhooks/fivetran", "events": ["sync_end"],
            "secret": "s3cret-value"})
        assert created.json()["message"] == "Group webhook has been created"
        hook = created.json()["data"]
        assert hook["type"] == "group" and hook["secret"] == "******"
        for i in range(3):
            await http.post("/webhooks/account", json={
                "url": f"https://orchestra.example/{i}", "events": ["sync_start"]})
        page = (await http.get("/webhooks", params={"limit": 3})).json()["data"]
        assert len(page["items"]) == 3 and page["next_cursor"] == "3"
        rest = (await http.get("/webhooks", params={"cursor": "3"})).json()["data"]
        assert len(rest["items"]) == 1 and "next_cursor" not in rest
        tested = await http.post(f"/webhooks/{hook['id']}/test", json={"event": "sync_start"})
        assert tested.json()["data"] == {"succeed": True, "status": 200, "message": "Success"}
        patched = await http.patch(f"/webhooks/{hook['id']}", json={"active": False})
        assert patched.json()["data"]["active"] is False
        assert (await http.delete(f"/webhooks/{hook['id']}")).status_code == 200
        assert (await http.get(f"/webhooks/{hook['id']}")).status_code == 404
        bad = await http.post("/webhooks/account", json={"url": "https://x.example",
                                                          "events": ["nonsense"]})
        assert bad.status_code == 400
    assert got[0].headers["x-fivetran-signature-256"]  # the creation's test POST, signed


async def test_deliveries_are_signed_in_upper_case_and_go_to_the_right_group(clock):
    transport, got = receiver([])
    sim = FivetranSimulator(clock=clock, run_duration=10, webhook_transport=transport,
                            connectors=())
    sim.add_connector(CID, group_id="group_a")
    sim.add_connector("other_one", group_id="group_b")
    account = sim.add_fivetran_webhook("https://o.example/all", events=["sync_start",
                                                                      "sync_end"], secret="s-1234")
    group_b = sim.add_fivetran_webhook("https://o.example/b", events=["sync_end"],
                                       secret="s-5678", group_id="group_b")
    sim.start_sync(CID)
    sim.start_sync("other_one")
    clock.advance(10)
    made = await sim.deliver_due()
    sent = sorted((r.url, json.loads(r.body)["connector_id"], json.loads(r.body)["event"])
                  for r in made)
    assert sent == [("https://o.example/all", CID, "sync_end"),
                    ("https://o.example/all", CID, "sync_start"),
                    ("https://o.example/all", "other_one", "sync_end"),
                    ("https://o.example/all", "other_one", "sync_start"),
                    ("https://o.example/b", "other_one", "sync_end")]
    for request in got:
        signature = request.headers["x-fivetran-signature-256"]
        secret = account.secret if request.url.path == "/all" else group_b.secret
        assert signature == signature.upper()
        assert verify_signature([secret], request.content, signature)
    end = json.loads(made[-1].body)
    assert set(end) == {"event", "created", "connector_type", "connector_id", "connector_name",
                        "sync_id", "destination_group_id", "data"}


async def test_failed_deliveries_are_retried_then_the_webhook_is_disabled(clock):
    transport, got = receiver([500] * 100)
    sim = FivetranSimulator(clock=clock, run_duration=1, webhook_transport=transport,
                            connectors=[CID], webhook_retry_scale=0.001)
    hook = sim.add_fivetran_webhook("https://o.example/h", events=["sync_end"], secret="s-1234")
    sim.start_sync(CID)
    clock.advance(1)
    await sim.deliver_due()
    waits = []
    while hook.active and sim.next_webhook_due is not None:
        waits.append(round((sim.next_webhook_due - clock.now()).total_seconds(), 3))
        clock.set(sim.next_webhook_due)
        await sim.deliver_due()
    assert waits[:4] == [0.3, 0.6, 0.9, 1.2]  # 5, 10, 15, 20 minutes, compressed
    assert len(got) == 24 and not hook.active
    assert [d.attempt for d in sim.deliveries][-1] == 24


async def test_a_forced_restart_never_sends_the_first_syncs_end(clock):
    transport, _ = receiver([])
    sim = FivetranSimulator(clock=clock, run_duration=10, webhook_transport=transport,
                            connectors=[CID])
    sim.add_fivetran_webhook("https://o.example/h", events=["sync_end"], secret="s-1234")
    sim.start_sync(CID)
    clock.advance(5)
    sim.start_sync(CID, force=True)
    clock.advance(timedelta(seconds=10).total_seconds())
    made = await sim.deliver_due()
    assert len(made) == 1 and json.loads(made[0].body)["created"] == \
        "2026-01-01T00:00:15.000000Z"
