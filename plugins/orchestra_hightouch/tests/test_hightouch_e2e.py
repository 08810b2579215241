"""hightouch_sync tasks through the engine: pipeline files run with ``Orchestra(...).run``
against the simulator (in-process on a fake clock, and as a real server), alert webhooks
through the real ``/webhooks/hightouch`` endpoint, resume and recovery in a new process."""

import json
import textwrap

import anyio
import httpx
import orchestra_hightouch.plugin
import pytest
from orchestra_hightouch.testing import HightouchSimulator

from orchestra_core import Orchestra, create_app
from orchestra_core._store import Store, TaskUpdate
from orchestra_core.testing import FakeClock, run_until_crash

SECRET = "ht-alert-secret-5678"

PIPELINE = textwrap.dedent("""\
    name: activate
    stages:
      - id: reverse_etl
        tasks: [accounts, audiences, leads]
        core_tasks: [accounts, audiences]
    tasks:
      - id: accounts
        integration: hightouch
        integration_job: hightouch_sync
        parameters: {syncid: "1001", poll_interval: 5s}
      - id: audiences
        integration: HIGHTOUCH
        integration_job: HIGHTOUCH_SYNC
        sync_slug: braze-audiences
        full_resync: true
        poll_interval: 5
      - id: leads
        integration: hightouch
        integration_job: hightouch_sync
        connectionid: 1003
        poll_interval: 5
      - id: after
        integration: noop
        integration_job: noop_run
        depends_on: [reverse_etl]
    """)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.fixture
def env(monkeypatch):
    def use(sim, secret=None):
        monkeypatch.setenv("HIGHTOUCH_API_TOKEN", sim.token)
        monkeypatch.setenv("HIGHTOUCH_BASE_URL", sim.base_url)
        monkeypatch.delenv("HIGHTOUCH_WEBHOOK_HEADER", raising=False)
        if secret:
            monkeypatch.setenv("HIGHTOUCH_WEBHOOK_SECRET", secret)
        else:
            monkeypatch.delenv("HIGHTOUCH_WEBHOOK_SECRET", raising=False)
    return use


def host_for(sim=None):
    transports = {"hightouch": sim.transport} if sim is not None else None
    return Orchestra(plugins=[orchestra_hightouch.plugin], load_entrypoints=False,
                     transports=transports)


async def pump_webhooks(sim, clock):
    while True:
        await sim.deliver_due()
        await clock.sleep(0.5)


async def test_pipeline_file_against_the_simulator(tmp_path, env):
    clock = FakeClock()
    sim = HightouchSimulator(clock=clock, run_duration=20)  # 1001 ok, 1002 warns, 1003 fails
    env(sim)
    path = tmp_path / "activate.yaml"
    path.write_text(PIPELINE)
    async with clock.driving():
        result = await host_for(sim).run(path, db=str(tmp_path / "o.db"), clock=clock)
    tasks = result.tasks
    assert {t: r["state"] for t, r in tasks.items()} == {
        "accounts": "succeeded", "audiences": "succeeded", "leads": "failed",
        "reverse_etl": "succeeded", "after": "succeeded"}
    assert result.state == "succeeded"  # leads is not core: the stage goes on
    accounts = tasks["accounts"]
    assert accounts["external_id"] == accounts["meta"]["run_id"]
    assert accounts["meta"]["successful_rows"]["total"] == 100
    assert accounts["meta"]["status"] == "success"
    audiences = tasks["audiences"]
    assert audiences["meta"]["status"] == "warning"  # a success unless fail_on_warning
    assert audiences["meta"]["failed_rows"]["total"] == 3
    assert sim.run(audiences["external_id"]).full_resync is True
    assert "Destination rejected the request" in tasks["leads"]["error"]
    assert sim.count("POST", "/api/v1/syncs/*/trigger") == 3
    assert 20 <= clock.monotonic() < 30


