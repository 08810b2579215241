import importlib
import importlib.metadata
import re
from pathlib import Path

import attrs
import orchestra_fivetran
import orchestra_fivetran.plugin
from orchestra_fivetran import FivetranSyncAll
from orchestra_fivetran.runner import FivetranSyncRunner
from orchestra_fivetran.testing import FivetranSimulator

from orchestra_core import JobRunner, Orchestra
from orchestra_core._pipeline import Phase
from orchestra_core.testing import make_host, validate


def test_plugin_is_installed():
    host = Orchestra()
    [info] = [p for p in host.plugins() if p.distribution == "orchestra-fivetran"]
    assert info.name == "fivetran"
    assert not info.builtin
    assert info.version == orchestra_fivetran.__version__
    assert info.integrations == (("fivetran", ("fivetran_sync_all",)),)


def test_plugin_can_be_blocked():
    host = Orchestra(blocked=["fivetran"])
    assert host.integrations.find("fivetran") is None
    assert host.find_job("fivetran", "fivetran_sync_all") is None
    assert not [p for p in host.plugins() if p.distribution == "orchestra-fivetran"]
    task = {"id": "t", "integration": "fivetran", "integration_job": "fivetran_sync_all",
            "connectionid": "ambush_prettiest"}
    [problem] = validate(host, {"name": "p", "tasks": [task]})
    assert problem.startswith("$.tasks[0].integration: unknown integration 'fivetran'; ")
    assert problem.endswith("If a plugin provides it, install it: pip install orchestra-fivetran")


def test_job_registration():
    job = make_host(orchestra_fivetran.plugin).find_job("fivetran", "fivetran_sync_all")
    assert job.parameters is FivetranSyncAll
    assert job.phase is Phase.INGESTION
    assert job.runner is FivetranSyncRunner
    assert job.plugin != ""
    assert job.aliases == ()


def test_connection_spec_and_simulator_are_declared():
    spec = make_host(orchestra_fivetran.plugin).integrations.find("fivetran")
    assert spec.connection.secrets == ("api_key", "api_secret")
    assert spec.connection.auth == "basic"
    assert spec.connection.base_url == "https://api.fivetran.com/v1"
    assert spec.connection.env == {
        "api_key": "FIVETRAN_API_KEY", "api_secret": "FIVETRAN_API_SECRET",
        "base_url": "FIVETRAN_BASE_URL", "webhook_secret": "FIVETRAN_WEBHOOK_SECRET"}
    module, _, attr = spec.simulator.partition(":")
    assert getattr(importlib.import_module(module), attr) is FivetranSimulator


def test_one_runner_per_host():
    host = Orchestra()
    job = host.find_job("fivetran", "fivetran_sync_all")
    runner = host.runner(job)
    assert isinstance(runner, FivetranSyncRunner)
    assert isinstance(runner, JobRunner) and callable(runner.recover)
    assert host.runner(job) is runner


def test_package_metadata():
    assert orchestra_fivetran.__version__ == importlib.metadata.version("orchestra-fivetran")
    assert orchestra_fivetran.__all__ == (
        "FivetranSyncAll", "FivetranSyncRunner", "FivetranWebhookHandler", "WebhookSetup",
        "__version__", "create_webhook")
    for name in orchestra_fivetran.__all__:
        assert getattr(orchestra_fivetran, name).__doc__ or name == "__version__"
    assert orchestra_fivetran.__doc__
    assert (Path(orchestra_fivetran.__file__).parent / "py.typed").is_file()


def test_hookimpls_are_documented():
    for name in ("orchestra_register_integrations", "orchestra_validate_task",
                 "orchestra_identify_webhook"):
        assert getattr(orchestra_fivetran.plugin, name).__doc__


README = Path(__file__).parents[1] / "README.md"


def test_readme_example_validates():
    [example] = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    host = make_host(orchestra_fivetran.plugin)
    _, problems = host.check_text(example, source="README.md")
    assert [p.format() for p in problems] == []


def test_readme_documents_every_parameter():
    text = README.read_text(encoding="utf-8")
    assert "pip install orchestra-fivetran" in text
    for model in (FivetranSyncAll,):
        for field in attrs.fields(model):
            assert f"`{field.name}`" in text
            for alias in field.metadata["aliases"]:
                assert f"`{alias}`" in text


DOC = Path(__file__).parents[3] / "docs" / "plugins" / "fivetran.md"


def test_docs_page_documents_every_parameter_and_its_example_validates():
    text = DOC.read_text(encoding="utf-8")
    for field in attrs.fields(FivetranSyncAll):
        assert f"| `{field.name}` |" in text
        for alias in field.metadata["aliases"]:
            assert f"`{alias}`" in text
    [example] = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "name:" in b]
    _, problems = Orchestra().check_text(example, source="fivetran.md")
    assert [p.format() for p in problems if p.code != "unknown-integration"] == []
    for name in ("create_webhook", "FIVETRAN_API_KEY", "FIVETRAN_WEBHOOK_SECRET",
                 "X-Fivetran-Signature-256", "<destination schema>.<destination table>"):
        assert name in text
