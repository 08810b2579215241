"""What a plugin author meets first: parameter aliases match in any case, a validator's
error is located at its field, and ``--simulate`` shortens every runner's polling."""

from __future__ import annotations

import os
import time

import attrs
import pytest
from attrs import frozen
from click.testing import CliRunner

from orchestra_core import hookimpl, parameter
from orchestra_core.cli import cli
from orchestra_core.testing import make_host, validate


def positive(instance, attribute, value):
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


@frozen(kw_only=True)
class Params:
    """Parameters of the test job."""

    connection_id: str = parameter(aliases=("connectionid",), help="the connection")
    batch: int = parameter(default=1, validator=positive, help="rows per batch")
    mode: str = parameter(default="a", validator=[attrs.validators.in_(("a", "b"))],
                          help="a or b")


class Plugin:
    @hookimpl
    def orchestra_register_integrations(self, registry):
        registry.integration("acme", description="d").job(
            "acme_job", parameters=Params, description="d")


def check(parameters):
    host = make_host(Plugin())
    return validate(host, {"name": "p", "tasks": [{
        "id": "t", "integration": "acme", "integration_job": "acme_job",
        "parameters": parameters}]})


@pytest.mark.parametrize("key", ["connectionid", "connectionId", "CONNECTIONID",
                                 "connection_id", "Connection_ID"])
def test_parameter_names_and_aliases_match_in_any_case(key):
    assert check({key: "c1"}) == []


def test_two_spellings_of_one_parameter_are_refused():
    problems = check({"connectionId": "c1", "connection_id": "c2"})
    assert len(problems) == 1 and "given more than once" in problems[0]


def test_a_validator_error_is_located_at_its_field():
    assert check({"connectionid": "c", "batch": 0}) == [
        "$.tasks[0].parameters.batch: batch must be positive, got 0"]
    (problem,) = check({"connectionid": "c", "mode": "z"})
    assert problem.startswith("$.tasks[0].parameters.mode: 'mode' must be in ('a', 'b')")


PIPELINE = """\
name: slow_poller
tasks:
  - id: sync
    integration: fivetran
    integration_job: fivetran_sync_all
    parameters: {connectionid: ambush_prettiest, poll_interval: 30}
"""


def test_simulate_shortens_a_runner_polling_every_30_seconds(tmp_path, monkeypatch):
    """A runner polling every 30 s still sees a 1 s simulated run end within seconds: the
    core caps every ``ctx.sleep`` under ``--simulate``, whatever the plugin."""
    for key in list(os.environ):
        if key.startswith(("FIVETRAN_", "ORCHESTRA_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCHESTRA_DB", str(tmp_path / "o.db"))
    (tmp_path / "p.yaml").write_text(PIPELINE)
    began = time.monotonic()
    result = CliRunner().invoke(cli, ["run", "p.yaml", "--simulate", "--simulate-duration",
                                      "1", "--progress", "plain"])
    took = time.monotonic() - began
    assert result.exit_code == 0, result.output
    assert " succeeded" in result.output
    assert took < 15, f"took {took:.1f} s"


def test_poll_cap():
    from orchestra_core.testing._simulated import poll_cap

    assert poll_cap(2.0) == pytest.approx(0.2)
    assert poll_cap(0.1) == 0.1
    assert poll_cap(None) == pytest.approx(0.3)
