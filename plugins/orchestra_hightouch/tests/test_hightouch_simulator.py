"""The Hightouch simulator's API: paths, auth, shapes, progressions, alerts, real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest
from orchestra_hightouch.testing import HightouchSimulator

from orchestra_core.testing import FakeClock


@pytest.fixture
def anyio_backend():
    return "asyncio"


def client(sim, token=None):
    return httpx.AsyncClient(
        transport=sim.transport, base_url=sim.base_url,
        headers={"Authorization": f"Bearer {token or sim.token}"})


async def test_bad_or_missing_api_key_is_401_with_the_vendor_body():
    sim = HightouchSimulator(clock=FakeClock())
    async with client(sim, token="wrong-key-0000") as api:
        bad = await api.get("/syncs/1001")
    async with httpx.AsyncClient(transport=sim.transport, base_url=sim.base_url) as anon:
        missing = await anon.get("/syncs/1001")
    for answer in (bad, missing):
        assert answer.status_code == 401
        assert answer.json() == {"message": "Authentication error",
                                 "details": "Invalid or missing API key"}


async def test_sync_by_id_and_by_slug():
    sim = HightouchSimulator(clock=FakeClock())
    async with client(sim) as api:
        sync = (await api.get("/syncs/1001")).json()
        assert {k: sync[k] for k in ("id", "slug", "disabled", "workspaceId")} == {
            "id": "1001", "slug": "daily-accounts", "disabled": False,
            "workspaceId": sim.workspace.id}
        assert sync["lastRunAt"] is None
        listed = (await api.get("/syncs", params={"slug": "legacy-export"})).json()
        assert listed["hasMore"] is False
        [legacy] = listed["data"]
        assert legacy["id"] == "1004" and legacy["disabled"] is True
        assert (await api.get("/syncs", params={"slug": "nope"})).json() == {
            "data": [], "hasMore": False}
        page = (await api.get("/syncs", params={"limit": 2})).json()
        assert len(page["data"]) == 2 and page["hasMore"] is True
        missing = await api.get("/syncs/999")
        assert missing.status_code == 404


async def test_other_workspaces_syncs_are_invisible():
    sim = HightouchSimulator(clock=FakeClock())
    sim.add_workspace("ht-other-key-9999")
    async with client(sim, token="ht-other-key-9999") as api:
        assert (await api.get("/syncs/1001")).status_code == 404
        assert (await api.post("/syncs/1001/trigger")).status_code == 404


async def test_trigger_returns_a_string_id_and_lists_a_number():
    clock = FakeClock()
    sim = HightouchSimulator(clock=clock)
    async with client(sim) as api:
        triggered = (await api.post("/syncs/1001/trigger", json={"fullResync": True})).json()
        assert isinstance(triggered["id"], str)
        listed = (await api.get("/syncs/1001/runs",
                                params={"runId": triggered["id"]})).json()
        [run] = listed["data"]
        assert run["id"] == int(triggered["id"])
        assert run["status"] == "querying"
        assert "plannedRows" not in run  # no counts yet
        assert sim.run(triggered["id"]).full_resync is True


async def test_custom_trigger_by_id_or_slug_and_422():
    sim = HightouchSimulator(clock=FakeClock())
    async with client(sim) as api:
        by_id = await api.post("/syncs/trigger", json={"syncId": "1001"})
        by_slug = await api.post("/syncs/trigger", json={"syncSlug": "braze-audiences"})
        assert by_id.status_code == by_slug.status_code == 200
        assert sim.run(by_slug.json()["id"]).sync.id == "1002"
        unknown = await api.post("/syncs/trigger", json={"syncSlug": "nope"})
        assert unknown.status_code == 422
        assert unknown.json() == {"message": "Validation failed", "details": {
            "body.syncSlug": {"message": "no such sync in this workspace"}}}
        neither = await api.post("/syncs/trigger", json={"syncId": 1001})  # not a string
        assert neither.status_code == 422
        flag = await api.post("/syncs/1001/trigger", json={"fullResync": "yes"})
        assert flag.status_code == 422
        bad = await api.post("/syncs/1001/trigger", content=b"{oops")
        assert bad.status_code == 400


async def test_disabled_sync_trigger_is_refused():
    sim = HightouchSimulator(clock=FakeClock())
    async with client(sim) as api:
        answer = await api.post("/syncs/1004/trigger")
    assert answer.status_code == 400 and answer.json() == {"message": "Sync is disabled"}
    assert sim.runs() == []


async def test_progression_on_the_clock_and_queueing_behind_the_active_run():
    clock = FakeClock()
    sim = HightouchSimulator(clock=clock, run_duration=8)  # 2 s / 4 s / 2 s
    async with client(sim) as api:
        first = (await api.post("/syncs/1002/trigger")).json()["id"]
        clock.advance(1)
        second = (await api.post("/syncs/1002/trigger")).json()["id"]

        async def status(run_id):
            [run] = (await api.get("/syncs/1002/runs", params={"runId": run_id})).json()["data"]
            return run

        seen = []
        for _ in range(17):
            seen.append(((await status(first))["status"], (await status(second))["status"]))
            clock.advance(1)
        assert seen[0] == ("querying", "queued")
        assert seen[2] == ("processing", "queued")
        assert seen[5] == ("reporting", "queued")
        assert seen[7] == ("warning", "querying")  # the first finished at 8 s
        assert seen[15] == ("warning", "warning")
        done = await status(first)
        assert done["completionRatio"] == 1
        assert done["plannedRows"] == {"addedCount": 100, "changedCount": 0, "removedCount": 0}
        assert done["successfulRows"]["addedCount"] == 97
        assert done["failedRows"]["addedCount"] == 3
        later = await status(second)
        assert later["createdAt"] == "2026-01-01T00:00:01.000Z"
        assert later["startedAt"] == "2026-01-01T00:00:08.000Z"  # queued behind the first
        listed = (await api.get("/syncs/1002/runs")).json()["data"]
        assert [r["id"] for r in listed] == [int(second), int(first)]  # newest first
        after = (await api.get("/syncs/1002/runs", params={
            "after": "2026-01-01T00:00:00.500Z"})).json()["data"]
        assert [r["id"] for r in after] == [int(second)]
        bad = await api.get("/syncs/1002/runs", params={"after": "yesterday"})
        assert bad.status_code == 422


async def test_scripted_stops_and_unknown_statuses():
    clock = FakeClock()
    sim = HightouchSimulator(clock=clock)
    sim.sync("daily-accounts").script.extend(["exploded"])
    async with client(sim) as api:
        run_id = (await api.post("/syncs/1001/trigger")).json()["id"]
        clock.advance(60)
        [run] = (await api.get("/syncs/1001/runs", params={"runId": run_id})).json()["data"]
        assert run["status"] == "exploded"
        stopped = (await api.post("/syncs/1001/trigger")).json()["id"]
        clock.advance(1)
        sim.stop_run(stopped, "cancelled")
        clock.advance(60)
        [run] = (await api.get("/syncs/1001/runs", params={"runId": stopped})).json()["data"]
        assert run["status"] == "cancelled"
        assert run["finishedAt"] == "2026-01-01T00:01:01.000Z"


async def test_alerts_follow_the_syncs_alert_state():
    clock = FakeClock()
    sim = HightouchSimulator(clock=clock, run_duration=4)
    received = []

    def receiver(request):
        received.append((dict(request.headers), json.loads(request.content)))
        return httpx.Response(204)

    sim.add_alert_webhook("http://127.0.0.1:9/alerts", {"X-Alert-Token": "tok-123456"},
                          transport=httpx.MockTransport(receiver))
    sim.sync("1001").script.extend(["failed", "failed", "success", "success"])
    async with client(sim) as api:
        for _ in range(4):
            await api.post("/syncs/1001/trigger")
            clock.advance(5)
            await sim.deliver_due()
    severities = [body["severity"] for _, body in received]
    assert severities == ["critical", "resolved"]  # one alert per change, not per run
    headers, first = received[0]
    assert headers["x-alert-token"] == "tok-123456"
    assert first["syncId"] == "1001" and first["status"] == "failed"
    assert first["syncRunId"] == str(sim.runs("1001")[0].id)
    assert first["error"].startswith("Destination rejected")


async def test_webhook_secret_is_sent_as_a_static_bearer_header():
    sim = HightouchSimulator(clock=FakeClock())
    assert sim.sign(b"{}", "s3cret-value") == {"Authorization": "Bearer s3cret-value"}


def test_describe_and_credentials_for_orchestra_simulate():
    sim = HightouchSimulator()
    assert sim.credentials() == {"token": "ht-sim-token-0001"}
    assert [s["slug"] for s in sim.describe()["syncs"]] == [
        "daily-accounts", "braze-audiences", "salesforce-leads", "legacy-export"]
    assert sim.base_url == "http://hightouch.simulator/api/v1"


def test_real_server():
    sim = HightouchSimulator(run_duration=0.2)
    with sim.serve() as url:
        headers = {"Authorization": f"Bearer {sim.token}"}
        triggered = httpx.post(f"{url}/syncs/1001/trigger", headers=headers, timeout=5).json()
        sync = httpx.get(f"{url}/syncs/1001", headers=headers, timeout=5).json()
        assert sync["lastRunAt"] is not None
        runs = httpx.get(f"{url}/syncs/1001/runs", params={"runId": triggered["id"]},
                         headers=headers, timeout=5).json()
        assert runs["data"][0]["id"] == int(triggered["id"])
        assert httpx.get(f"{url}/syncs/1001", timeout=5).status_code == 401


@pytest.mark.slow
def test_orchestra_simulate_hightouch():
    env = {**os.environ, "ORCHESTRA_SIMULATOR_WEBHOOK_SECRET": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestra_core", "simulate", "hightouch", "--json",
         "--duration", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)
    try:
        line = proc.stdout.readline()
        info = json.loads(line)
        assert info["integration"] == "hightouch"
        assert info["credentials"] == {"token": "ht-sim-token-0001"}
        url = info["url"]
        answer = httpx.post(f"{url}/syncs/trigger", json={"syncSlug": "daily-accounts"},
                            headers={"Authorization": "Bearer ht-sim-token-0001"}, timeout=5)
        assert answer.status_code == 200 and answer.json()["id"].isdigit()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_times_are_written_as_the_api_writes_them():
    from orchestra_hightouch.testing._model import iso

    clock = FakeClock()
    when = clock.now() + timedelta(seconds=4.712345)
    assert iso(when) == "2026-01-01T00:00:04.712Z"
    assert iso(None) is None