async def test_missing_credentials_fail_the_task_clearly(tmp_path, monkeypatch):
    for var in ("HIGHTOUCH_API_TOKEN", "HIGHTOUCH_BASE_URL", "HIGHTOUCH_WEBHOOK_SECRET"):
        monkeypatch.delenv(var, raising=False)
    clock = FakeClock()
    host = host_for(HightouchSimulator(clock=clock))
    pipeline = host.pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "hightouch", "integration_job": "hightouch_sync",
         "syncid": "1001"}]})
    async with clock.driving():
        result = await host.run(pipeline, db=str(tmp_path / "o.db"), clock=clock)
    row = result.tasks["a"]
    assert row["state"] == "failed" and row["attempt"] == 1
    assert "HIGHTOUCH_API_TOKEN" in row["error"]


async def test_alert_webhook_wakes_the_task_before_the_next_poll(tmp_path, env):
    clock = FakeClock()
    sim = HightouchSimulator(clock=clock, run_duration=20)
    env(sim, SECRET)
    host = host_for(sim)
    store = Store.open(str(tmp_path / "o.db"))
    engine = host.engine(store=store, clock=clock)
    app = create_app(host, engine)
    sim.add_alert_webhook("http://127.0.0.1/webhooks/hightouch",
                          headers={"Authorization": f"Bearer {SECRET}"},
                          transport=httpx.ASGITransport(app=app))
    pipeline = host.pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "hightouch", "integration_job": "hightouch_sync",
         "syncid": "1003", "poll_interval": "1h"}]})
    results = []

    async def run():
        results.append(await engine.run(pipeline))
        tg.cancel_scope.cancel()

    async with clock.driving(), anyio.create_task_group() as tg:
        tg.start_soon(pump_webhooks, sim, clock)
        tg.start_soon(run)
    [result] = results
    row = result.tasks["a"]
    assert row["state"] == "failed"
    assert "Destination rejected the request" in row["error"]
    assert clock.monotonic() < 30  # woken by the alert at 20 s, not the 1 h poll interval
    assert sim.count("GET", "/api/v1/syncs/1003/runs") == 2  # the first read, the woken one
    [delivery] = sim.deliveries
    assert delivery.status == 200
    alert = delivery.json()
    assert alert["severity"] == "critical" and alert["syncId"] == "1003"
    assert alert["syncRunId"] == row["external_id"]
    logs = [e["message"] for e in store.logs(run_id=result.run_id, task="a")]
    assert any(m.startswith("Hightouch alert (sync.alert) for sync 1003") for m in logs)

    # the same alert again is a replay; a wrong or missing secret, or junk, changes nothing
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://orchestra") as client:
        again = await client.post("/webhooks/hightouch", content=delivery.body,
                                  headers={"Authorization": f"Bearer {SECRET}"})
        assert again.status_code == 200
        assert again.json() == {"received": 2, "new": 0, "replayed": 2}
        wrong = await client.post("/webhooks/hightouch", content=delivery.body,
                                  headers={"Authorization": "Bearer not-the-secret"})
        assert wrong.status_code == 401
        assert SECRET not in wrong.text
        missing = await client.post("/webhooks/hightouch", content=delivery.body)
        assert missing.status_code == 401
        junk = await client.post("/webhooks/hightouch", content=b"not json",
                                 headers={"Authorization": f"Bearer {SECRET}"})
        assert junk.status_code == 400
        nameless = await client.post("/webhooks/hightouch", content=b'{"severity": "warn"}',
                                     headers={"Authorization": SECRET})
        assert nameless.status_code == 400
        assert nameless.json() == {"error": "the alert names no sync (expected a syncId "
                                   "field)"}
    store.close()


