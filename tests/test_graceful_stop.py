"""SIGTERM to ``orchestra run`` (a real process) while a ``process`` task runs: no new task
starts, the process gets ``--grace`` seconds, then is stopped (never left unsupervised) and
recorded as interrupted, retried on resume only if its retries allow; the resumed run keeps
its ``started_at``. ``orchestra serve`` drains the same way (in-process, fake clock)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from orchestra_core import Orchestra
from orchestra_core._service import Service
from orchestra_core._store import Store

pytestmark = pytest.mark.slow

SCRIPT = """\
import os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
attempt = os.environ["ORCHESTRA_ATTEMPT"]
with open(os.path.join(here, f"pid-{attempt}"), "w") as f:
    f.write(str(os.getpid()))
time.sleep(float(os.environ["SLEEP_" + attempt]))
"""


def pipeline(tmp_path: Path, *, retries: int, sleeps: dict[int, float]) -> Path:
    (tmp_path / "work.py").write_text(SCRIPT)
    env = ", ".join(f'SLEEP_{n}: "{s}"' for n, s in sleeps.items())
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: graceful
        tasks:
          - id: work
            integration: process
            integration_job: process_run
            retries: {{count: {retries}, delay: 0}}
            parameters: {{path: {tmp_path / 'work.py'}, env: {{{env}}}}}
          - id: after
            integration: noop
            integration_job: noop
            depends_on: [work]
        """))
    return path


def start(tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "orchestra_core", "--no-plugins", "run",
                             *args, "--progress", "plain", "--db", str(tmp_path / "o.db")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def wait_for_file(path: Path, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.05)
    pytest.fail(f"{path} never appeared")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def records(tmp_path: Path) -> tuple[dict, dict]:
    store = Store.open(str(tmp_path / "o.db"))
    try:
        run = store.list_runs(limit=1)[0]
        full = store.get_run(run["id"])
        tasks = {t["task_id"]: t for t in store.task_runs(run["id"])}
    finally:
        store.close()
    return full, tasks


def sigterm_during_work(tmp_path: Path, *, retries: int, sleeps: dict[int, float],
                        grace: float) -> tuple[subprocess.CompletedProcess, int, float]:
    proc = start(tmp_path, str(pipeline(tmp_path, retries=retries, sleeps=sleeps)),
                 "--grace", str(grace))
    pid = wait_for_file(tmp_path / "pid-1")
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    return subprocess.CompletedProcess(proc.args, proc.returncode, out), pid, took


def resume(tmp_path: Path, run_id: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestra_core", "--no-plugins", "run",
                           "--resume", run_id, "--progress", "plain", "--db",
                           str(tmp_path / "o.db")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)


def test_a_process_outliving_the_grace_is_stopped_and_fails_without_retries(tmp_path):
    result, pid, took = sigterm_during_work(tmp_path, retries=0, sleeps={1: 60}, grace=0.5)
    assert result.returncode == 143, result.stdout
    assert "stopped by SIGTERM; resume it with: orchestra run --resume" in result.stdout
    assert took < 15
    assert not alive(pid)  # stopped, not left running unsupervised
    run, tasks = records(tmp_path)
    assert run["state"] == "running" and run["owner"] is None  # left to be resumed
    started = run["started_at"]
    work = tasks["work"]
    assert work["state"] == "failed"
    assert work["error"] == "interrupted: Orchestra stopped while the process ran, and " \
                            "stopped it"
    assert tasks["after"]["state"] == "skipped"  # its dependency failed

    resumed = resume(tmp_path, run["id"])
    assert resumed.returncode == 1, resumed.stdout
    run, tasks = records(tmp_path)
    assert run["state"] == "failed"
    assert run["started_at"] == started  # the first start is kept
    assert "will be retried" not in tasks["work"]["error"]
    assert tasks["work"]["attempt"] == 1
    assert not (tmp_path / "pid-2").exists()  # not run again


def test_an_interrupted_process_is_retried_on_resume_when_retries_allow(tmp_path):
    result, pid, _ = sigterm_during_work(tmp_path, retries=1, sleeps={1: 60, 2: 0},
                                         grace=0.3)
    assert result.returncode == 143, result.stdout
    assert not alive(pid)
    run, tasks = records(tmp_path)
    assert tasks["work"]["state"] == "up_for_retry"
    assert tasks["work"]["error"].startswith("interrupted:")
    resumed = resume(tmp_path, run["id"])
    assert resumed.returncode == 0, resumed.stdout
    run, tasks = records(tmp_path)
    assert run["state"] == "succeeded"
    assert (tasks["work"]["state"], tasks["work"]["attempt"]) == ("succeeded", 2)
    assert tasks["after"]["state"] == "succeeded"


async def serve_until_stopped(tmp_path: Path, sleep: float, grace: float) -> tuple[Store, int]:
    """A service running pipeline ``svc`` (``work``, a process sleeping *sleep* s, then
    ``after``), stopped once the process runs; returns the store and the process id."""
    from orchestra_core._scheduling.registry import PipelineRegistry

    (tmp_path / "work.py").write_text(SCRIPT)
    store = Store.open(str(tmp_path / "o.db"))
    host = Orchestra(load_entrypoints=False)
    registry = PipelineRegistry(store)
    registry.apply(host.pipeline_from_data({"name": "svc", "tasks": [
        {"id": "work", "integration": "process", "integration_job": "process_run",
         "parameters": {"path": str(tmp_path / "work.py"), "env": {"SLEEP_1": str(sleep)}}},
        {"id": "after", "integration": "noop", "integration_job": "noop",
         "depends_on": ["work"]}]}))
    registry.queue_run("svc")
    svc = Service(host, store, http_host=None, poll=0.05, grace=grace)
    async with anyio.create_task_group() as tg:
        await tg.start(svc.run)
        while not (tmp_path / "pid-1").exists() or not (tmp_path / "pid-1").read_text():
            await anyio.sleep(0.05)
        pid = int((tmp_path / "pid-1").read_text())
        svc.stop()
    return store, pid


def tasks_of(store: Store) -> tuple[dict, dict]:
    run = store.get_run(store.list_runs(limit=1)[0]["id"])
    return run, {t["task_id"]: t for t in store.task_runs(run["id"])}


@pytest.mark.anyio
async def test_serve_stops_a_process_outliving_the_grace(tmp_path):
    store, pid = await serve_until_stopped(tmp_path, sleep=60, grace=0.3)
    assert not alive(pid)
    run, tasks = tasks_of(store)
    assert tasks["work"]["state"] == "failed" and "interrupted" in tasks["work"]["error"]
    assert run["owner"] is None and run["state"] == "running"  # left to be resumed
    store.close()


@pytest.mark.anyio
async def test_serve_lets_a_process_finish_within_the_grace_and_starts_nothing_new(tmp_path):
    store, _ = await serve_until_stopped(tmp_path, sleep=1.0, grace=30)
    run, tasks = tasks_of(store)
    assert tasks["work"]["state"] == "succeeded"
    assert tasks["after"]["state"] == "pending"  # not started while stopping
    assert run["owner"] is None and run["state"] == "running"
    store.close()


@pytest.fixture
def anyio_backend():
    return "asyncio"


def test_grace_default_matches_the_engine():
    from orchestra_core._engine._facade import DEFAULT_GRACE
    from orchestra_core.cli._graceful import DEFAULT_GRACE as CLI_DEFAULT

    assert CLI_DEFAULT == DEFAULT_GRACE
