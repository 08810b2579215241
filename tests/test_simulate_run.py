"""``orchestra run --simulate`` hands the simulators' settings to the run: the process
environment is neither read for them nor changed, during the run or after it. Needs the
Fivetran plugin (a workspace member)."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from orchestra_core._secrets import _resolve
from orchestra_core.cli import cli

VENDOR_PREFIXES = ("FIVETRAN_", "DBT_CLOUD_", "CENSUS_", "HIGHTOUCH_", "AMPERITY_")

PIPELINE = """\
name: simulated
tasks:
  - id: sync
    integration: fivetran
    integration_job: fivetran_sync_all
    parameters: {connectionid: ambush_prettiest, poll_interval: 0.1}
"""


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    """No vendor variable in os.environ, and the store in *tmp_path*."""
    for key in list(os.environ):
        if key.startswith(VENDOR_PREFIXES) or key.startswith("ORCHESTRA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCHESTRA_DB", str(tmp_path / "o.db"))
    return tmp_path


def test_simulated_run_succeeds_without_touching_os_environ(clean_env, monkeypatch):
    (clean_env / "p.yaml").write_text(PIPELINE)
    before = dict(os.environ)
    seen: list[tuple[dict[str, str], str | None]] = []
    real = _resolve.connection_from_env

    def watching(spec, environ=None, *, redactor):
        seen.append((dict(os.environ), environ.get("FIVETRAN_BASE_URL") if environ else None))
        return real(spec, environ, redactor=redactor)

    monkeypatch.setattr(_resolve, "connection_from_env", watching)
    result = CliRunner().invoke(cli, ["run", "p.yaml", "--simulate", "--simulate-duration",
                                      "0.1", "--progress", "plain"])
    assert result.exit_code == 0, result.output
    assert "fivetran simulator on http://127.0.0.1:" in result.output
    assert dict(os.environ) == before  # after the run
    assert seen, "the run never looked for a quick-start connection"
    for during, base_url in seen:
        assert during == before  # during the run
        assert base_url is not None and base_url.startswith("http://127.0.0.1:")
    shown = CliRunner().invoke(cli, ["runs", "list", "--json"])
    assert json.loads(shown.output)[0]["state"] == "succeeded"
