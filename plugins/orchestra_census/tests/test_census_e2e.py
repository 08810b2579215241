"""census_sync tasks through the engine: pipeline files run with ``Orchestra(...).run``
against the simulator (in-process on a fake clock, and as a real server), webhooks through
the real ``/webhooks/census`` endpoint, and a run resumed in a new process."""

import json
import textwrap

import anyio
import httpx
import orchestra_census.plugin
import pytest
from orchestra_census.testing import DEFAULT_TOKEN, CensusSimulator
from orchestra_census.webhooks import sign

from orchestra_core import Orchestra, create_app
from orchestra_core._store import Store, TaskUpdate
from orchestra_core.testing import FakeClock, run_until_crash

PIPELINE = textwrap.dedent("""\
    name: activate
    stages:
      - id: reverse_etl
        tasks: [accounts, contacts, leads]
        core_tasks: [accounts]
    tasks:
      - id: accounts
        integration: census
        integration_job: census_sync
        parameters: {syncid: 52, poll_interval: 5s}
      - id: contacts
        integration: CENSUS
        integration_job: CENSUS_SYNC
        connectionid: "53"
        full_resync: true
        poll_interval: 5
      - id: leads
        integration: census
        integration_job: census_sync
        parameters: {syncid: 54, poll_interval: 5}
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
        monkeypatch.setenv("CENSUS_API_TOKEN", DEFAULT_TOKEN)
        monkeypatch.setenv("CENSUS_BASE_URL", sim.base_url)
        if secret:
            monkeypatch.setenv("CENSUS_WEBHOOK_SECRET", secret)
        else:
            monkeypatch.delenv("CENSUS_WEBHOOK_SECRET", raising=False)
    return use


def host_for(sim=None):
    transports = {"census": sim.transport} if sim is not None else None
    return Orchestra(plugins=[orchestra_census.plugin], load_entrypoints=False,
                     transports=transports)


async def test_pipeline_file_against_the_simulator(tmp_path, env):
    clock = FakeClock()
    sim = CensusSimulator(clock=clock, run_duration=20)  # syncs 52, 53 ok; 54 fails
    env(sim)
    path = tmp_path / "activate.yaml"
    path.write_text(PIPELINE)
    async with clock.driving():
        result = await host_for(sim).run(path, db=str(tmp_path / "o.db"), clock=clock)
    tasks = result.tasks
    assert {t: r["state"] for t, r in tasks.items()} == {
        "accounts": "succeeded", "contacts": "succeeded", "leads": "failed",
        "reverse_etl": "succeeded", "after": "succeeded"}
    assert result.state == "succeeded"  # leads is not core: the stage is partial, not failed
    accounts = tasks["accounts"]
    assert accounts["external_id"] == accounts["meta"]["sync_run_id"].__str__()
    assert accounts["meta"]["records_processed"] == 100
    assert accounts["meta"]["assets"] == ["census:15/Account"]
    assert accounts["meta"]["status"] == "completed"
    contacts_run = sim.workspace.runs[int(tasks["contacts"]["external_id"])]
    assert contacts_run.full_sync is True
    assert "failed (SYNC_FAILED)" in tasks["leads"]["error"]
    assert tasks["leads"]["meta"]["error_code"] == "SYNC_FAILED"
    assert sim.count("POST", "/api/v1/syncs/*/trigger") == 3
    assert 20 < clock.monotonic() < 30


async def test_missing_credentials_fail_the_task_clearly(tmp_path, monkeypatch):
    monkeypatch.delenv("CENSUS_API_TOKEN", raising=False)
    monkeypatch.delenv("CENSUS_BASE_URL", raising=False)
    clock = FakeClock()
    host = host_for(CensusSimulator(clock=clock))
    pipeline = host.pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "census", "integration_job": "census_sync", "syncid": 52}]})
    async with clock.driving():
        result = await host.run(pipeline, db=str(tmp_path / "o.db"), clock=clock)
    row = result.tasks["a"]
    assert row["state"] == "failed" and row["attempt"] == 1
    assert "CENSUS_API_TOKEN" in row["error"]


async def test_webhooks_wake_the_task_before_the_next_poll(tmp_path, env):
    clock = FakeClock()
    secret = "census-webhook-secret-1234"
    sim = CensusSimulator(clock=clock, syncs=())
    sim.add_sync(52, destination_object="Account", queued_for=1, working_for=20)
    env(sim, secret)
    host = host_for(sim)
    store = Store.open(str(tmp_path / "o.db"))
    engine = host.engine(store=store, clock=clock)
    app = create_app(host, engine)
    sim.add_census_webhook("http://127.0.0.1/webhooks/census", secret=secret,
                           transport=httpx.ASGITransport(app=app))
    pipeline = host.pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "census", "integration_job": "census_sync", "syncid": 52,
         "poll_interval": "1h"}]})
    results = []

    async def run():
        results.append(await engine.run(pipeline))
        tg.cancel_scope.cancel()

    async def pump():
        while True:
            await sim.deliver_due()
            await clock.sleep(0.5)

    async with clock.driving(), anyio.create_task_group() as tg:
        tg.start_soon(pump)
        tg.start_soon(run)
    [result] = results
    assert result.tasks["a"]["state"] == "succeeded"
    assert clock.monotonic() < 30  # not the 1 h poll interval
    # the first read, then one read per webhook that found the task waiting
    assert 2 <= sim.count("GET", "/api/v1/sync_runs/*") <= 4
    kinds = [d.json()["event"] for d in sim.deliveries]
    assert kinds == ["sync.triggered", "sync.started", "sync.completed", "sync.success"]
    assert all(d.status == 200 for d in sim.deliveries)

    # the same delivery again is a replay; a bad signature changes nothing
    last = sim.deliveries[-1]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://orchestra") as client:
        again = await client.post("/webhooks/census", content=last.body,
                                  headers={"X-Signature": sign(secret, last.body)})
        assert again.status_code == 200
        assert again.json() == {"received": 1, "new": 0, "replayed": 1}
        forged = json.dumps({**last.json(), "sync_run_id": 1}).encode()
        bad = await client.post("/webhooks/census", content=forged,
                                headers={"X-Signature": sign("not-the-secret", forged)})
        assert bad.status_code == 401
        assert secret not in bad.text
        unsigned = await client.post("/webhooks/census", content=forged)
        assert unsigned.status_code == 401
        junk = b"not json"
        malformed = await client.post("/webhooks/census", content=junk,
                                      headers={"X-Signature": sign(secret, junk)})
        assert malformed.status_code == 400
    store.close()


async def test_resume_in_a_new_process_does_not_trigger_again(tmp_path, env):
    clock = FakeClock()
    sim = CensusSimulator(clock=clock, syncs=())
    sim.add_sync(52, queued_for=1, working_for=60)
    env(sim)
    db = str(tmp_path / "o.db")
    store = Store.open(db)
    first = host_for(sim)
    engine = first.engine(store=store, clock=clock)
    pipeline = first.pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "census", "integration_job": "census_sync", "syncid": 52,
         "poll_interval": 5}]})
    async with clock.driving():  # crash once the external run is recorded
        run_id = await run_until_crash(engine, pipeline)
    assert sim.count("POST", "/api/v1/syncs/52/trigger") == 1
    [sim_run] = sim.workspace.runs.values()
    assert sim_run.canceled_at is None  # a detached engine cancels nothing

    second = host_for(sim)  # a new process: new host, runner and engine
    async with clock.driving():
        result = await second.resume(run_id, store=store, clock=clock)
    assert result.state == "succeeded"
    assert result.tasks["a"]["external_id"] == str(sim_run.id)
    assert sim.count("POST", "/api/v1/syncs/52/trigger") == 1
    store.close()


async def test_timeout_cancels_the_sync_run_in_census(tmp_path, env):
    clock = FakeClock()
    sim = CensusSimulator(clock=clock, syncs=())
    sim.add_sync(52, queued_for=1, working_for=600)
    env(sim)
    host = host_for(sim)
    pipeline = host.pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "census", "integration_job": "census_sync", "syncid": 52,
         "timeout": "1m"}]})
    async with clock.driving():
        result = await host.run(pipeline, db=str(tmp_path / "o.db"), clock=clock)
    assert result.tasks["a"]["state"] == "timed_out"
    [sim_run] = sim.workspace.runs.values()
    assert sim.run(sim_run.id)["canceled"] is True
    assert sim.count("POST", f"/api/v1/sync_runs/{sim_run.id}/cancel") == 1


@pytest.mark.slow
def test_pipeline_against_the_simulator_as_a_real_server(tmp_path, monkeypatch):
    sim = CensusSimulator(run_duration=0.3)
    for sync in sim.workspace.syncs.values():
        sync.queued_for = 0.05
    with sim.serve() as url:
        monkeypatch.setenv("CENSUS_API_TOKEN", DEFAULT_TOKEN)
        monkeypatch.setenv("CENSUS_BASE_URL", url)
        host = Orchestra(plugins=[orchestra_census.plugin], load_entrypoints=False)
        path = tmp_path / "activate.yaml"
        path.write_text(PIPELINE.replace("5s", "0.1").replace("poll_interval: 5",
                                                                "poll_interval: 0.1"))
        result = host.run_sync(path, db=str(tmp_path / "o.db"))
    states = {t: r["state"] for t, r in result.tasks.items()}
    assert states == {"accounts": "succeeded", "contacts": "succeeded", "leads": "failed",
                      "reverse_etl": "succeeded", "after": "succeeded"}
    assert result.tasks["accounts"]["meta"]["records_processed"] == 100
    assert sim.count("POST", "/api/v1/syncs/*/trigger") == 3


async def test_stored_connection_and_its_webhook_secret(tmp_path, monkeypatch):
    from orchestra_core import KeyRing, Secrets, generate_key

    for var in ("CENSUS_API_TOKEN", "CENSUS_BASE_URL", "CENSUS_WEBHOOK_SECRET"):
        monkeypatch.delenv(var, raising=False)
    clock = FakeClock()
    sim = CensusSimulator(clock=clock, syncs=(), tokens=("secret-token:eu-workspace",))
    sim.add_sync(61, destination_object="user", queued_for=1, working_for=10)
    host = host_for(sim)
    store = Store.open(str(tmp_path / "o.db"))
    keys = KeyRing.from_keys(generate_key())
    secrets = Secrets(store, host=host, keys=keys)
    secrets.credentials.set("census-eu", secrets={"token": "secret-token:eu-workspace",
                                                  "webhook_secret": "stored-webhook-secret"})
    secrets.connections.add("census-eu", integration="census", base_url=sim.base_url,
                            credential="census-eu")
    engine = host.engine(store=store, clock=clock, keys=keys)
    app = create_app(host, engine)
    sim.add_census_webhook("http://127.0.0.1/webhooks/census/census-eu",
                           secret="stored-webhook-secret",
                           transport=httpx.ASGITransport(app=app))
    pipeline = host.pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "census", "integration_job": "census_sync", "syncid": 61,
         "poll_interval": "1h", "secondary_configuration_id": "census-eu"}]})
    results = []

    async def run():
        results.append(await engine.run(pipeline))
        tg.cancel_scope.cancel()

    async def pump():
        while True:
            await sim.deliver_due()
            await clock.sleep(0.5)

    async with clock.driving(), anyio.create_task_group() as tg:
        tg.start_soon(pump)
        tg.start_soon(run)
    [result] = results
    assert result.tasks["a"]["state"] == "succeeded"
    assert result.tasks["a"]["meta"]["assets"] == ["census:15/user"]
    assert clock.monotonic() < 20
    assert {d.status for d in sim.deliveries} == {200}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://orchestra") as client:
        body = sim.deliveries[0].body
        wrong = await client.post("/webhooks/census/no-such-connection", content=body,
                                  headers={"X-Signature": sign("stored-webhook-secret", body)})
        assert wrong.status_code == 404
    store.close()


async def test_crash_between_trigger_and_its_record_recovers_the_run(tmp_path, env):
    clock = FakeClock()
    sim = CensusSimulator(clock=clock, syncs=())
    sim.add_sync(52, queued_for=1, working_for=60)
    env(sim)
    store = Store.open(str(tmp_path / "o.db"))
    first = host_for(sim)
    engine = first.engine(store=store, clock=clock)
    pipeline = first.pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "census", "integration_job": "census_sync", "syncid": 52,
         "poll_interval": 5}]})
    async with clock.driving():  # crash once the sync is triggered
        run_id = await run_until_crash(engine, pipeline, lambda _: sim.workspace.runs)
    # as if the process died after the trigger, before the external run was written
    store.apply([TaskUpdate(run_id, "a", {"external": None, "external_id": None})])
    async with clock.driving():
        result = await host_for(sim).resume(run_id, store=store, clock=clock)
    [sim_run] = sim.workspace.runs.values()
    assert sim.count("POST", "/api/v1/syncs/52/trigger") == 1
    row = result.tasks["a"]
    assert row["state"] == "succeeded"
    assert row["meta"]["sync_run_id"] == sim_run.id
    assert row["meta"]["recovered"] is True
    store.close()
