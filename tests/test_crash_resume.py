"""Kill a real ``orchestra run`` process with SIGKILL at random points, many times, resume it
each time, and check that nothing is lost or triggered twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestra_core._store import Store
from orchestra_core.testing.jobserver import JobServer

pytestmark = pytest.mark.slow

N = 16


def pipeline_text(url: str) -> str:
    lines = ["name: crashy", "stages:", "  - id: first", "    tasks: [" +
             ", ".join(f"t{i}" for i in range(N // 2)) + "]", "tasks:"]
    for i in range(N):
        deps = "[first]" if i >= N // 2 else "[]"
        lines += [
            f"  - id: t{i}",
            "    integration: http",
            "    integration_job: http_request",
            f"    depends_on: {deps}",
            "    parameters:",
            f"      base_url: {url}",
            "      method: POST",
            "      endpoint: /jobs",
            "      poll: {endpoint: '/jobs/{id}', field: status, success: [succeeded], "
            "failure: [failed], interval: 0.05, id_field: id}",
        ]
    return "\n".join(lines) + "\n"


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "orchestra_core", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_sigkill_at_random_points_loses_nothing_and_triggers_nothing_twice(tmp_path):
    rng = random.Random(1234)
    db = str(tmp_path / "o.db")
    with JobServer(duration=1.0) as server:
        (tmp_path / "p.yaml").write_text(pipeline_text(server.url))
        proc = start(["run", "p.yaml", "--db", db, "--progress", "plain"], tmp_path)
        first = proc.stdout.readline()
        assert first.startswith("run "), first
        run_id = first.split()[1]
        kills = 0
        while True:
            try:
                # interrupt at a random point, several times, then let it finish
                proc.wait(timeout=rng.uniform(0.2, 0.9) if kills < 8 else 120)
                break
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                kills += 1
                proc = start(["run", "--resume", run_id, "--db", db, "--progress", "plain"],
                             tmp_path)
            if kills > 40:
                pytest.fail("the run never finished")
        output = proc.stdout.read()
        assert proc.returncode == 0, output
        assert kills >= 3
        store = Store.open(db)
        run = store.get_run(run_id)
        tasks = [t for t in store.task_runs(run_id) if t["kind"] == "task"]
        assert run["state"] == "succeeded"
        assert {t["state"] for t in tasks} == {"succeeded"}
        assert all(t["attempt"] == 1 for t in tasks)
        # exactly one vendor job per task, and each task recorded the job it triggered
        assert server.created == N
        assert sorted(server.jobs_by_key) == sorted(f"{run_id}/t{i}/1" for i in range(N))
        assert {t["external_id"] for t in tasks} == set(server.jobs_by_key.values())
        time.sleep(0)
