"""dbt_runjob tasks of pipeline files run end to end: through ``Orchestra(...).run`` against the
in-process simulator on a fake clock, through the ``orchestra`` command against the
simulator as a real server on 127.0.0.1 (stored connection and credential), and across a
crash (resume), a cancel and a task timeout."""

import json
import textwrap

import anyio
import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from orchestra_dbt.testing import FAILING_JOB, SUCCEEDING_JOB, DbtCloudSimulator

from orchestra_core import Engine, Orchestra, Store, create_app
from orchestra_core._store.schema import asset_events
from orchestra_core.cli import cli
from orchestra_core.testing import FakeClock

PIPELINE = textwrap.dedent(f"""\
    name: transform
    tasks:
      - id: staging
        integration: dbt
        integration_job: dbt_runjob
        connectionid: "{SUCCEEDING_JOB}"
        cause: Nightly build
        poll_interval: 20s
      - id: marts
        integration: DBT
        integration_job: DBT_RUN_JOB
        parameters:
          runid: {FAILING_JOB}
          steps_override: [dbt build -s marts]
        depends_on: [staging]
    """)


@pytest.fixture
def env(monkeypatch):
    """Point the quick-start connection at a simulator: ``env(sim)``."""
    def point(sim, url=None):
        monkeypatch.setenv("DBT_CLOUD_API_TOKEN", sim.token)
        monkeypatch.setenv("DBT_CLOUD_ACCOUNT_ID", str(sim.account_id))
        monkeypatch.setenv("DBT_CLOUD_BASE_URL", url or sim.base_url)
    return point


def host_for(sim):
    return Orchestra(transports={"dbt": sim.transport})


async def test_pipeline_file_runs_against_the_in_process_simulator(tmp_path, env):
    clock = FakeClock()
    sim = DbtCloudSimulator(clock=clock, run_visible_after=2)
    env(sim)
    path = tmp_path / "transform.yaml"
    path.write_text(PIPELINE)
    db = str(tmp_path / "o.db")
    async with clock.driving():
        result = await host_for(sim).run(path, db=db, clock=clock)
    assert result.state == "failed"
    staging, marts = result.tasks["staging"], result.tasks["marts"]
    assert (staging["state"], marts["state"]) == ("succeeded", "failed")
    [first] = sim.runs_of_job(SUCCEEDING_JOB)
    [second] = sim.runs_of_job(FAILING_JOB)
    assert staging["external_id"] == str(first.id)
    assert first.cause.startswith("Nightly build [orchestra ")
    assert second.steps_override == ("dbt build -s marts",)
    meta = staging["meta"]
    assert (meta["run_id"], meta["job_id"], meta["status"], meta["duration_seconds"]) == (
        str(first.id), SUCCEEDING_JOB, 10, 12.0)
    assert meta["href"] == f"http://dbt.simulator/deploy/1/projects/167194/runs/{first.id}/"
    assert [n["status"] for n in meta["artifacts"]["nodes"]] == ["success"] * 4
    assert meta["assets"] == ["prod.stg_orders", "prod.stg_customers", "prod.orders",
                              "prod.customers"]
    assert marts["error"].startswith(f"dbt Cloud run {second.id} failed: Database Error in "
                                     "model orders; failed: orders")
    assert marts["meta"]["artifacts"]["counts"] == {"error": 1, "skipped": 1, "success": 2}
    store = Store.open(db)
    try:
        with store.engine.connect() as conn:
            assets = conn.execute(sa.select(asset_events.c.asset, asset_events.c.task_id)
                                  ).all()
    finally:
        store.close()
    assert sorted(assets) == sorted((a, "staging") for a in meta["assets"])
    # staging was polled every 20 s; the run took 12 s
    assert sim.count("POST", "*/run/") == 2


async def test_crash_and_resume_never_triggers_twice(tmp_path, env):
    clock = FakeClock()
    sim = DbtCloudSimulator(clock=clock)
    sim.add_job(42, duration=300)
    env(sim)
    pipeline = {"name": "long", "tasks": [
        {"id": f"t{i}", "integration": "dbt", "integration_job": "dbt_runjob", "jobid": 42,
         "poll_interval": 30} for i in range(3)]}
    store = Store.open(str(tmp_path / "o.db"))
    try:
        host = host_for(sim)
        engine = Engine(host, store, clock=clock)
        created = []
        async with clock.driving(), anyio.create_task_group() as tg:
            async def first_process():
                await engine.run(host.pipeline_from_data(pipeline),
                                 on_created=created.append)

            tg.start_soon(first_process)
            while sim.count("POST", "*/run/") < 3:
                await clock.sleep(1)
            await clock.sleep(40)
            engine.detach()  # the process dies: nothing cancelled at dbt Cloud
            tg.cancel_scope.cancel()
        assert sim.count("POST", "*/cancel/") == 0
        rows = {r["task_id"]: r for r in store.task_runs(created[0])}
        assert {r["state"] for r in rows.values()} == {"running"}
        # a new process: a new host, runner and engine
        host2 = host_for(sim)
        async with clock.driving():
            result = await Engine(host2, store, clock=clock).resume(created[0])
    finally:
        store.close()
    assert result.state == "succeeded"
    assert sim.count("POST", "*/run/") == 3  # no run triggered twice
    assert sorted(t["external_id"] for t in result.tasks.values()) == sorted(
        str(r.id) for r in sim.runs_of_job(42))


