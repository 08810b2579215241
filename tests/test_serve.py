"""The service (scheduler + worker pool) in-process on a fake clock: runs registered pipelines
on their triggers, executes queued runs, resumes runs whose owner died (and only those),
leaves running runs resumable on shutdown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from orchestra_core import Orchestra
from orchestra_core._engine import Engine
from orchestra_core._scheduling.lease import RunOwned, owner_alive
from orchestra_core._scheduling.registry import PipelineRegistry
from orchestra_core._service import Service
from orchestra_core._store.schema import pipeline_runs
from orchestra_core.cli import cli
from orchestra_core.testing import FakeClock

from ._engine_kit import FakePlugin
from .test_scheduling import store, store_url  # noqa: F401  (fixtures)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def anyio_backend():
    return "asyncio"


def fake_host():
    return Orchestra(plugins=[FakePlugin()], load_entrypoints=False)


def runner_of(host):
    return host.runner(host.find_job("fake", "fake_job"))


def pipeline(host, triggers=(), duration=5.0, name="p"):
    return host.pipeline_from_data({"name": name, "triggers": list(triggers), "tasks": [
        {"id": "a", "integration": "fake", "integration_job": "fake_job",
         "parameters": {"duration": duration}}]})


async def serve_for(svc, clock, seconds):
    async with clock.driving(), anyio.create_task_group() as tg:
        await tg.start(svc.run)
        await clock.sleep(seconds)
        svc.stop()


async def test_service_runs_registered_pipelines_on_their_triggers(store):  # noqa: F811
    clock = FakeClock(T0)
    host = fake_host()
    registry = PipelineRegistry(store, clock=clock)
    registry.apply(pipeline(host, [{"kind": "interval", "frequency": 1,
                                    "frequency_type": "minutes"}]))
    queued = registry.queue_run("p", run_type="source")
    svc = Service(host, store, clock=clock, http_host=None)
    await serve_for(svc, clock, 5 * 60 + 30)
    runs = sorted(store.list_runs(pipeline="p", limit=100), key=lambda r: r["created_at"])
    assert [r["state"] for r in runs] == ["succeeded"] * 6
    assert runs[0]["id"] == queued and runs[0]["run_type"] == "source"
    assert [r["trigger"] for r in runs[1:]] == ["interval:interval"] * 5
    # each scheduled run started as soon as it was created
    for r in runs[1:]:
        run = store.get_run(r["id"])
        assert _utc(run["started_at"]) - _utc(run["created_at"]) < timedelta(seconds=1)
    assert len(runner_of(host).starts) == 5  # a source run skips the processing task


def _utc(value):
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def interrupted_run(store, clock, owner, age=0.0):  # noqa: F811
    """A run whose task has started its external job, then its process vanished."""
    host = fake_host()
    engine = Engine(host, store, clock=clock)
    p = pipeline(host, duration=600)
    async with clock.driving(), anyio.create_task_group() as tg:
        tg.start_soon(engine.run, p)
        await clock.sleep(30)
        engine.detach()
        tg.cancel_scope.cancel()
    run_id = store.list_runs(pipeline="p", limit=1)[0]["id"]
    with store.engine.begin() as conn:
        conn.execute(pipeline_runs.update().where(pipeline_runs.c.id == run_id).values(
            owner=owner, heartbeat_at=clock.now() - timedelta(seconds=age)))
    return run_id, runner_of(host)


async def test_service_resumes_a_run_once_its_owners_lease_expired(store):  # noqa: F811
    clock = FakeClock(T0)
    run_id, first = await interrupted_run(store, clock, "elsewhere:42")
    assert first.starts == [f"{run_id}/a/1"]
    task = store.task_runs(run_id)[0]
    assert (task["state"], task["external_id"]) == ("running", "ext-a-1")
    host = fake_host()
    svc = Service(host, store, clock=clock, http_host=None, poll=5)
    # the owner on another host beat 0 s ago: its run is left alone until the lease expires
    async with clock.driving(), anyio.create_task_group() as tg:
        await tg.start(svc.run)
        await clock.sleep(20)
        assert store.get_run(run_id)["owner"] == "elsewhere:42"
        await clock.sleep(700)
        svc.stop()
    run = store.get_run(run_id)
    assert run["state"] == "succeeded" and run["owner"] == svc.engine.owner
    # re-attached to the recorded external job: not triggered again
    assert runner_of(host).starts == [] and runner_of(host).waits == ["ext-a-1"]
    logs = [e["message"] for e in store.logs(run_id=run_id)]
    assert any(m.startswith("resuming run") for m in logs)


async def test_resume_is_refused_while_the_owner_is_alive(store, tmp_path):  # noqa: F811
    clock = FakeClock(T0)
    run_id, _ = await interrupted_run(store, clock, "elsewhere:7")
    engine = Engine(fake_host(), store, clock=clock)
    with pytest.raises(RunOwned, match="is being executed by elsewhere:7"):
        await engine.resume(run_id)
    assert owner_alive("elsewhere:7", clock.now(), clock.now())
    assert not owner_alive("elsewhere:7", clock.now(), clock.now() + timedelta(seconds=31))


def test_cli_resume_of_a_run_with_a_live_owner_is_refused(tmp_path):
    db = str(tmp_path / "o.db")
    from orchestra_core._store import Store

    opened = Store.open(db)
    clock = FakeClock(datetime.now(UTC))
    run_id, _ = anyio.run(interrupted_run, opened, clock, "elsewhere:7",
                          (clock.now() - datetime.now(UTC)).total_seconds())
    result = CliRunner().invoke(cli, ["--no-plugins", "run", "--resume", run_id, "--db", db])
    assert result.exit_code == 1
    assert f"Error: run {run_id} is being executed by elsewhere:7" in result.output
    assert "orchestra runs cancel" in result.output
    assert opened.get_run(run_id)["owner"] == "elsewhere:7"  # nothing changed


async def test_shutdown_leaves_running_runs_resumable(store):  # noqa: F811
    clock = FakeClock(T0)
    host = fake_host()
    registry = PipelineRegistry(store, clock=clock)
    registry.apply(pipeline(host, duration=600))
    run_id = registry.queue_run("p")
    svc = Service(host, store, clock=clock, http_host=None)
    await serve_for(svc, clock, 60)
    run = store.get_run(run_id)
    task = store.task_runs(run_id)[0]
    assert (run["state"], run["owner"], run["heartbeat_at"]) == ("running", None, None)
    assert (task["state"], task["external_id"]) == ("running", "ext-a-1")
    assert runner_of(host).cancels == []  # nothing cancelled at the vendor
    assert "run left to be resumed" in store.logs(run_id=run_id)[-1]["message"]
    # the next start picks it up at once and re-attaches
    host2 = fake_host()
    await serve_for(Service(host2, store, clock=clock, http_host=None), clock, 700)
    assert store.get_run(run_id)["state"] == "succeeded"
    assert runner_of(host2).starts == [] and runner_of(host2).waits == ["ext-a-1"]


async def test_heartbeat_renews_the_lease_of_a_long_run(store):  # noqa: F811
    clock = FakeClock(T0)
    host = fake_host()
    engine = Engine(host, store, clock=clock)
    beats = []
    async with clock.driving(), anyio.create_task_group() as tg:
        tg.start_soon(engine.run, pipeline(host, duration=100))
        for _ in range(4):
            await clock.sleep(25)
            with store.engine.connect() as conn:
                beats.append(_utc(conn.execute(sa.select(pipeline_runs.c.heartbeat_at))
                                  .scalar()))
    assert all(clock_now - beat <= timedelta(seconds=11)
               for clock_now, beat in zip([T0 + timedelta(seconds=25 * (i + 1))
                                           for i in range(4)], beats, strict=True))
