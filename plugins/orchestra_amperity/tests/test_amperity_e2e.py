"""Amperity tasks through the engine: pipeline files run with ``Orchestra(...).run`` against
the simulator (in-process on a fake clock, and as a real server on 127.0.0.1), pipeline run
types, timeouts, a stored connection with OAuth, resume and recovery in a new process."""

import textwrap

import orchestra_amperity.plugin
import pytest
from orchestra_amperity.testing import AmperitySimulator

from orchestra_core import Orchestra
from orchestra_core._store import Store, TaskUpdate
from orchestra_core.testing import FakeClock, run_until_crash

PIPELINE = textwrap.dedent("""\
    name: customer-360
    tasks:
      - id: load_orders
        integration: amperity
        integration_job: amperity_courier_group
        parameters: {config_id: cg-4xTz9m2, poll_interval: 5s}
      - id: load_files
        integration: AMPERITY
        integration_job: AMPERITY_COURIER_GROUP
        courier_group_id: cg-7sFtp01
        range_from: "2026-03-01T00:00:00Z"
        range_to: "2026-03-02T00:00:00Z"
        poll_interval: 5
      - id: send_segments
        integration: amperity
        integration_job: amperity_orchestration_group
        config_id: og-8qLw3p1
        poll_interval: 5
        depends_on: [load_orders, load_files]
      - id: spring_campaign
        integration: amperity
        integration_job: amperity_campaign
        config_id: cc-2bNf7k5
        poll_interval: 5
        depends_on: [send_segments]
    """)
ENV = ("AMPERITY_TOKEN", "AMPERITY_CLIENT_ID", "AMPERITY_CLIENT_SECRET", "AMPERITY_TENANT",
       "AMPERITY_BASE_URL")


@pytest.fixture
def env(monkeypatch):
    def use(sim, base_url=None, oauth=False):
        for var in ENV:
            monkeypatch.delenv(var, raising=False)
        for key, value in sim.env(base_url, oauth=oauth).items():
            monkeypatch.setenv(key, value)
    return use


def host_for(sim=None):
    transports = {"amperity": sim.transport} if sim is not None else None
    return Orchestra(plugins=[orchestra_amperity.plugin], load_entrypoints=False,
                     transports=transports)


@pytest.mark.parametrize("oauth", [False, True], ids=["token", "oauth"])
async def test_pipeline_file_against_the_simulator(tmp_path, env, oauth):
    clock = FakeClock()
    sim = AmperitySimulator(clock=clock, run_duration=20)
    env(sim, oauth=oauth)
    path = tmp_path / "customer-360.yaml"
    path.write_text(PIPELINE)
    async with clock.driving():
        result = await host_for(sim).run(path, db=str(tmp_path / "o.db"), clock=clock)
    tasks = result.tasks
    assert result.state == "succeeded", {t: r["error"] for t, r in tasks.items()}
    assert {t: r["state"] for t, r in tasks.items()} == dict.fromkeys(
        ["load_orders", "load_files", "send_segments", "spring_campaign"], "succeeded")
    orders = tasks["load_orders"]
    assert orders["external_id"] == orders["meta"]["workflow_id"]
    assert orders["meta"]["state"] == "succeeded"
    assert len(orders["meta"]["task_instances"]) == 4
    files = {r.config_id: r for r in sim.runs()}["cg-7sFtp01"]
    assert (files.range_from, files.range_to) == ("2026-03-01T00:00:00Z",
                                                  "2026-03-02T00:00:00Z")
    assert files.run_mode is None  # a full run: the courier group's own mode
    assert len(sim.runs()) == 4
    assert 60 <= clock.monotonic() < 80  # two courier groups at once, then two in a row
    assert sim.count("POST", "/api/v0/oauth2/token") == (1 if oauth else 0)


