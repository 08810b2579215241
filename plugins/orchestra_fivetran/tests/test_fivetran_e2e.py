"""Pipelines of fivetran_sync_all tasks run end to end through the Python API: against the
in-process simulator on a fake clock (polling, and woken by webhooks through Orchestra's
endpoint), and against the simulator as a real HTTP server on 127.0.0.1 (polling, and with
webhooks delivered to Orchestra's app served by uvicorn)."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import anyio
import httpx
import orchestra_fivetran.plugin
import pytest
import sqlalchemy as sa
from orchestra_fivetran.testing import FivetranSimulator

from orchestra_core import Orchestra, Store, create_app
from orchestra_core._store.schema import asset_events
from orchestra_core.testing import FakeClock

WEBHOOK_SECRET = "whsec-e2e-0123456789"
CONNECTORS = ("ambush_prettiest", "speak_inexpensive", "quiet_meadow")


def pipeline(poll_interval: float, outputs: bool = True) -> dict[str, Any]:
    """Three syncs as a stage, then a task that depends on the stage."""
    tasks: list[dict[str, Any]] = [
        {"id": f"sync_{i}", "integration": "FIVETRAN", "integration_job": "FIVETRAN_SYNC_ALL",
         "connector_id": cid, "poll_interval": poll_interval}
        for i, cid in enumerate(CONNECTORS)]
    tasks.append({"id": "transform", "integration": "noop", "integration_job": "noop_run",
                  "depends_on": ["ingest"], **({"outputs": ["analytics.orders"]}
                                               if outputs else {})})
    return {"name": "fivetran_e2e", "stages": [{"id": "ingest", "tasks": [
        f"sync_{i}" for i in range(len(CONNECTORS))]}], "tasks": tasks}


def make_sim(**options: Any) -> FivetranSimulator:
    sim = FivetranSimulator(connectors=(), **options)
    for i, cid in enumerate(CONNECTORS):
        sim.add_connector(cid, schema=f"src_{i}",
                          duration=options.get("run_duration", 60) * (1 + i / 2))
    return sim


@pytest.fixture
def store(tmp_path):
    s = Store.open(str(tmp_path / "o.db"))
    yield s
    s.close()


def use_env(monkeypatch, sim: FivetranSimulator, base_url: str | None = None) -> None:
    for name, value in sim.env(base_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FIVETRAN_WEBHOOK_SECRET", WEBHOOK_SECRET)


def assets_of(store: Store, run_id: str) -> dict[str, set[str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(asset_events.c.task_id, asset_events.c.asset)
                            .where(asset_events.c.run_id == run_id)).all()
    found: dict[str, set[str]] = {}
    for task_id, asset in rows:
        found.setdefault(task_id, set()).add(asset)
    return found


def check_run(result: Any, store: Store, sim: FivetranSimulator) -> dict[str, Any]:
    assert result.state == "succeeded", result.error
    tasks = result.tasks
    for i, cid in enumerate(CONNECTORS):
        meta = tasks[f"sync_{i}"]["meta"]
        assert tasks[f"sync_{i}"]["state"] == "succeeded"
        assert meta["connection_id"] == cid and meta["connection_name"] == f"src_{i}"
        assert meta["succeeded_at"] and meta["group_id"] == "projected_sickle"
        assert meta["assets"] == [f"src_{i}.customers", f"src_{i}.orders"]
        assert tasks[f"sync_{i}"]["external"]["data"]["connection_id"] == cid
        c = sim.connector(cid)
        assert (c.triggers, c.syncs) == (1, 1)
    assert tasks["transform"]["state"] == "succeeded"
    assert assets_of(store, result.run_id) == {
        **{f"sync_{i}": {f"src_{i}.customers", f"src_{i}.orders"}
           for i in range(len(CONNECTORS))},
        "transform": {"analytics.orders"}}
    return tasks


# -- in-process, fake clock ------------------------------------------------------------------


async def test_polling_only_on_a_fake_clock(store, monkeypatch):
    clock = FakeClock()
    sim = make_sim(clock=clock, run_duration=60)
    use_env(monkeypatch, sim)
    host = Orchestra(plugins=[orchestra_fivetran.plugin], load_entrypoints=False,
                     transports={"fivetran": sim.transport})
    async with clock.driving():
        result = await host.run(host.pipeline_from_data(pipeline(poll_interval=15)),
                                store=store, clock=clock)
    tasks = check_run(result, store, sim)
    assert tasks["sync_2"]["meta"]["polls"] == 8  # 120 s sync, every 15 s
    assert tasks["sync_2"]["meta"]["webhook_events"] == 0


async def test_webhooks_wake_the_tasks_on_a_fake_clock(store, monkeypatch):
    clock = FakeClock()
    sim = make_sim(clock=clock, run_duration=60)
    use_env(monkeypatch, sim)
    host = Orchestra(plugins=[orchestra_fivetran.plugin], load_entrypoints=False,
                     transports={"fivetran": sim.transport})
    engine = host.engine(store=store, clock=clock)
    sim.webhook_transport = httpx.ASGITransport(app=create_app(host, engine))
    sim.add_fivetran_webhook("https://orchestra.test/webhooks/fivetran",
                             events=["sync_start", "sync_end"], secret=WEBHOOK_SECRET)
    start = clock.now()
    async with clock.driving(), sim.delivering():
        # a poll every hour: only the webhooks can finish the syncs in 2 minutes
        result = await engine.run(host.pipeline_from_data(pipeline(poll_interval=3600)))
    tasks = check_run(result, store, sim)
    assert clock.now() - start < timedelta(seconds=130)
    for i in range(len(CONNECTORS)):
        meta = tasks[f"sync_{i}"]["meta"]
        # one poll per wake-up (sync_start may arrive before the task waits)
        assert 1 <= meta["webhook_events"] <= 2 and meta["polls"] == meta["webhook_events"]
        assert meta["webhook_status"] == "SUCCESSFUL" and meta["sync_id"]
    assert all(d.ok for d in sim.deliveries)


async def test_a_failed_sync_fails_its_stage_with_the_reason(store, monkeypatch):
    clock = FakeClock()
    sim = make_sim(clock=clock, run_duration=60)
    sim.connector("speak_inexpensive").outcomes.append("failure_with_task")
    use_env(monkeypatch, sim)
    host = Orchestra(plugins=[orchestra_fivetran.plugin], load_entrypoints=False,
                     transports={"fivetran": sim.transport})
    data = pipeline(poll_interval=15)
    data["defaults"] = {"retries": {"count": 2, "delay": 1}}
    async with clock.driving():
        result = await host.run(host.pipeline_from_data(data), store=store, clock=clock)
    assert result.state == "failed"
    failed = result.tasks["sync_1"]
    assert failed["state"] == "failed" and failed["attempt"] == 1  # needs a user: no retry
    assert "Reconnect: the source password was changed" in failed["error"]
    assert result.tasks["transform"]["state"] in ("skipped", "cancelled")


# -- real servers on 127.0.0.1 -------------------------------------------------------------


def test_polling_against_the_simulator_as_a_real_server(store, monkeypatch):
    sim = make_sim(run_duration=0.3)
    with sim.serve() as url:
        assert url.startswith("http://127.0.0.1:")
        use_env(monkeypatch, sim, url)
        host = Orchestra(plugins=[orchestra_fivetran.plugin], load_entrypoints=False)
        result = host.run_sync(host.pipeline_from_data(pipeline(poll_interval=0.1)),
                               store=store)
    check_run(result, store, sim)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_webhooks_between_real_servers(store, monkeypatch):
    """The simulator's server delivers signed webhooks over HTTP to Orchestra's app, served by
    uvicorn in the engine's event loop; the tasks poll only every minute."""
    import uvicorn

    sim = make_sim(run_duration=0.5)
    port = _free_port()
    with sim.serve() as url:
        use_env(monkeypatch, sim, url)
        host = Orchestra(plugins=[orchestra_fivetran.plugin], load_entrypoints=False)
        engine = host.engine(store=store)
        sim.add_fivetran_webhook(f"http://127.0.0.1:{port}/webhooks/fivetran",
                                 events=["sync_start", "sync_end"], secret=WEBHOOK_SECRET)
        server = uvicorn.Server(uvicorn.Config(create_app(host, engine), host="127.0.0.1",
                                               port=port, log_level="error", lifespan="off"))

        async def main() -> Any:
            async with anyio.create_task_group() as tg:
                tg.start_soon(server.serve)
                while not server.started:
                    await anyio.sleep(0.01)
                with anyio.fail_after(30):
                    result = await engine.run(host.pipeline_from_data(
                        pipeline(poll_interval=60)))
                server.should_exit = True
            return result

        result = anyio.run(main)
    tasks = check_run(result, store, sim)
    for i in range(len(CONNECTORS)):
        assert tasks[f"sync_{i}"]["meta"]["webhook_status"] == "SUCCESSFUL"
    assert all(d.ok for d in sim.deliveries)
