"""``orchestra simulate``: list, errors, and a real server started and stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from orchestra_core import Orchestra
from orchestra_core.cli import cli

from ._acme import TOKEN, AcmePlugin

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _acme_host(monkeypatch):
    """The CLI's host: the built-ins and the Acme example plugin only."""
    import orchestra_core.cli._simulate as module

    host = Orchestra(plugins=[AcmePlugin()], load_entrypoints=False)
    monkeypatch.setattr(module, "host_of", lambda ctx: host)


class FixedDuration:
    """A simulator whose runs always take the same time."""

    def serve(self, port: int = 0):
        raise AssertionError("not reached")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_list_shows_integrations_with_a_simulator():
    result = invoke("simulate", "--list")
    assert result.exit_code == 0, result.output
    assert "acme             tests._acme:AcmeSimulator" in result.output
    assert "http" not in result.output
    as_json = invoke("simulate", "--list", "--json")
    assert json.loads(as_json.output) == [
        {"integration": "acme", "simulator": "tests._acme:AcmeSimulator"},
        {"integration": "orchestration",
         "simulator": "orchestra_core.testing._simulator._receiver:DeliverySimulator"}]


@pytest.mark.parametrize(("args", "message"), [
    (("simulate", "nope"),
     "unknown integration 'nope' (integrations with a simulator: acme, orchestration)"),
    (("simulate", "http"), "integration 'http' has no simulator"),
    (("simulate", "no.such.module:Sim"), "cannot import simulator module 'no.such.module'"),
    (("simulate", "tests._acme:Nope"), "module 'tests._acme' has no simulator 'Nope'"),
    (("simulate", "orchestra_core.testing.jobserver:JobServer"), "it has no serve() method"),
    (("simulate", "tests.test_simulator_cli:FixedDuration", "--duration", "1"),
     "does not take a run duration"),
    (("simulate", "acme", "--webhook-url", "https://example.com/hook"),
     "only delivers webhooks to this machine"),
    (("simulate",), "give the integration to simulate"),
])
def test_mistakes_get_one_clear_message(args, message):
    result = invoke(*args)
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_simulate_runs_a_real_server_until_stopped():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestra_core", "--no-plugins", "simulate",
         "tests._acme:AcmeSimulator", "--json", "--duration", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        info = json.loads(line)
        assert info["integration"] == "acme" and info["credentials"] == {"token": TOKEN}
        assert info["url"].startswith("http://127.0.0.1:") and info["url"].endswith("/api")
        with httpx.Client(base_url=info["url"], timeout=5) as http:
            ok = http.post("/jobs/a/runs", headers={"Authorization": f"Bearer {TOKEN}"})
            denied = http.get("/runs/1", headers={"Authorization": "Bearer wrong"})
        assert ok.status_code == 200 and ok.json()["state"] == "queued"
        assert denied.status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
