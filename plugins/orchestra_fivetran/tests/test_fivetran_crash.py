"""Kill a real ``orchestra run`` of Fivetran syncs with SIGKILL at random points, many times,
resume it each time, against the simulator as a real server: no sync is triggered twice and
every task finishes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from orchestra_fivetran.testing import FivetranSimulator

from orchestra_core import Store

pytestmark = pytest.mark.slow

N = 12


def pipeline_text() -> str:
    lines = ["name: fivetran_crashy", "stages:", "  - id: first",
             "    tasks: [" + ", ".join(f"sync{i}" for i in range(N // 2)) + "]", "tasks:"]
    for i in range(N):
        lines += [
            f"  - id: sync{i}",
            "    integration: fivetran",
            "    integration_job: fivetran_sync_all",
            f"    depends_on: {'[first]' if i >= N // 2 else '[]'}",
            f"    connector_id: conn_{i}",
            "    poll_interval: 0.05",
        ]
    return "\n".join(lines) + "\n"


def start(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "orchestra_core", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_sigkill_while_syncs_run_triggers_no_sync_twice(tmp_path):
    rng = random.Random(4321)
    db = str(tmp_path / "o.db")
    sim = FivetranSimulator(run_duration=0.6, connectors=[f"conn_{i}" for i in range(N)])
    with sim.serve() as url:
        env = {**os.environ, **sim.env(url)}
        (tmp_path / "p.yaml").write_text(pipeline_text())
        proc = start(["run", "p.yaml", "--db", db, "--progress", "plain"], tmp_path, env)
        first = proc.stdout.readline()
        assert first.startswith("run "), first + proc.stdout.read()
        run_id = first.split()[1]
        kills = 0
        while True:
            try:
                proc.wait(timeout=rng.uniform(0.2, 0.9) if kills < 8 else 120)
                break
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                kills += 1
                proc = start(["run", "--resume", run_id, "--db", db, "--progress", "plain"],
                             tmp_path, env)
            if kills > 40:
                pytest.fail("the run never finished")
        output = proc.stdout.read()
        assert proc.returncode == 0, output
        assert kills >= 3
        counters = {cid: (c.triggers, c.syncs) for cid, c in sim.state.connectors.items()}
    assert counters == {f"conn_{i}": (1, 1) for i in range(N)}, counters
    store = Store.open(db)
    try:
        tasks = [t for t in store.task_runs(run_id) if t["kind"] == "task"]
        assert store.get_run(run_id)["state"] == "succeeded"
        assert {t["state"] for t in tasks} == {"succeeded"}
        assert all(t["attempt"] == 1 for t in tasks)
        assert {t["meta"]["connection_id"] for t in tasks} == {f"conn_{i}" for i in range(N)}
    finally:
        store.close()


def test_sigkill_between_intent_and_trigger_answer_triggers_each_sync_once(tmp_path):
    """SIGKILL while every trigger request is in flight, its intent committed: Fivetran never
    handled two of them (the resumed run triggers those) and handled the third, whose answer
    was lost (the resumed run adopts that sync). Each connection syncs exactly once."""
    import time

    from orchestra_core.testing import Failure

    db = str(tmp_path / "o.db")
    n, handled = 3, {"conn_1"}
    sim = FivetranSimulator(run_duration=0.5, connectors=[f"conn_{i}" for i in range(n)])
    for cid in sim.state.connectors:
        sim.fail("POST", f"/v1/connections/{cid}/sync",
                 Failure.timeout(processed=cid in handled), times=None)
    with sim.serve() as url:
        env = {**os.environ, **sim.env(url)}
        (tmp_path / "p.yaml").write_text("name: held\ntasks:\n" + "".join(
            f"  - {{id: s{i}, integration: fivetran, integration_job: fivetran_sync_all, "
            f"connector_id: conn_{i}, poll_interval: 0.05}}\n" for i in range(n)))
        proc = start(["run", "p.yaml", "--db", db, "--progress", "plain"], tmp_path, env)
        run_id = proc.stdout.readline().split()[1]
        deadline = time.monotonic() + 60
        while sim.count("POST", "/v1/connections/*/sync") < n:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        store = Store.open(db)
        try:  # every intent was committed before its trigger left
            assert all(t["intent"] for t in store.task_runs(run_id) if t["kind"] == "task")
        finally:
            store.close()
        assert {cid: c.triggers for cid, c in sim.state.connectors.items()} == {
            f"conn_{i}": int(f"conn_{i}" in handled) for i in range(n)}
        sim.clear_failures()
        proc = start(["run", "--resume", run_id, "--db", db, "--progress", "plain"], tmp_path,
                     env)
        output = proc.communicate(timeout=120)[0]
        assert proc.returncode == 0, output
        counters = {cid: (c.triggers, c.syncs) for cid, c in sim.state.connectors.items()}
    assert counters == {f"conn_{i}": (1, 1) for i in range(n)}, counters
    assert output.count("recovered the external run") == len(handled), output