class _DiesAfterTrigger(httpx.AsyncBaseTransport):
    """dbt Cloud gets the trigger, then the process dies before it hears the answer."""

    def __init__(self, inner):
        self.inner = inner

    async def handle_async_request(self, request):
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path.endswith("/run/"):
            await anyio.sleep_forever()
        return response


async def test_resume_recovers_a_run_whose_trigger_answer_was_lost(tmp_path, env):
    clock = FakeClock()
    sim = DbtCloudSimulator(clock=clock)
    env(sim)
    pipeline = {"name": "lost", "tasks": [
        {"id": "t", "integration": "dbt", "integration_job": "dbt_runjob",
         "jobid": SUCCEEDING_JOB}]}
    store = Store.open(str(tmp_path / "o.db"))
    try:
        host = Orchestra(transports={"dbt": _DiesAfterTrigger(sim.transport)})
        engine = Engine(host, store, clock=clock)
        created = []
        async with clock.driving(), anyio.create_task_group() as tg:
            tg.start_soon(lambda: engine.run(host.pipeline_from_data(pipeline),
                                             on_created=created.append))
            while sim.count("POST", "*/run/") < 1:
                await clock.sleep(1)
            engine.detach()
            tg.cancel_scope.cancel()
        [row] = store.task_runs(created[0])
        assert (row["state"], row["external"]) == ("running", None)
        async with clock.driving():
            result = await Engine(host_for(sim), store, clock=clock).resume(created[0])
        logs = [e["message"] for e in store.logs(run_id=created[0])]
    finally:
        store.close()
    assert result.state == "succeeded"
    [sim_run] = sim.runs_of_job(SUCCEEDING_JOB)  # recovered, not triggered again
    assert result.tasks["t"]["meta"]["run_id"] == str(sim_run.id)
    assert sim.count("POST", "*/run/") == 1
    assert "recovered the external job started before the interruption" in logs


async def test_cancelling_the_pipeline_run_cancels_the_dbt_run(tmp_path, env):
    clock = FakeClock()
    sim = DbtCloudSimulator(clock=clock)
    sim.add_job(42, duration=3600)
    env(sim)
    store = Store.open(str(tmp_path / "o.db"))
    try:
        host = host_for(sim)
        created = []
        async with clock.driving(), anyio.create_task_group() as tg:
            async def run():
                created.append(await Engine(host, store, clock=clock).run(
                    host.pipeline_from_data({"name": "c", "tasks": [
                        {"id": "t", "integration": "dbt", "integration_job": "dbt_runjob",
                         "jobid": 42}]})))

            tg.start_soon(run)
            while not sim.runs_of_job(42):
                await clock.sleep(1)
            await clock.sleep(30)
            [row] = store.list_runs()
            store.request_cancel(row["id"])
        [result] = created
    finally:
        store.close()
    [sim_run] = sim.runs_of_job(42)
    assert sim.status(sim_run.id) == 30
    assert result.state == "cancelled"
    assert result.tasks["t"]["state"] == "cancelled"


async def test_task_timeout_cancels_the_dbt_run(tmp_path, env):
    clock = FakeClock()
    sim = DbtCloudSimulator(clock=clock)
    sim.add_job(42, duration=3600)
    env(sim)
    async with clock.driving():
        result = await host_for(sim).run(host_for(sim).pipeline_from_data(
            {"name": "t", "tasks": [{"id": "t", "integration": "dbt",
                                     "integration_job": "dbt_runjob", "jobid": 42,
                                     "timeout": 120}]}), db=str(tmp_path / "o.db"), clock=clock)
    [sim_run] = sim.runs_of_job(42)
    assert sim.status(sim_run.id) == 30
    assert result.tasks["t"]["state"] == "timed_out"


# -- the command line against the simulator as a real server -------------------------------------


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(home)
    monkeypatch.setenv("ORCHESTRA_HOME", str(home))
    for var in ("ORCHESTRA_DB", "ORCHESTRA_SECRET_KEY", "ORCHESTRA_SECRET_KEY_FILE",
                "DBT_CLOUD_API_TOKEN", "DBT_CLOUD_ACCOUNT_ID", "DBT_CLOUD_BASE_URL",
                "DBT_CLOUD_WEBHOOK_SECRET"):
        monkeypatch.delenv(var, raising=False)
    return home


