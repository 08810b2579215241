"""Seed 002's blocking processes and named resources, across workers.

- ``blocking: true`` holds across every worker on the host: two ``orchestra run`` processes
  (separate stores, even) exclude each other through the host-wide lock files;
- ``resource: NAME`` is a mutex across every worker of a store: two engines on one store,
  a lease that expires when its holder was killed without releasing it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from orchestra_core._engine import Engine
from orchestra_core._resources import holders, try_take
from orchestra_core._store import Store, utc
from orchestra_core.testing import FakeClock

posix_only = pytest.mark.skipif(os.name != "posix", reason="flock(2) host locks")

TIMED = """\
import sys, time
name, seconds, record = sys.argv[1].split(",")
with open(record, "a") as f:
    f.write(f"{name} start {time.time()}\\n")
time.sleep(float(seconds))
with open(record, "a") as f:
    f.write(f"{name} end {time.time()}\\n")
"""

PIPELINE = """\
name: {name}
tasks:
  - id: job
    integration: process
    integration_job: process_run
    parameters:
      path: {script}
      arguments: "{name},{seconds},{record}"
      blocking: {blocking}
"""


def spans(record: Path) -> dict[str, tuple[float, float]]:
    times: dict[str, dict[str, float]] = {}
    for line in record.read_text().splitlines():
        name, what, when = line.split()
        times.setdefault(name, {})[what] = float(when)
    return {name: (t["start"], t["end"]) for name, t in times.items()}


def worker(tmp_path: Path, name: str, seconds: float, blocking: bool) -> subprocess.Popen:
    """``orchestra run`` of a one-process pipeline, as its own OS process and store."""
    script = tmp_path / "timed.py"
    script.write_text(TIMED)
    path = tmp_path / f"{name}.yaml"
    path.write_text(PIPELINE.format(name=name, script=script, seconds=seconds,
                                    record=tmp_path / "record.txt",
                                    blocking=str(blocking).lower()))
    return subprocess.Popen(
        [sys.executable, "-m", "orchestra_core", "--no-plugins", "run", str(path), "--db",
         str(tmp_path / f"{name}.db"), "--progress", "none"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))


def started(record: Path, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if record.exists() and f"{name} start" in record.read_text():
            return
        time.sleep(0.02)
    raise AssertionError(f"{name} never started")


@posix_only
def test_a_blocking_process_holds_back_another_worker_on_the_host(tmp_path):
    """Two ``orchestra run`` processes, each with its own store: the second one's process
    starts only once the first one's blocking process has exited."""
    record = tmp_path / "record.txt"
    first = worker(tmp_path, "first", 1.0, True)
    started(record, "first")
    second = worker(tmp_path, "second", 0.1, False)
    for proc in (first, second):
        out, _ = proc.communicate(timeout=90)
        assert proc.returncode == 0, out.decode()
    got = spans(record)
    assert got["second"][0] >= got["first"][1], got


async def run_process(runner, name, seconds, blocking, record, script):
    from orchestra_core._builtins.process import ProcessParameters
    from orchestra_core.testing import StubContext

    ctx = StubContext(ProcessParameters(path=str(script), arguments=f"{name},{seconds},{record}",
                                        blocking=blocking))
    result = await runner.wait(ctx, await runner.start(ctx))
    assert result.state.value == "succeeded", result
    return ctx


@posix_only
@pytest.mark.parametrize("first_blocks,second_blocks",
                         [(True, False), (False, True), (True, True), (False, False)])
async def test_two_runners_share_the_host_lock(tmp_path, first_blocks, second_blocks):
    """Two workers' process runners (each with its own in-process lock): the host lock keeps
    a blocking process alone; non-blocking ones run side by side."""
    from orchestra_core._builtins._process_runner import ProcessRunner

    script = tmp_path / "timed.py"
    script.write_text(TIMED)
    record = tmp_path / "record.txt"
    first_runner, second_runner = ProcessRunner(), ProcessRunner()
    contexts = {}

    async def go(name, runner, seconds, blocking):
        contexts[name] = await run_process(runner, name, seconds, blocking, record, script)

    async with anyio.create_task_group() as tg:
        tg.start_soon(go, "first", first_runner, 0.6, first_blocks)
        with anyio.fail_after(20):
            while not (record.exists() and "first start" in record.read_text()):
                await anyio.sleep(0.01)
        tg.start_soon(go, "second", second_runner, 0.1, second_blocks)
    got = spans(record)
    if first_blocks or second_blocks:
        assert got["second"][0] >= got["first"][1], got
        said = [m for _, m in contexts["second"].logs if "another worker" in m
                or "other workers" in m]
        assert said, contexts["second"].logs
    else:
        assert got["second"][0] < got["first"][1], got


