"""Seed 001's workflow rules for any pipeline, driven as a user does: pipeline files with a
``files_check`` task (missing-files policies, look-back window) and tasks with ``alert_after``
(duration thresholds), run through ``orchestra run`` and the engine on a fake clock."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from click.testing import CliRunner

from orchestra_core._engine import Engine
from orchestra_core._notifications import NotificationLog
from orchestra_core._store import Store
from orchestra_core.cli import cli
from orchestra_core.testing import FakeClock

HOUR = 3600.0


@pytest.fixture
def store(tmp_path):
    s = Store.open(str(tmp_path / "o.db"))
    yield s
    s.close()


async def run(host, store, pipeline, clock=None):
    clock = clock or FakeClock()
    async with clock.driving():
        return await Engine(host, store, clock=clock, cancel_poll=HOUR).run(pipeline), clock


def touch(path, when):
    """Create *path* with modification time *when* (a datetime)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    os.utime(path, (when.timestamp(), when.timestamp()))


def checked(directory, **params):
    return {"name": "couriers", "alerts": params.pop("alerts", {}), "tasks": [
        {"id": "check", "integration": "files", "integration_job": "files_check",
         "parameters": {"directory": str(directory), **params}},
        {"id": "load", "integration": "noop", "integration_job": "noop_run",
         "depends_on": ["check"]}]}


def states(result):
    return {task_id: t["state"] for task_id, t in result.tasks.items()}


# -- file checks ---------------------------------------------------------------------------------


FILE = """\
name: couriers
alerts:
  on_missing_files: [stored]
tasks:
  - id: check
    integration: files
    integration_job: files_check
    parameters:
      directory: {directory}
      patterns: ["orders_*.csv", "customers.csv"]
      within: 1d
      on_missing: {policy}
  - id: load
    integration: noop
    integration_job: noop_run
    depends_on: [check]
"""


@pytest.mark.parametrize("policy,exit_code,load", [("continue", 0, "succeeded"),
                                                    ("stop", 1, "skipped")])
def test_orchestra_run_notifies_on_missing_files_then_continues_or_stops(
        tmp_path, policy, exit_code, load):
    drop = tmp_path / "drop"
    from datetime import UTC, datetime
    now = datetime.now(UTC)
    touch(drop / "orders_1.csv", now - timedelta(hours=2))
    touch(drop / "customers.csv", now - timedelta(days=3))  # too old for "within: 1d"
    path = tmp_path / "p.yaml"
    path.write_text(FILE.format(directory=drop, policy=policy))
    db = str(tmp_path / "o.db")
    runner = CliRunner()
    result = runner.invoke(cli, ["--no-plugins", "run", str(path), "--db", db,
                                 "--progress", "none"])
    assert result.exit_code == exit_code, result.output
    store = Store.open(db)
    try:
        run = store.list_runs()[0]
        rows = {t["task_id"]: t for t in store.task_runs(run["id"])}
        assert rows["load"]["state"] == load
        assert rows["check"]["state"] == ("succeeded" if policy == "continue" else "failed")
    finally:
        store.close()
    notes = json.loads(runner.invoke(cli, ["notifications", "--json", "--db", db]).output)
    assert [n["kind"] for n in notes] == ["files.missing"]
    assert "no file matching 'customers.csv' in " in notes[0]["message"]
    assert "modified in the last 1 day" in notes[0]["message"]
    assert notes[0]["data"]["missing"] == ["customers.csv"]
    assert notes[0]["data"]["files"] == ["orders_1.csv"]
    assert notes[0]["data"]["task_id"] == "check"


async def test_all_files_present_succeeds_without_an_alert(host, store, tmp_path):
    clock = FakeClock()
    touch(tmp_path / "in" / "orders_1.csv", clock.now() - timedelta(hours=1))
    touch(tmp_path / "in" / "sub" / "orders_2.csv", clock.now())
    pipeline = host.pipeline_from_data(checked(tmp_path / "in", patterns=["orders_*.csv"],
                                               within="1d", recursive=True))
    result, _ = await run(host, store, pipeline, clock)
    assert result.state == "succeeded"
    assert states(result) == {"check": "succeeded", "load": "succeeded"}
    assert NotificationLog(store).list() == []
    logs = [e["message"] for e in store.logs(run_id=result.run_id)]
    assert "found 2 files in " + str(tmp_path / "in") + ": orders_1.csv, sub/orders_2.csv" \
        in logs


async def test_wait_policy_picks_up_a_file_that_arrives_within_the_limit(host, store, tmp_path):
    import anyio

    clock = FakeClock()
    drop = tmp_path / "drop"
    drop.mkdir()
    pipeline = host.pipeline_from_data(checked(drop, patterns=["*.csv"], on_missing="wait",
                                               wait_up_to="2h", poll_every="10m"))

    async def deliver():
        await clock.sleep(25 * 60)  # the file lands 25 minutes in
        touch(drop / "late.csv", clock.now())

    async with anyio.create_task_group() as tg:
        tg.start_soon(deliver)
        result, _ = await run(host, store, pipeline, clock)
    assert result.state == "succeeded"
    assert NotificationLog(store).list() == []
    assert clock.now() - FakeClock().now() == timedelta(minutes=30)  # the next look


