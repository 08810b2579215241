"""The ``orchestra`` CLI: exit codes, human and JSON output, no tracebacks."""

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from orchestra_core import __version__
from orchestra_core.cli import cli

GOOD = "name: good\ntasks:\n  - {id: a, integration: noop, integration_job: noop_run}\n"
BAD = "name: bad\ntasks:\n  - {id: a, integration: noop, integration_job: noop_run, " \
      "depends_on: b}\n"


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), env=env)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert result.output == f"orchestra, version {__version__}\n"


def test_validate_ok(tmp_path):
    result = run("validate", write(tmp_path, "g.yaml", GOOD))
    assert result.exit_code == 0
    assert result.output == f"ok  {tmp_path / 'g.yaml'}: pipeline 'good' (1 task, 0 stages)\n"


def test_validate_problem_exit_1(tmp_path):
    good, bad = write(tmp_path, "g.yaml", GOOD), write(tmp_path, "b.yaml", BAD)
    result = run("validate", good, bad)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"ok  {good}: pipeline 'good' (1 task, 0 stages)",
        f"{bad}:3:71: $.tasks[0].depends_on[0]: depends on 'b', which is neither a task nor "
        "a stage of this pipeline",
    ]
    assert result.stderr == "1 problem in 1 file\n"


def test_validate_json(tmp_path):
    bad = write(tmp_path, "b.yaml", BAD)
    result = run("validate", "--json", bad)
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["valid"] is False
    assert out["files"][0]["problems"] == [{
        "file": bad, "line": 3, "column": 71, "path": "$.tasks[0].depends_on[0]",
        "code": "dangling-dependency",
        "message": "depends on 'b', which is neither a task nor a stage of this pipeline",
    }]


def test_validate_needs_a_file():
    result = run("validate")
    assert result.exit_code == 2
    assert "Missing argument 'FILES...'" in result.output


def test_validate_missing_file(tmp_path):
    result = run("validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1
    assert result.stdout == f"{tmp_path / 'nope.yaml'}: $: file not found\n"


def test_plugins_lists_distributions_versions_and_jobs():
    result = run("plugins")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert "http: orchestra-core 0.1.0 (built-in)" in lines
    assert "  http: http_request" in lines
    assert "fivetran: orchestra-fivetran 0.1.0" in lines
    assert "  fivetran: fivetran_sync_all" in lines


def test_plugins_json_and_blocking():
    result = run("--block", "fivetran", "plugins", "--json")
    names = {p["name"] for p in json.loads(result.output)}
    assert "fivetran" not in names
    assert {"http", "noop", "process", "dbt"} <= names


def test_no_plugins_env(tmp_path):
    result = run("plugins", "--json", env={"ORCHESTRA_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert {p["name"] for p in json.loads(result.output)} == {"delivery", "http", "noop",
                                                              "notifications", "process"}
    result = run("plugins", "--json", env={"ORCHESTRA_BLOCK_PLUGINS": "dbt, census"})
    names = {p["name"] for p in json.loads(result.output)}
    assert not names & {"dbt", "census"}


def test_no_traceback_for_user_errors(tmp_path):
    bad = write(tmp_path, "b.yaml", "name: [\n")
    proc = subprocess.run([sys.executable, "-m", "orchestra_core", "validate", bad],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"{bad}:2:1: $: invalid YAML")


def test_help_speaks_to_users():
    result = run("--help")
    assert result.exit_code == 0
    assert "validate" in result.output and "plugins" in result.output