# -- named resources ---------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    s = Store.open(str(tmp_path / "shared.db"))
    yield s
    s.close()


def pipeline(host, name, resource, minutes):
    return host.pipeline_from_data({"name": name, "tasks": [
        {"id": "load", "integration": "noop", "integration_job": "noop_run",
         "resource": resource, "parameters": {"sleep": minutes * 60}}]})


def window(result):
    row = result.tasks["load"]
    return utc(row["started_at"]), utc(row["ended_at"])


async def test_a_named_resource_is_a_mutex_across_two_engines_on_one_store(host, store):
    from orchestra_core import Orchestra

    clock = FakeClock()
    other_host = Orchestra(load_entrypoints=False)  # a second worker: its own host and engine
    engines = [Engine(host, store, clock=clock, cancel_poll=3600),
               Engine(other_host, store, clock=clock, cancel_poll=3600)]
    results = {}

    async def run(i, name, resource, minutes):
        results[name] = await engines[i].run(pipeline(engines[i].host, name, resource,
                                                      minutes))

    async with clock.driving(), anyio.create_task_group() as tg:
        tg.start_soon(run, 0, "a", "warehouse", 10)
        tg.start_soon(run, 1, "b", "warehouse", 5)
        tg.start_soon(run, 1, "c", "crm", 5)  # another resource: not held back
    assert {n: r.state for n, r in results.items()} == dict.fromkeys("abc", "succeeded")
    a, b, c = (window(results[n]) for n in "abc")
    first, second = sorted([a, b])
    assert second[0] >= first[1]  # one after the other, whichever won
    assert c[0] < first[1]
    assert holders(store) == []  # every lease released
    waiter = results["b"] if b[0] >= a[1] else results["a"]
    logs = [e["message"] for e in store.logs(run_id=waiter.run_id)]
    assert "waiting for resource 'warehouse', held by another task" in logs


async def test_a_killed_holder_blocks_only_until_its_lease_expires(host, store):
    clock = FakeClock()
    # a worker took the resource, then was killed: its lease runs out 45 s from now
    assert try_take(store, "warehouse", "dead-holder", clock.now() - timedelta(seconds=15),
                    owner="gone:1")
    assert not try_take(store, "warehouse", "someone", clock.now())
    async with clock.driving():
        result = await Engine(host, store, clock=clock, cancel_poll=3600).run(
            pipeline(host, "p", "warehouse", 1))
    assert result.state == "succeeded"
    began, _ = window(result)
    assert timedelta(seconds=45) <= began - FakeClock().now() <= timedelta(seconds=46)


async def test_a_long_task_renews_its_lease(host, store):
    clock = FakeClock()
    seen = []

    async def look():
        await clock.sleep(30 * 60)  # half an hour into a one-hour task
        seen.extend(holders(store))

    async with clock.driving(), anyio.create_task_group() as tg:
        tg.start_soon(look)
        await Engine(host, store, clock=clock, cancel_poll=3600).run(
            pipeline(host, "p", "warehouse", 60))
    assert [r["name"] for r in seen] == ["warehouse"]
    assert utc(seen[0]["expires_at"]) > FakeClock().now() + timedelta(minutes=30)
    assert not try_take(store, "warehouse", "x", FakeClock().now()) or holders(store)


def test_resource_names_are_checked(host):
    from orchestra_core import ConfigError

    with pytest.raises(ConfigError) as err:
        pipeline(host, "p", " warehouse", 1)
    assert "resource must be a name of 1 to 100 characters" in str(err.value)