@pytest.mark.parametrize("run_type", ["refresh", "source"])
async def test_pipeline_run_type_sets_the_courier_run_mode(tmp_path, env, run_type):
    clock = FakeClock()
    sim = AmperitySimulator(clock=clock, run_duration=20)
    env(sim)
    path = tmp_path / "customer-360.yaml"
    path.write_text(PIPELINE)
    async with clock.driving():
        result = await host_for(sim).run(path, run_type=run_type, db=str(tmp_path / "o.db"),
                                         clock=clock)
    states = {t: r["state"] for t, r in result.tasks.items()}
    assert states["load_orders"] == states["load_files"] == "succeeded"
    assert states["send_segments"] == states["spring_campaign"] == "skipped"
    assert {r.config_id: r.run_mode for r in sim.runs()} == {
        "cg-4xTz9m2": run_type, "cg-7sFtp01": run_type}
    assert result.tasks["load_orders"]["meta"]["run_mode_from"] == "run type"


async def test_failures_follow_the_attribution(tmp_path, env):
    clock = FakeClock()
    sim = AmperitySimulator(clock=clock, configs=())
    sim.add_config("og-platform", duration=10, outcome="failed", attribution="platform")
    sim.add_config("og-customer", duration=10, outcome="failed", attribution="customer")
    env(sim)
    host = host_for(sim)
    pipeline = host.pipeline_from_data({"name": "p", "tasks": [
        {"id": t, "integration": "amperity", "integration_job": "amperity_orchestration_group",
         "config_id": f"og-{t}", "poll_interval": 2, "retries": {"count": 2, "delay": 1}}
        for t in ("platform", "customer")]})
    async with clock.driving():
        result = await host.run(pipeline, db=str(tmp_path / "o.db"), clock=clock)
    platform, customer = result.tasks["platform"], result.tasks["customer"]
    assert platform["state"] == customer["state"] == "failed"
    assert platform["attempt"] == 3  # retried: a platform error may be transient
    assert customer["attempt"] == 1  # not retried: the configuration needs a fix
    assert "a configuration error to fix in Amperity" in customer["error"]
    assert customer["meta"]["error"]["attribution"] == "customer"
    assert customer["meta"]["task_instances"][0]["state"] == "failed"
    assert len([r for r in sim.runs() if r.config_id == "og-platform"]) == 3


async def test_timeout_stops_the_workflow_in_amperity(tmp_path, env):
    clock = FakeClock()
    sim = AmperitySimulator(clock=clock, configs=())
    sim.add_config("cg-slow", duration=600)
    env(sim)
    host = host_for(sim)
    pipeline = host.pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "amperity", "integration_job": "amperity_courier_group",
         "config_id": "cg-slow", "timeout": "1m"}]})
    async with clock.driving():
        result = await host.run(pipeline, db=str(tmp_path / "o.db"), clock=clock)
    assert result.tasks["a"]["state"] == "timed_out"
    [run] = sim.runs()
    assert sim.run(run.id)["state"] == "canceled"
    assert sim.count("POST", f"/api/workflow/runs/{run.id}/stop") == 1


async def test_resume_in_a_new_process_does_not_start_again(tmp_path, env):
    clock = FakeClock()
    sim = AmperitySimulator(clock=clock, configs=())
    sim.add_config("og-long", duration=60)
    env(sim)
    store = Store.open(str(tmp_path / "o.db"))
    first = host_for(sim)
    engine = first.engine(store=store, clock=clock)
    pipeline = first.pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "amperity", "integration_job": "amperity_orchestration_group",
         "config_id": "og-long", "poll_interval": 5}]})
    async with clock.driving():  # crash once the external run is recorded
        run_id = await run_until_crash(engine, pipeline)
    [sim_run] = sim.runs()
    assert sim.run(sim_run.id)["state"] != "canceled"  # a detached engine stops nothing
    async with clock.driving():
        result = await host_for(sim).resume(run_id, store=store, clock=clock)
    assert result.state == "succeeded"
    assert result.tasks["a"]["external_id"] == sim_run.id
    assert sim.count("POST", "/api/workflow/runs") == 1
    store.close()


