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
