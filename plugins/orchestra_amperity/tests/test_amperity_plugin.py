import importlib.metadata
import re
from pathlib import Path

import attrs
import orchestra_amperity
import orchestra_amperity.plugin
import pytest
from orchestra_amperity import (
    AmperityCampaign,
    AmperityCourierGroup,
    AmperityOrchestrationGroup,
    AmperityWorkflow,
)
from orchestra_amperity.runner import AmperityWorkflowRunner

from orchestra_core import JobRunner, Orchestra
from orchestra_core._pipeline import Phase
from orchestra_core.testing import make_host, validate

JOBS = {
    "amperity_courier_group": (AmperityCourierGroup, Phase.INGESTION),
    "amperity_orchestration_group": (AmperityOrchestrationGroup, Phase.ACTIVATION),
    "amperity_campaign": (AmperityCampaign, Phase.ACTIVATION),
}


def test_plugin_is_installed():
    host = Orchestra()
    [info] = [p for p in host.plugins() if p.distribution == "orchestra-amperity"]
    assert info.name == "amperity"
    assert not info.builtin
    assert info.version == orchestra_amperity.__version__
    assert info.integrations == (("amperity", tuple(sorted(JOBS))),)


def test_plugin_can_be_blocked():
    host = Orchestra(blocked=["amperity"])
    assert host.integrations.find("amperity") is None
    for job in JOBS:
        assert host.find_job("amperity", job) is None
    assert not [p for p in host.plugins() if p.distribution == "orchestra-amperity"]
    task = {"id": "t", "integration": "amperity", "integration_job": "amperity_campaign",
            "config_id": "cc-1"}
    [problem] = validate(host, {"name": "p", "tasks": [task]})
    assert problem.startswith("$.tasks[0].integration: unknown integration 'amperity'")
    assert problem.endswith("If a plugin provides it, install it: pip install orchestra-amperity")


@pytest.mark.parametrize("name", sorted(JOBS))
def test_job_registration(name):
    job = make_host(orchestra_amperity.plugin).find_job("amperity", name)
    model, phase = JOBS[name]
    assert job.parameters is model
    assert issubclass(model, AmperityWorkflow)
    assert job.phase is phase
    assert job.runner is not None
    assert job.aliases == ()


@pytest.mark.parametrize("name", sorted(JOBS))
def test_every_job_has_the_workflow_runner(name):
    host = Orchestra()
    runner = host.runner(host.find_job("amperity", name))
    assert isinstance(runner, AmperityWorkflowRunner)
    assert isinstance(runner, JobRunner)
    assert callable(runner.recover)


def test_connection_and_simulator_are_registered():
    spec = Orchestra().integrations.find("amperity")
    assert spec.simulator == "orchestra_amperity.testing:AmperitySimulator"
    assert spec.connection.options == ("tenant",)
    assert spec.connection.base_url == "https://app.amperity.com/api"
    assert spec.connection.env == {
        "token": "AMPERITY_TOKEN", "client_id": "AMPERITY_CLIENT_ID",
        "client_secret": "AMPERITY_CLIENT_SECRET", "tenant": "AMPERITY_TENANT",
        "base_url": "AMPERITY_BASE_URL"}


def test_package_metadata():
    assert orchestra_amperity.__version__ == importlib.metadata.version("orchestra-amperity")
    assert orchestra_amperity.__all__ == (
        "AmperityCampaign", "AmperityCourierGroup", "AmperityOrchestrationGroup",
        "AmperityWorkflow", "AmperityWorkflowRunner", "__version__",
    )
    assert orchestra_amperity.__doc__
    assert (Path(orchestra_amperity.__file__).parent / "py.typed").is_file()


def test_hookimpls_are_documented():
    for name in ("orchestra_register_integrations", "orchestra_validate_task"):
        assert getattr(orchestra_amperity.plugin, name).__doc__


README = Path(__file__).parents[1] / "README.md"


def test_readme_example_validates():
    [example] = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    host = make_host(orchestra_amperity.plugin)
    _, problems = host.check_text(example, source="README.md")
    assert [p.format() for p in problems] == []


def test_readme_documents_every_parameter():
    text = README.read_text(encoding="utf-8")
    assert "pip install orchestra-amperity" in text
    assert "docs/plugins/amperity.md" in text
    for model in (AmperityCourierGroup, AmperityOrchestrationGroup, AmperityCampaign,):
        for field in attrs.fields(model):
            assert f"`{field.name}`" in text
            for alias in field.metadata["aliases"]:
                assert f"`{alias}`" in text