async def test_wait_policy_gives_up_at_the_limit_and_applies_after_wait(host, store, tmp_path):
    (tmp_path / "empty").mkdir()
    stop = host.pipeline_from_data(checked(tmp_path / "empty", patterns=["*.csv"],
                                           on_missing="wait", wait_up_to="3h",
                                           poll_every="15m"))
    result, clock = await run(host, store, stop)
    assert result.state == "failed"
    assert clock.now() - FakeClock().now() == timedelta(hours=3)
    assert states(result) == {"check": "failed", "load": "skipped"}
    note = NotificationLog(store).list()[0]
    assert note.kind == "files.missing" and "after waiting 3 hours" in note.message
    go_on = host.pipeline_from_data(checked(tmp_path / "empty", patterns=["*.csv"],
                                            on_missing="wait", wait_up_to="1h",
                                            after_wait="continue"))
    result, _ = await run(host, store, go_on)
    assert result.state == "succeeded"


def test_file_check_problems_are_located(host):
    from orchestra_core import ConfigError

    data = checked("", patterns=[], on_missing="later")
    with pytest.raises(ConfigError) as err:
        host.pipeline_from_data(data)
    text = str(err.value)
    assert "$.tasks[0].parameters.on_missing" in text
    data = checked(" ", patterns=[])
    with pytest.raises(ConfigError) as err:
        host.pipeline_from_data(data)
    text = str(err.value)
    assert "$.tasks[0].parameters.directory: directory must not be empty" in text
    assert "$.tasks[0].parameters.patterns: give at least one non-empty glob pattern" in text


async def test_an_unknown_location_type_fails_the_check(host, store):
    pipeline = host.pipeline_from_data(checked("sftp://127.0.0.1/in", patterns=["*.csv"]))
    result, _ = await run(host, store, pipeline)
    assert result.state == "failed"
    rows = result.tasks
    assert "no location type handles sftp:// locations" in rows["check"]["error"]


# -- duration thresholds -------------------------------------------------------------------------


def slow(task_id, sleep, **extra):
    return {"id": task_id, "integration": "noop", "integration_job": "noop_run",
            "parameters": {"sleep": sleep}, **extra}


async def test_a_task_over_its_threshold_notifies_once_and_keeps_running(host, store):
    pipeline = host.pipeline_from_data({"name": "couriers", "tasks": [
        slow("courier", 3 * HOUR, alert_after="45m"),
        slow("quick", 10 * 60, alert_after="45m"),
        slow("after", 60, alert_after=30, depends_on=["quick"])]})
    start = FakeClock().now()
    result, clock = await run(host, store, pipeline)
    assert result.state == "succeeded"  # not stopped
    assert clock.now() == start + timedelta(hours=3)
    notes = NotificationLog(store).list()
    assert sorted((n.kind, n.data["task_id"]) for n in notes) == [
        ("task.runtime_exceeded", "after"), ("task.runtime_exceeded", "courier")]
    by_task = {n.data["task_id"]: n for n in notes}
    courier = by_task["courier"]
    assert courier.created_at == start + timedelta(minutes=45)
    assert courier.message == (f"pipeline 'couriers': task 'courier' of run {result.run_id} "
                               "has been running for more than 45 minutes (it goes on running)")
    assert courier.data["runtime_seconds"] == 45 * 60
    # 'after' started when 'quick' ended (10 min in) and passed 30 s at 10:30
    assert by_task["after"].created_at == start + timedelta(minutes=10, seconds=30)


async def test_threshold_alerts_go_to_the_named_channels(host, store):
    got = []

    class Recorder:
        def __init__(self, options=None):
            pass

        async def notify(self, note):
            got.append(note)

    from orchestra_core import hookimpl

    class Plugin:
        @staticmethod
        @hookimpl
        def orchestra_register_notification_channels(registry):
            registry.add("recorder", factory=Recorder, description="test")

    from orchestra_core import Orchestra

    host = Orchestra(plugins=[Plugin()], load_entrypoints=False)
    pipeline = host.pipeline_from_data({
        "name": "p", "alerts": {"on_task_runtime_exceeded": ["recorder"]},
        "tasks": [slow("courier", HOUR, alert_after="30m")]})
    await run(host, store, pipeline)
    assert [n.kind for n in got] == ["task.runtime_exceeded"]
    assert NotificationLog(store).list() == []  # named channels replace the stored default


def test_threshold_problems_are_located(host):
    from orchestra_core import ConfigError

    with pytest.raises(ConfigError) as err:
        host.pipeline_from_data({"name": "p", "tasks": [slow("a", 1, alert_after="soon")]})
    assert "$.tasks[0].alert_after" in str(err.value)
    with pytest.raises(ConfigError) as err:
        host.pipeline_from_data({"name": "p", "tasks": [slow("a", 1, alert_after=0)]})
    assert "$.tasks[0]: alert_after must be a duration > 0, got 0.0" in str(err.value)
