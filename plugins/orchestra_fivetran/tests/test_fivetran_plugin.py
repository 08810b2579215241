import importlib.metadata
import re
from pathlib import Path

import attrs
import orchestra_fivetran
import orchestra_fivetran.plugin
import pytest
from orchestra_fivetran import FivetranSyncAll

from orchestra_core import JobNotExecutable, Orchestra
from orchestra_core.pipeline import Phase
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
    assert job.runner is None
    assert job.plugin != ""
    assert job.aliases == ()


def test_runner_is_refused_clearly():
    host = Orchestra()
    job = host.find_job("fivetran", "fivetran_sync_all")
    with pytest.raises(JobNotExecutable) as info:
        host.runner(job)
    assert str(info.value) == (
        "integration job 'fivetran_sync_all' (fivetran) of orchestra-fivetran 0.1.0 cannot "
        "execute yet: the plugin registers its parameters but no runner"
    )
    assert info.value.distribution == "orchestra-fivetran"


def test_package_metadata():
    assert orchestra_fivetran.__version__ == importlib.metadata.version("orchestra-fivetran")
    assert orchestra_fivetran.__all__ == ("FivetranSyncAll", "__version__")
    assert orchestra_fivetran.__doc__
    assert (Path(orchestra_fivetran.__file__).parent / "py.typed").is_file()


def test_hookimpls_are_documented():
    for name in ("orchestra_register_integrations", "orchestra_validate_task"):
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
    assert ("Execution (trigger, wait, cancel) arrives in a later release; validating "
            "pipelines works now.") in text
    for model in (FivetranSyncAll,):
        for field in attrs.fields(model):
            assert f"`{field.name}`" in text
            for alias in field.metadata["aliases"]:
                assert f"`{alias}`" in text