async def test_crash_between_start_and_its_record_recovers_the_workflow(tmp_path, env):
    clock = FakeClock()
    sim = AmperitySimulator(clock=clock, configs=())
    sim.add_config("cc-long", duration=60)
    env(sim)
    store = Store.open(str(tmp_path / "o.db"))
    engine = host_for(sim).engine(store=store, clock=clock)
    pipeline = host_for(sim).pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "amperity", "integration_job": "amperity_campaign",
         "config_id": "cc-long", "poll_interval": 5}]})
    async with clock.driving():  # crash once the workflow is started
        run_id = await run_until_crash(engine, pipeline, lambda _: sim.runs())
    store.apply([TaskUpdate(run_id, "a", {"external": None, "external_id": None})])
    async with clock.driving():
        result = await host_for(sim).resume(run_id, store=store, clock=clock)
    [sim_run] = sim.runs()
    assert sim.count("POST", "/api/workflow/runs") == 1
    row = result.tasks["a"]
    assert row["state"] == "succeeded"
    assert row["meta"]["workflow_id"] == sim_run.id and row["meta"]["recovered"] is True
    store.close()


async def test_stored_connection_with_client_credentials(tmp_path, monkeypatch):
    from orchestra_core import KeyRing, Secrets, generate_key

    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    clock = FakeClock()
    sim = AmperitySimulator(clock=clock, configs=(), tenant="acme",
                            clients={"acme-client": ("acme-secret-value", "acme")}, tokens={})
    sim.add_config("og-acme", duration=10)
    host = host_for(sim)
    store = Store.open(str(tmp_path / "o.db"))
    keys = KeyRing.from_keys(generate_key())
    secrets = Secrets(store, host=host, keys=keys)
    secrets.credentials.set("amperity-acme", secrets={"client_id": "acme-client",
                                                      "client_secret": "acme-secret-value"})
    secrets.connections.add("amperity-acme", integration="amperity", base_url=sim.base_url,
                            credential="amperity-acme", auth="oauth",
                            options={"tenant": "acme"})
    engine = host.engine(store=store, clock=clock, keys=keys)
    pipeline = host.pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "amperity", "integration_job": "amperity_orchestration_group",
         "config_id": "og-acme", "poll_interval": 2,
         "secondary_configuration_id": "amperity-acme"}]})
    async with clock.driving():
        result = await engine.run(pipeline)
    assert result.tasks["a"]["state"] == "succeeded", result.tasks["a"]["error"]
    assert result.tasks["a"]["meta"]["tenant"] == "acme"
    assert sim.count("POST", "/api/v0/oauth2/token") == 1
    store.close()


async def test_missing_credentials_fail_the_task_clearly(tmp_path, monkeypatch):
    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    clock = FakeClock()
    host = host_for(AmperitySimulator(clock=clock))
    pipeline = host.pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "amperity", "integration_job": "amperity_campaign",
         "config_id": "cc-2bNf7k5"}]})
    async with clock.driving():
        result = await host.run(pipeline, db=str(tmp_path / "o.db"), clock=clock)
    row = result.tasks["a"]
    assert row["state"] == "failed" and row["attempt"] == 1
    assert "AMPERITY_TENANT" in row["error"] and "AMPERITY_TOKEN" in row["error"]


@pytest.mark.slow
def test_pipeline_against_the_simulator_as_a_real_server(tmp_path, env):
    sim = AmperitySimulator(run_duration=0.4)
    for config in sim.tenants[sim.tenant].configs.values():
        config.scheduled_for = config.started_for = 0.05
    with sim.serve() as url:
        assert url.startswith("http://127.0.0.1:")
        env(sim, base_url=url, oauth=True)
        path = tmp_path / "customer-360.yaml"
        path.write_text(PIPELINE.replace("5s", "0.1").replace("poll_interval: 5",
                                                                "poll_interval: 0.1"))
        result = host_for().run_sync(path, db=str(tmp_path / "o.db"))
    states = {t: r["state"] for t, r in result.tasks.items()}
    assert states == dict.fromkeys(
        ["load_orders", "load_files", "send_segments", "spring_campaign"], "succeeded")
    assert result.tasks["send_segments"]["meta"]["state"] == "succeeded"
    assert sim.count("POST", "/api/workflow/runs") == 4
    assert sim.count("POST", "/api/v0/oauth2/token") == 1
