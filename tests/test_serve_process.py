"""``orchestra serve`` as a real process: on a fresh store it runs an applied example pipeline
on its schedule with no other command, serves /health, picks up a run interrupted by SIGKILL
on restart (without triggering its external job again), and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from orchestra_core._store import Store
from orchestra_core.testing.jobserver import JobServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def orchestra(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestra_core", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(db: str, port: int, cwd: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "orchestra_core", "serve", "--db", db,
                             "--host", "127.0.0.1", "--port", str(port)], cwd=cwd,
                            stdout=log.open("a"), stderr=subprocess.STDOUT)


def wait_for(check, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def test_serve_runs_on_schedule_and_resumes_after_sigkill(tmp_path):
    db = str(tmp_path / "o.db")
    log = tmp_path / "serve.log"
    # the example pipeline, its triggers replaced by a single trigger two seconds ahead
    example = yaml.safe_load((ROOT / "examples" / "scheduled.yaml").read_text())
    at = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    example["triggers"] = [{"id": "soon", "kind": "single", "at": at}]
    (tmp_path / "scheduled.yaml").write_text(yaml.safe_dump(example))
    with JobServer(duration=4.0) as server:
        (tmp_path / "slow.yaml").write_text(
            "name: slow\ntasks:\n  - id: job\n    integration: http\n"
            "    integration_job: http_request\n    parameters:\n"
            f"      base_url: {server.url}\n      method: POST\n      endpoint: /jobs\n"
            "      poll: {endpoint: '/jobs/{id}', field: status, success: [succeeded], "
            "failure: [failed], interval: 0.1, id_field: id}\n")
        applied = orchestra("pipelines", "apply", "scheduled.yaml", "slow.yaml", "--db", db,
                            cwd=tmp_path)
        assert applied.returncode == 0, applied.stderr
        port = free_port()
        proc = serve(db, port, tmp_path, log)
        try:
            store = Store.open(db)

            def scheduled_run_succeeded():
                runs = store.list_runs(pipeline="marts_refresh")
                return runs and runs[0]["state"] == "succeeded" and runs[0]

            run = wait_for(scheduled_run_succeeded, what="the scheduled run")
            assert run["trigger"] == "single:soon"
            health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
            assert health["status"] == "ok" and health["scheduler"]["enabled"] is True
            # a run in progress when the service is killed
            queued = orchestra("pipelines", "run", "slow", "--queue", "--db", db, cwd=tmp_path)
            run_id = queued.stdout.split()[1]

            def external_recorded():
                tasks = store.task_runs(run_id)
                return tasks[0]["external_id"]

            wait_for(external_recorded, what="the external job to start")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            assert store.get_run(run_id)["state"] == "running"
            proc = serve(db, port, tmp_path, log)
            wait_for(lambda: store.get_run(run_id)["state"] == "succeeded", timeout=40,
                     what="the interrupted run to finish")
            assert server.created == 1  # re-attached, not triggered again
            assert store.task_runs(run_id)[0]["attempt"] == 1
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert "trigger marts_refresh/soon (single) fired" in text
    assert f"resuming run {run_id}: interrupted" in text
    assert "received SIGTERM: shutting down gracefully" in text
    assert text.rstrip().endswith("stopped")
