"""``orchestra run``, ``runs``, ``logs`` and the Python API, end to end on the built-ins."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestra_core import Orchestra
from orchestra_core.cli import cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCHESTRA_DB", str(tmp_path / "o.db"))
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def last_run_id() -> str:
    return json.loads(invoke("runs", "list", "--json").output)[0]["id"]


def test_demo_pipeline_does_what_the_file_says(workdir):
    result = invoke("run", "examples/builtins_demo.yaml", "--progress", "plain")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("run ") and lines[0].endswith("started (store: sqlite:///"
                                                             f"{workdir / 'o.db'})")
    assert lines[-2].endswith(" succeeded")
    shown = json.loads(invoke("runs", "show", last_run_id(), "--json").output)
    tasks = {t["task_id"]: t for t in shown["tasks"]}
    assert {k: (t["state"], t["attempt"]) for k, t in tasks.items()} == {
        "extract_orders": ("succeeded", 1),
        "extract_invoices": ("succeeded", 2),        # retried once
        "extract_flaky": ("failed", 1),              # non-core: the stage goes on
        "extract": ("succeeded", 1),
        "reconcile": ("succeeded", 1),
        "slow_report": ("timed_out", 1),             # timeout: 2s
        "reporting": ("succeeded", 1),
        "alert_on_failure": ("succeeded", 1),        # condition: on_failure
        "publish": ("skipped", 0),                   # its dependency did not succeed
    }
    assert tasks["extract"]["outcome"] == "partial"
    assert tasks["slow_report"]["error"] == "timed out after 2s"
    # the blocking process ran alone: it started after every extract task had ended
    assert tasks["reconcile"]["started_at"] >= max(
        tasks[t]["ended_at"] for t in ("extract_orders", "extract_invoices", "extract_flaky"))
    logs = invoke("logs", "--task", "extract_orders").output
    assert "transformed row 1" in logs and "transformed row 2" in logs
    errors = invoke("logs", "--level", "error", "--json").output
    assert {e["task_id"] for e in json.loads(errors)} >= {"extract_flaky", "slow_report"}


def test_failed_run_exits_1_and_is_listed(workdir):
    (workdir / "f.yaml").write_text("name: f\ntasks:\n  - {id: a, integration: noop, "
                                    "integration_job: noop_run, parameters: {fail: true}}\n")
    result = invoke("run", "f.yaml", "--progress", "none")
    assert result.exit_code == 1
    assert "failed: tasks failed: a" in result.output
    listed = invoke("runs", "list").output
    assert " f " in listed and "failed" in listed


def test_run_needs_file_or_resume(workdir):
    result = invoke("run")
    assert result.exit_code == 2
    assert "give a pipeline FILE, or --resume RUN_ID" in result.output


def test_invalid_pipeline_is_one_clear_error(workdir):
    (workdir / "bad.yaml").write_text("name: b\ntasks: [{id: a, integration: x, "
                                      "integration_job: y}]\n")
    result = invoke("run", "bad.yaml")
    assert result.exit_code == 1
    assert result.output.startswith("Error: bad.yaml: 1 problem\nbad.yaml:2:30: "
                                    "$.tasks[0].integration: unknown integration 'x'")


def test_unknown_run_id(workdir):
    invoke("run", "examples/quickstart.yaml", "--progress", "none")
    result = invoke("runs", "show", "nope")
    assert result.exit_code == 1
    assert result.output == "Error: no run with id 'nope'\n"


def test_resume_of_a_finished_run_reports_it(workdir):
    invoke("run", "examples/quickstart.yaml", "--progress", "none")
    run_id = last_run_id()
    result = invoke("run", "--resume", run_id[:8], "--progress", "none")
    assert result.exit_code == 0
    assert f"run {run_id} succeeded" in result.output
    assert invoke("runs", "cancel", run_id).output == f"run {run_id} already ended: succeeded\n"


def test_python_api_sync(workdir):
    host = Orchestra(load_entrypoints=False)
    result = host.run_sync("examples/quickstart.yaml", db=str(workdir / "api.db"),
                           run_type="source")
    assert result.succeeded
    # quickstart has no ingestion task, so a source run skips everything
    assert {t["state"] for t in result.tasks.values()} == {"skipped"}


async def test_python_api_async(workdir):
    host = Orchestra(load_entrypoints=False)
    seen = []
    result = await host.run("examples/quickstart.yaml", db=str(workdir / "api.db"),
                            on_transition=seen.append)
    assert result.state == "succeeded"
    assert [t.task_id for t in seen if t.state.value == "succeeded"] == [
        "wait_for_source", "transform", "report"]


def test_limit_option(workdir):
    bad = invoke("run", "examples/quickstart.yaml", "--limit", "noop")
    assert bad.exit_code == 2
    assert "expected INTEGRATION=N with N >= 1, got 'noop'" in bad.output
    ok = invoke("run", "examples/quickstart.yaml", "--limit", "noop=1", "--progress", "none")
    assert ok.exit_code == 0


def test_limit_names_an_installed_integration(workdir):
    bad = invoke("--no-plugins", "run", "examples/quickstart.yaml", "--limit", "nosuch=1")
    assert bad.exit_code == 2
    assert ("unknown integration 'nosuch'; installed: http, noop, orchestration, process"
            in bad.output)
    ok = invoke("run", "examples/quickstart.yaml", "--limit", "SDK=2", "--progress", "none")
    assert ok.exit_code == 0
