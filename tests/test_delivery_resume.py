"""Kill-and-resume, per destination type: ``orchestra run`` is SIGKILLed mid-delivery and
resumed with ``orchestra run --resume``; every row arrives exactly once. Plus the demo."""

import gzip
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestra_core.testing._simulator._receiver import DeliverySimulator, make_demo_database

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ORCHESTRA = [sys.executable, "-m", "orchestra_core"]
ROWS = 3000


def pipeline(tmp_path, destination, template="{}"):
    path = tmp_path / "p.yaml"
    path.write_text(f"""
name: resume_{destination['type']}
tasks:
  - id: deliver
    integration: orchestration
    integration_job: orchestration_run
    parameters:
      source:
        url: ${{env.DEMO_DB}}
        query: SELECT id, customer, email FROM orders ORDER BY id
        batch_size: 50
      template: {template}
      destination: {destination}
""")
    return path


def kill_and_resume(tmp_path, path, ready, env_extra):
    env = {**os.environ, "DEMO_DB": make_demo_database(tmp_path / "demo.db", ROWS),
           "ORCHESTRA_HOME": str(tmp_path), **env_extra}
    db = str(tmp_path / "o.db")
    proc = subprocess.Popen([*ORCHESTRA, "run", str(path), "--db", db], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run_id = None
    deadline = time.monotonic() + 60
    while run_id is None:
        line = proc.stdout.readline()
        if line.startswith("run ") and "started" in line:
            run_id = line.split()[1]
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the delivery finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = subprocess.run([*ORCHESTRA, "run", "--resume", run_id, "--db", db], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout


def test_filedrop_kill_and_resume(tmp_path):
    drop = tmp_path / "drop"
    path = pipeline(tmp_path, {"type": "filedrop", "options": {"directory": str(drop),
                                                               "create": True}},
                    "{compression: gzip, header: false, max_rows_per_file: 20}")
    kill_and_resume(tmp_path, path,
                    lambda: drop.exists() and len(list(drop.glob("*.gz"))) >= 10, {})
    ids = []
    for f in drop.iterdir():
        assert not f.name.endswith(".part"), f"partial file {f.name} is visible"
        ids += [int(line.split(",")[0]) for line in gzip.decompress(f.read_bytes())
                .decode().splitlines()]
    assert sorted(ids) == list(range(1, ROWS + 1))


def test_http_kill_and_resume(tmp_path):
    sim = DeliverySimulator()
    with sim.serve() as url:
        path = pipeline(tmp_path, {"type": "http", "options": {
            "url": f"{url}/records", "batch_size": 10, "rate_limit": 100,
            "headers": {"Authorization": f"Bearer {sim.token}"}}})
        kill_and_resume(tmp_path, path, lambda: len(sim.records) >= 300, {})
    ids = [r["id"] for r in sim.records]
    assert len(ids) == len(set(ids)), "a batch was delivered twice"
    assert sorted(ids) == [i for i in range(1, ROWS + 1) if i % 50]  # empty emails rejected


def test_sql_kill_and_resume(tmp_path):
    """Killed inside the load's transaction: nothing of it stays; the resume loads all."""
    warehouse = tmp_path / "warehouse.db"
    path = pipeline(tmp_path, {"type": "sql", "options": {
        "url": f"sqlite:///{warehouse}", "table": "orders", "mode": "append"}})
    journal = tmp_path / "warehouse.db-journal"  # exists while the load's transaction is open
    kill_and_resume(tmp_path, path, journal.exists, {})
    with sqlite3.connect(warehouse) as db:
        ids = [r[0] for r in db.execute("SELECT id FROM orders")]
    assert sorted(ids) == list(range(1, ROWS + 1))


def test_demo_runs_with_simulate(tmp_path):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    done = subprocess.run([*ORCHESTRA, "run", "examples/delivery.yaml", "--simulate",
                           "--db", str(tmp_path / "o.db")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "ORCHESTRA_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "delivered 250 rows in 5 file(s)" in done.stdout
    assert "82 rows" in done.stdout and "1 rejected" in done.stdout
    with sqlite3.connect(tmp_path / "delivery-out" / "warehouse.db") as db:
        assert db.execute("SELECT count(*) FROM orders").fetchone()[0] == 167
    listed = subprocess.run([*ORCHESTRA, "orchestrations", "list", "--db",
                             str(tmp_path / "o.db")], capture_output=True, text=True)
    assert "orders_to_api" in listed.stdout and "succeeded" in listed.stdout
    refresh = subprocess.run([*ORCHESTRA, "run", "examples/delivery.yaml", "--simulate",
                              "--run-type", "refresh", "--db", str(tmp_path / "o2.db")],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert refresh.returncode == 0 and "delivered" not in refresh.stdout  # never delivers