async def test_custom_alert_header(tmp_path, env, monkeypatch):
    clock = FakeClock()
    sim = HightouchSimulator(clock=clock)
    env(sim, SECRET)
    monkeypatch.setenv("HIGHTOUCH_WEBHOOK_HEADER", "X-Orchestra-Token")
    host = host_for(sim)
    store = Store.open(str(tmp_path / "o.db"))
    app = create_app(host, host.engine(store=store, clock=clock))
    body = json.dumps({"syncId": "1001", "severity": "warning"}).encode()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://orchestra") as client:
        ok = await client.post("/webhooks/hightouch", content=body,
                               headers={"X-Orchestra-Token": SECRET})
        assert ok.status_code == 200 and ok.json()["received"] == 1
        elsewhere = await client.post("/webhooks/hightouch", content=body,
                                      headers={"Authorization": f"Bearer {SECRET}"})
        assert elsewhere.status_code == 401
        assert elsewhere.json() == {"error": "the X-Orchestra-Token header does not carry "
                                    "the Hightouch webhook secret"}
    store.close()


async def test_no_webhook_secret_configured_rejects_alerts(tmp_path, env):
    clock = FakeClock()
    sim = HightouchSimulator(clock=clock)
    env(sim)  # no HIGHTOUCH_WEBHOOK_SECRET, no stored connection
    host = host_for(sim)
    store = Store.open(str(tmp_path / "o.db"))
    app = create_app(host, host.engine(store=store, clock=clock))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://orchestra") as client:
        answer = await client.post("/webhooks/hightouch", content=b'{"syncId": "1"}',
                                   headers={"Authorization": "Bearer anything"})
    assert answer.status_code == 401
    assert "HIGHTOUCH_WEBHOOK_SECRET" in answer.json()["error"]
    store.close()


async def test_resume_in_a_new_process_does_not_trigger_again(tmp_path, env):
    clock = FakeClock()
    sim = HightouchSimulator(clock=clock, run_duration=60)
    env(sim)
    store = Store.open(str(tmp_path / "o.db"))
    first = host_for(sim)
    engine = first.engine(store=store, clock=clock)
    pipeline = first.pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "hightouch", "integration_job": "hightouch_sync",
         "sync_slug": "daily-accounts", "poll_interval": 5}]})
    async with clock.driving():  # crash once the external run is recorded
        run_id = await run_until_crash(engine, pipeline)
    assert sim.count("POST", "/api/v1/syncs/1001/trigger") == 1
    [sim_run] = sim.runs()

    second = host_for(sim)  # a new process: new host, runner and engine
    async with clock.driving():
        result = await second.resume(run_id, store=store, clock=clock)
    assert result.state == "succeeded"
    assert result.tasks["a"]["external_id"] == str(sim_run.id)
    assert sim.count("POST", "/api/v1/syncs/*/trigger") == 1
    store.close()


async def test_crash_between_trigger_and_its_record_recovers_the_run(tmp_path, env):
    clock = FakeClock()
    sim = HightouchSimulator(clock=clock, run_duration=60)
    env(sim)
    store = Store.open(str(tmp_path / "o.db"))
    first = host_for(sim)
    engine = first.engine(store=store, clock=clock)
    pipeline = first.pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "hightouch", "integration_job": "hightouch_sync",
         "syncid": "1001", "poll_interval": 5}]})
    async with clock.driving():  # crash once the sync is triggered
        run_id = await run_until_crash(engine, pipeline, lambda _: sim.runs())
    # as if the process died after the trigger, before the external run was written
    store.apply([TaskUpdate(run_id, "a", {"external": None, "external_id": None})])
    async with clock.driving():
        result = await host_for(sim).resume(run_id, store=store, clock=clock)
    [sim_run] = sim.runs()
    assert sim.count("POST", "/api/v1/syncs/1001/trigger") == 1
    row = result.tasks["a"]
    assert row["state"] == "succeeded"
    assert row["meta"]["run_id"] == str(sim_run.id)
    assert row["meta"]["recovered"] is True
    store.close()


