import importlib.metadata
import re
from pathlib import Path

import attrs
import orchestra_dbt
import orchestra_dbt.plugin
import pytest
from orchestra_dbt import DbtRunJob

from orchestra_core import JobNotExecutable, Orchestra
from orchestra_core.pipeline import Phase
from orchestra_core.testing import make_host, validate


def test_plugin_is_installed():
    host = Orchestra()
    [info] = [p for p in host.plugins() if p.distribution == "orchestra-dbt"]
    assert info.name == "dbt"
    assert not info.builtin
    assert info.version == orchestra_dbt.__version__
    assert info.integrations == (("dbt", ("dbt_runjob",)),)


def test_plugin_can_be_blocked():
    host = Orchestra(blocked=["dbt"])
    assert host.integrations.find("dbt") is None
    assert host.find_job("dbt", "dbt_runjob") is None
    assert not [p for p in host.plugins() if p.distribution == "orchestra-dbt"]
    task = {"id": "t", "integration": "dbt", "integration_job": "dbt_runjob",
            "connectionid": "123456"}
    [problem] = validate(host, {"name": "p", "tasks": [task]})
    assert problem.startswith("$.tasks[0].integration: unknown integration 'dbt'")
    assert problem.endswith("If a plugin provides it, install it: pip install orchestra-dbt")


def test_job_registration():
    host = make_host(orchestra_dbt.plugin)
    job = host.find_job("dbt", "dbt_runjob")
    assert job.parameters is DbtRunJob
    assert job.phase is Phase.PROCESSING
    assert job.runner is None
    assert job.aliases == ("dbt_run_job",)
    assert host.find_job("dbt", "DBT_RUN_JOB") is job


def test_runner_is_refused_clearly():
    host = Orchestra()
    job = host.find_job("dbt", "dbt_runjob")
    with pytest.raises(JobNotExecutable) as info:
        host.runner(job)
    assert str(info.value) == (
        "integration job 'dbt_runjob' (dbt) of orchestra-dbt 0.1.0 cannot "
        "execute yet: the plugin registers its parameters but no runner"
    )


def test_package_metadata():
    assert orchestra_dbt.__version__ == importlib.metadata.version("orchestra-dbt")
    assert orchestra_dbt.__all__ == ("DbtRunJob", "__version__")
    assert orchestra_dbt.__doc__
    assert (Path(orchestra_dbt.__file__).parent / "py.typed").is_file()


def test_hookimpls_are_documented():
    assert orchestra_dbt.plugin.orchestra_register_integrations.__doc__


README = Path(__file__).parents[1] / "README.md"


def test_readme_example_validates():
    [example] = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    host = make_host(orchestra_dbt.plugin)
    _, problems = host.check_text(example, source="README.md")
    assert [p.format() for p in problems] == []


def test_readme_documents_every_parameter():
    text = README.read_text(encoding="utf-8")
    assert "pip install orchestra-dbt" in text
    assert ("Execution (trigger, wait, cancel) arrives in a later release; validating "
            "pipelines works now.") in text
    for model in (DbtRunJob,):
        for field in attrs.fields(model):
            assert f"`{field.name}`" in text
            for alias in field.metadata["aliases"]:
                assert f"`{alias}`" in text
