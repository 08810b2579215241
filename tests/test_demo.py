"""The README demo: ``orchestra run examples/demo.yaml --simulate`` on a fresh directory runs
the whole stack against the vendor simulators (served on 127.0.0.1) and applies the stage
policy: the failing non-core Hightouch sync leaves its stage partial, and Amperity runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestra_core._store import Store

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_demo_runs_against_the_simulators(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FIVETRAN_", "DBT_CLOUD_", "CENSUS_", "HIGHTOUCH_", "AMPERITY_",
                                "ORCHESTRA_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "orchestra_core", "run", str(ROOT / "examples" / "demo.yaml"),
         "--simulate", "--simulate-duration", "0.5", "--progress", "plain"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for vendor in ("fivetran", "dbt", "census", "hightouch", "amperity"):
        assert f"{vendor} simulator on http://127.0.0.1:" in out
    assert "run records are in sqlite:///" in out
    store = Store.open(str(tmp_path / "orchestra.db"))
    try:
        run = store.list_runs()[0]
        assert run["state"] == "succeeded"
        tasks = {r["task_id"]: r for r in store.task_runs(run["id"])}
    finally:
        store.close()
    assert tasks["hightouch_leads"]["state"] == "failed"
    assert tasks["activate"]["outcome"] == "partial"  # non-core failure: partial, not failed
    assert tasks["ingest"]["outcome"] == "succeeded"
    assert tasks["amperity_segments"]["state"] == "succeeded"
    for task_id in ("sync_salesforce", "sync_postgres", "transform", "census_accounts",
                    "hightouch_accounts", "amperity_segments"):
        assert tasks[task_id]["state"] == "succeeded", task_id
        assert tasks[task_id]["meta"], task_id  # vendor metadata recorded
    assert tasks["transform"]["external_id"]
    # the simulators' credentials came in through environment variables of this process only
    assert "FIVETRAN_API_KEY" not in os.environ
