import importlib.metadata
import re
from pathlib import Path

import attrs
import orchestra_census
import orchestra_census.plugin
import pytest
from orchestra_census import CensusSync

from orchestra_core import JobNotExecutable, Orchestra
from orchestra_core.pipeline import Phase
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
    job = make_host(orchestra_census.plugin).find_job("census", "census_sync")
    assert job.parameters is CensusSync
    assert job.phase is Phase.ACTIVATION
    assert job.runner is None
    assert job.aliases == ()


def test_runner_is_refused_clearly():
    host = Orchestra()
    job = host.find_job("census", "census_sync")
    with pytest.raises(JobNotExecutable) as info:
        host.runner(job)
    assert str(info.value) == (
        "integration job 'census_sync' (census) of orchestra-census 0.1.0 cannot "
        "execute yet: the plugin registers its parameters but no runner"
    )


def test_package_metadata():
    assert orchestra_census.__version__ == importlib.metadata.version("orchestra-census")
    assert orchestra_census.__all__ == ("CensusSync", "__version__")
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
    assert ("Execution (trigger, wait, cancel) arrives in a later release; validating "
            "pipelines works now.") in text
    for model in (CensusSync,):
        for field in attrs.fields(model):
            assert f"`{field.name}`" in text
            for alias in field.metadata["aliases"]:
                assert f"`{alias}`" in text
