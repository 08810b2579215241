import importlib
import importlib.metadata
import re
from pathlib import Path

import attrs
import orchestra_census
import orchestra_census.plugin
from orchestra_census import CensusSync, CensusSyncRunner, CensusWebhookHandler
from orchestra_census.testing import CensusSimulator

from orchestra_core import JobRunner, Orchestra, WebhookRequest
from orchestra_core._pipeline import Phase
from orchestra_core.testing import make_host, validate


def test_plugin_is_installed():
    host = Orchestra()
    [info] = [p for p in host.plugins() if p.distribution == "orchestra-census"]
    assert info.name == "census"
    assert not info.builtin
    assert info.version == orchestra_census.__version__
    assert info.integrations == (("census", ("census_sync",)),)


def test_plugin_can_be_blocked():
    host = Orchestra(blocked=["census"])
    assert host.integrations.find("census") is None
    assert host.find_job("census", "census_sync") is None
    assert not [p for p in host.plugins() if p.distribution == "orchestra-census"]
    task = {"id": "t", "integration": "census", "integration_job": "census_sync",
            "connectionid": "12345"}
    [problem] = validate(host, {"name": "p", "tasks": [task]})
    assert problem.startswith("$.tasks[0].integration: unknown integration 'census'")
    assert problem.endswith("If a plugin provides it, install it: pip install orchestra-census")


def test_job_registration():
    host = make_host(orchestra_census.plugin)
    job = host.find_job("census", "census_sync")
    assert job.parameters is CensusSync
    assert job.phase is Phase.ACTIVATION
    assert job.aliases == ()
    runner = host.runner(job)
    assert isinstance(runner, CensusSyncRunner)
    assert isinstance(runner, JobRunner)
    assert callable(runner.recover)  # RecoveringJobRunner
    assert host.runner(job) is runner


def test_integration_declares_connection_and_simulator():
    spec = make_host(orchestra_census.plugin).integrations.find("census")
    assert spec.connection.secrets == ("token",)
    assert spec.connection.auth == "bearer"
    assert spec.connection.base_url == "https://app.getcensus.com/api/v1"
    assert dict(spec.connection.env) == {"token": "CENSUS_API_TOKEN",
                                         "base_url": "CENSUS_BASE_URL"}
    module, _, name = spec.simulator.partition(":")
    assert getattr(importlib.import_module(module), name) is CensusSimulator


def test_identify_webhook_only_for_census():
    host = make_host(orchestra_census.plugin)
    request = WebhookRequest(integration="census", method="POST", headers={}, body=b"{}")
    assert isinstance(host.hook.orchestra_identify_webhook(request=request, orchestra=host),
                      CensusWebhookHandler)
    other = WebhookRequest(integration="hightouch", method="POST", headers={}, body=b"{}")
    assert host.hook.orchestra_identify_webhook(request=other, orchestra=host) is None


def test_package_metadata():
    assert orchestra_census.__version__ == importlib.metadata.version("orchestra-census")
    assert orchestra_census.__all__ == (
        "CensusSync", "CensusSyncRunner", "CensusWebhookHandler", "__version__")
    assert orchestra_census.__doc__
    assert (Path(orchestra_census.__file__).parent / "py.typed").is_file()


def test_hookimpls_are_documented():
    assert orchestra_census.plugin.orchestra_register_integrations.__doc__


README = Path(__file__).parents[1] / "README.md"


def test_readme_example_validates():
    [example] = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    host = make_host(orchestra_census.plugin)
    _, problems = host.check_text(example, source="README.md")
    assert [p.format() for p in problems] == []


def test_readme_documents_every_parameter():
    text = README.read_text(encoding="utf-8")
    assert "pip install orchestra-census" in text
    for env in ("CENSUS_API_TOKEN", "CENSUS_BASE_URL", "CENSUS_WEBHOOK_SECRET"):
        assert env in text
    for model in (CensusSync,):
        for field in attrs.fields(model):
            assert f"`{field.name}`" in text
            for alias in field.metadata["aliases"]:
                assert f"`{alias}`" in text