def orchestra(*args, env=None):
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def test_cli_run_with_a_stored_connection_against_the_real_server(home):
    sim = DbtCloudSimulator(run_duration=0.3, completed_delay=0.1)
    sim.add_job(SUCCEEDING_JOB, duration=0.3, queued=0.1, starting=0.1)
    with sim.serve() as url:
        assert url.startswith("http://127.0.0.1:")
        orchestra("init")
        out = orchestra("credentials", "set", "dbt-prod", "--from-env", "token=TOK",
                        env={"TOK": sim.token})
        assert sim.token not in out
        orchestra("connections", "add", "dbt-prod", "--integration", "dbt", "--base-url", url,
                  "--credential", "dbt-prod", "--option", "account_id=1")
        (home / "p.yaml").write_text(textwrap.dedent(f"""\
            name: nightly
            tasks:
              - id: models
                integration: dbt
                integration_job: dbt_runjob
                jobid: {SUCCEEDING_JOB}
                poll_interval: 0.2
                secondary_configuration_id: dbt-prod
            """))
        output = orchestra("run", "p.yaml", "--progress", "none")
        run_id = output.split()[1]
        assert f"run {run_id} succeeded" in output
        shown = json.loads(orchestra("runs", "show", run_id, "--json"))
        logs = orchestra("logs", "--run", run_id)
    [task] = [t for t in shown["tasks"] if t["task_id"] == "models"]
    [sim_run] = sim.runs_of_job(SUCCEEDING_JOB)
    assert task["external_id"] == str(sim_run.id)
    meta = task["meta"]
    assert (meta["run_id"], meta["status"], meta["status_humanized"]) == (
        str(sim_run.id), 10, "Success")
    assert meta["href"].startswith(url.rstrip("/") + "/deploy/1/projects/")
    assert len(meta["artifacts"]["nodes"]) == 4
    assert f"dbt Cloud job {SUCCEEDING_JOB} triggered: run {sim_run.id}" in logs
    assert sim.token not in output + logs + json.dumps(shown)
    assert {r.headers["authorization"] for r in sim.requests} == {f"Token {sim.token}"}


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # uvicorn serves on asyncio
async def test_real_servers_with_webhooks(tmp_path, monkeypatch, anyio_backend):
    """The simulator served on 127.0.0.1 delivers signed webhooks to Orchestra's app served by
    uvicorn on 127.0.0.1: the task ends long before its next poll."""
    import uvicorn

    sim = DbtCloudSimulator(completed_delay=0.05)
    sim.add_job(SUCCEEDING_JOB, duration=0.3, queued=0.05, starting=0.05)
    store = Store.open(str(tmp_path / "o.db"))
    try:
        with sim.serve() as url:
            monkeypatch.setenv("DBT_CLOUD_API_TOKEN", sim.token)
            monkeypatch.setenv("DBT_CLOUD_ACCOUNT_ID", "1")
            monkeypatch.setenv("DBT_CLOUD_BASE_URL", url)
            host = Orchestra()
            engine = Engine(host, store)
            server = uvicorn.Server(uvicorn.Config(create_app(host, engine), host="127.0.0.1",
                                                   port=0, log_level="error", lifespan="off"))
            async with anyio.create_task_group() as tg:
                tg.start_soon(server.serve)
                while not server.started:
                    await anyio.sleep(0.01)
                port = server.servers[0].sockets[0].getsockname()[1]
                async with httpx.AsyncClient(base_url=url, headers={
                        "Authorization": f"Token {sim.token}"}) as http:
                    sub = (await http.post("/api/v3/accounts/1/webhooks/subscriptions", json={
                        "event_types": ["job.run.completed"], "name": "orchestra",
                        "client_url": f"http://127.0.0.1:{port}/webhooks/dbt"})).json()
                monkeypatch.setenv("DBT_CLOUD_WEBHOOK_SECRET", sub["data"]["hmac_secret"])
                try:
                    with anyio.fail_after(60):
                        result = await engine.run(host.pipeline_from_data({
                            "name": "real", "tasks": [{
                                "id": "t", "integration": "dbt",
                                "integration_job": "dbt_runjob", "jobid": SUCCEEDING_JOB,
                                "poll_interval": 600}]}))
                finally:
                    server.should_exit = True
    finally:
        store.close()
    assert result.state == "succeeded"
    assert [(d.kind, d.status) for d in sim.deliveries] == [("job.run.completed", 200)]
    assert result.tasks["t"]["meta"]["status"] == 10