async def test_timeout_says_the_run_goes_on_at_hightouch(tmp_path, env):
    clock = FakeClock()
    sim = HightouchSimulator(clock=clock, run_duration=600)
    env(sim)
    host = host_for(sim)
    pipeline = host.pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "hightouch", "integration_job": "hightouch_sync",
         "syncid": "1001", "timeout": "1m"}]})
    async with clock.driving():
        result = await host.run(pipeline, db=str(tmp_path / "o.db"), clock=clock)
    assert result.tasks["a"]["state"] == "timed_out"
    [sim_run] = sim.runs()
    assert sim_run.status(clock.now()) in ("processing", "querying")  # not cancelled
    assert sim.count("POST") == 1


async def test_stored_connection_and_its_webhook_secret(tmp_path, monkeypatch):
    from orchestra_core import KeyRing, Secrets, generate_key

    for var in ("HIGHTOUCH_API_TOKEN", "HIGHTOUCH_BASE_URL", "HIGHTOUCH_WEBHOOK_SECRET",
                "HIGHTOUCH_WEBHOOK_HEADER"):
        monkeypatch.delenv(var, raising=False)
    clock = FakeClock()
    sim = HightouchSimulator(clock=clock, token="ht-eu-workspace-key", run_duration=10)
    host = host_for(sim)
    store = Store.open(str(tmp_path / "o.db"))
    keys = KeyRing.from_keys(generate_key())
    secrets = Secrets(store, host=host, keys=keys)
    secrets.credentials.set("hightouch-eu", secrets={"token": "ht-eu-workspace-key",
                                                     "webhook_secret": "stored-alert-secret"})
    secrets.connections.add("hightouch-eu", integration="hightouch", base_url=sim.base_url,
                            credential="hightouch-eu")
    engine = host.engine(store=store, clock=clock, keys=keys)
    app = create_app(host, engine)
    sim.add_alert_webhook("http://127.0.0.1/webhooks/hightouch/hightouch-eu",
                          headers={"Authorization": "Bearer stored-alert-secret"},
                          transport=httpx.ASGITransport(app=app))
    pipeline = host.pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "hightouch", "integration_job": "hightouch_sync",
         "syncid": "1002", "fail_on_warning": True, "poll_interval": "1h",
         "secondary_configuration_id": "hightouch-eu"}]})
    results = []

    async def run():
        results.append(await engine.run(pipeline))
        tg.cancel_scope.cancel()

    async with clock.driving(), anyio.create_task_group() as tg:
        tg.start_soon(pump_webhooks, sim, clock)
        tg.start_soon(run)
    [result] = results
    row = result.tasks["a"]
    assert row["state"] == "failed"
    assert "finished with warnings (97 rows synced, 3 rows rejected)" in row["error"]
    assert clock.monotonic() < 20
    assert [d.status for d in sim.deliveries] == [200]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://orchestra") as client:
        body = sim.deliveries[0].body
        wrong = await client.post("/webhooks/hightouch/no-such-connection", content=body,
                                  headers={"Authorization": "Bearer stored-alert-secret"})
        assert wrong.status_code == 404
    store.close()


@pytest.mark.slow
def test_pipeline_against_the_simulator_as_a_real_server(tmp_path, monkeypatch):
    sim = HightouchSimulator(run_duration=0.4)
    with sim.serve() as url:
        assert url.startswith("http://127.0.0.1:")
        monkeypatch.setenv("HIGHTOUCH_API_TOKEN", sim.token)
        monkeypatch.setenv("HIGHTOUCH_BASE_URL", url)
        host = Orchestra(plugins=[orchestra_hightouch.plugin], load_entrypoints=False)
        path = tmp_path / "activate.yaml"
        path.write_text(PIPELINE.replace("5s", "1").replace("poll_interval: 5",
                                                              "poll_interval: 1"))
        result = host.run_sync(path, db=str(tmp_path / "o.db"))
    states = {t: r["state"] for t, r in result.tasks.items()}
    assert states == {"accounts": "succeeded", "audiences": "succeeded", "leads": "failed",
                      "reverse_etl": "succeeded", "after": "succeeded"}
    assert result.tasks["accounts"]["meta"]["planned_rows"]["total"] == 100
    assert sim.count("POST", "/api/v1/syncs/*/trigger") == 3
