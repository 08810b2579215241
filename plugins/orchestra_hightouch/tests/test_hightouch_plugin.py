import importlib
import importlib.metadata
import re
from pathlib import Path

import attrs
import orchestra_hightouch
import orchestra_hightouch.plugin
from orchestra_hightouch import HightouchSync
from orchestra_hightouch.runner import HightouchSyncRunner
from orchestra_hightouch.testing import HightouchSimulator

from orchestra_core import ConnectionSpec, Orchestra
from orchestra_core._pipeline import Phase
from orchestra_core.testing import make_host, validate


def test_plugin_is_installed():
    host = Orchestra()
    [info] = [p for p in host.plugins() if p.distribution == "orchestra-hightouch"]
    assert info.name == "hightouch"
    assert not info.builtin
    assert info.version == orchestra_hightouch.__version__
    assert info.integrations == (("hightouch", ("hightouch_sync",)),)


def test_plugin_can_be_blocked():
    host = Orchestra(blocked=["hightouch"])
    assert host.integrations.find("hightouch") is None
    assert host.find_job("hightouch", "hightouch_sync") is None
    assert not [p for p in host.plugins() if p.distribution == "orchestra-hightouch"]
    task = {"id": "t", "integration": "hightouch", "integration_job": "hightouch_sync",
            "connectionid": "12345"}
    [problem] = validate(host, {"name": "p", "tasks": [task]})
    assert problem.startswith("$.tasks[0].integration: unknown integration 'hightouch'")
    assert problem.endswith(
        "If a plugin provides it, install it: pip install orchestra-hightouch"
    )


def test_job_registration():
    job = make_host(orchestra_hightouch.plugin).find_job("hightouch", "hightouch_sync")
    assert job.parameters is HightouchSync
    assert job.phase is Phase.ACTIVATION
    assert job.runner is HightouchSyncRunner
    assert job.aliases == ()


def test_integration_declares_its_connection_and_simulator():
    spec = make_host(orchestra_hightouch.plugin).integrations.find("hightouch")
    assert spec.connection == ConnectionSpec(
        secrets=("token",), auth="bearer", base_url="https://api.hightouch.com/api/v1",
        env={"token": "HIGHTOUCH_API_TOKEN", "base_url": "HIGHTOUCH_BASE_URL",
             "webhook_secret": "HIGHTOUCH_WEBHOOK_SECRET"})
    assert spec.simulator == "orchestra_hightouch.testing:HightouchSimulator"
    module, _, name = spec.simulator.partition(":")
    assert getattr(importlib.import_module(module), name) is HightouchSimulator


def test_one_runner_per_host():
    host = Orchestra()
    job = host.find_job("hightouch", "hightouch_sync")
    runner = host.runner(job)
    assert isinstance(runner, HightouchSyncRunner)
    assert host.runner(job) is runner


def test_package_metadata():
    assert orchestra_hightouch.__version__ == importlib.metadata.version("orchestra-hightouch")
    assert orchestra_hightouch.__all__ == ("HightouchSync", "__version__")
    assert orchestra_hightouch.__doc__
    assert (Path(orchestra_hightouch.__file__).parent / "py.typed").is_file()


def test_hookimpls_are_documented():
    for name in ("orchestra_register_integrations", "orchestra_validate_task",
                 "orchestra_identify_webhook"):
        assert getattr(orchestra_hightouch.plugin, name).__doc__


README = Path(__file__).parents[1] / "README.md"


def test_readme_example_validates():
    [example] = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    host = make_host(orchestra_hightouch.plugin)
    _, problems = host.check_text(example, source="README.md")
    assert [p.format() for p in problems] == []


def test_readme_documents_every_parameter():
    text = README.read_text(encoding="utf-8")
    assert "pip install orchestra-hightouch" in text
    for variable in ("HIGHTOUCH_API_TOKEN", "HIGHTOUCH_BASE_URL", "HIGHTOUCH_WEBHOOK_SECRET"):
        assert variable in text
    for model in (HightouchSync,):
        for field in attrs.fields(model):
            assert f"`{field.name}`" in text
            for alias in field.metadata["aliases"]:
                assert f"`{alias}`" in text
