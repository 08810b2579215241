import importlib.metadata
import re
from pathlib import Path

import attrs
import orchestra_dbt
import orchestra_dbt.plugin
import pytest
from orchestra_dbt import DbtRunJob
from orchestra_dbt.runner import DbtRunner
from orchestra_dbt.testing import DbtCloudSimulator

from orchestra_core import JobRunner, Orchestra
from orchestra_core._pipeline import Phase
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
    assert job.runner is DbtRunner
    assert job.aliases == ("dbt_run_job",)
    assert host.find_job("dbt", "DBT_RUN_JOB") is job


def test_runner_satisfies_the_protocols():
    host = Orchestra()
    runner = host.runner(host.find_job("dbt", "dbt_runjob"))
    assert isinstance(runner, DbtRunner) and isinstance(runner, JobRunner)
    assert callable(runner.recover)
    assert runner is host.runner(host.find_job("dbt", "dbt_run_job"))


def test_connection_spec_and_simulator_are_declared():
    spec = Orchestra().integrations.find("dbt")
    assert spec.connection.secrets == ("token",)
    assert spec.connection.options == ("account_id",)
    assert spec.connection.auth == "token"
    assert spec.connection.base_url == "https://cloud.getdbt.com"
    assert dict(spec.connection.env) == {
        "token": "DBT_CLOUD_API_TOKEN", "account_id": "DBT_CLOUD_ACCOUNT_ID",
        "base_url": "DBT_CLOUD_BASE_URL", "webhook_secret": "DBT_CLOUD_WEBHOOK_SECRET"}
    module, _, name = spec.simulator.partition(":")
    assert getattr(importlib.import_module(module), name) is DbtCloudSimulator


def test_quick_start_connection_from_the_environment():
    from orchestra_core._secrets import connection_from_env

    host = Orchestra()
    spec = host.integrations.find("dbt")
    conn = connection_from_env(spec, {"DBT_CLOUD_API_TOKEN": "tok-123456",
                                      "DBT_CLOUD_ACCOUNT_ID": "77"}, redactor=host.redactor)
    assert (conn.base_url, conn.auth, dict(conn.options)) == (
        "https://cloud.getdbt.com", "token", {"account_id": "77"})
    assert conn.secret("token") == "tok-123456"
    assert "tok-123456" in host.redactor  # the token is masked in the host's outputs
    assert connection_from_env(spec, {}, redactor=host.redactor) is None


@pytest.mark.parametrize(("params", "problem"), [
    ({"jobid": 0}, "$.tasks[0].parameters.jobid: jobid must be a positive integer, got 0"),
    ({"jobid": 1, "account_id": -3},
     "$.tasks[0].parameters.account_id: account_id must be a positive integer, got -3"),
    ({"jobid": 1, "poll_interval": 0},
     "$.tasks[0].parameters.poll_interval: poll_interval must be more than 0 seconds, got 0"),
    ({"jobid": 1, "wait_timeout": "0s"},
     "$.tasks[0].parameters.wait_timeout: wait_timeout must be more than 0 seconds, got 0"),
    ({"jobid": 1, "cause": "  "},
     "$.tasks[0].parameters.cause: cause must not be empty (dbt Cloud requires one)"),
    ({"jobid": 1, "steps_override": ["dbt seed", " "]},
     "$.tasks[0].parameters.steps_override[1]: a step must not be empty"),
    ({"jobid": 1, "git_branch": ""},
     "$.tasks[0].parameters.git_branch: git_branch must not be empty"),
])
def test_validation_rules(params, problem):
    host = make_host(orchestra_dbt.plugin)
    task = {"id": "t", "integration": "dbt", "integration_job": "dbt_runjob",
            "parameters": params}
    assert validate(host, {"name": "p", "tasks": [task]}) == [problem]


def test_validation_rules_point_at_the_key_as_written():
    host = make_host(orchestra_dbt.plugin)
    task = {"id": "t", "integration": "dbt", "integration_job": "dbt_runjob",
            "runid": 0, "poll_interval": "0s"}
    assert validate(host, {"name": "p", "tasks": [task]}) == [
        "$.tasks[0].runid: jobid must be a positive integer, got 0",
        "$.tasks[0].poll_interval: poll_interval must be more than 0 seconds, got 0"]


def test_package_metadata():
    assert orchestra_dbt.__version__ == importlib.metadata.version("orchestra-dbt")
    assert orchestra_dbt.__all__ == ("DbtRunJob", "__version__")
    assert orchestra_dbt.__doc__
    assert (Path(orchestra_dbt.__file__).parent / "py.typed").is_file()


def test_hookimpls_are_documented():
    assert orchestra_dbt.plugin.orchestra_register_integrations.__doc__
    assert orchestra_dbt.plugin.orchestra_validate_task.__doc__
    assert orchestra_dbt.plugin.orchestra_identify_webhook.__doc__


README = Path(__file__).parents[1] / "README.md"


def test_readme_example_validates():
    [example] = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    host = make_host(orchestra_dbt.plugin)
    _, problems = host.check_text(example, source="README.md")
    assert [p.format() for p in problems] == []


def test_readme_documents_every_parameter():
    text = README.read_text(encoding="utf-8")
    assert "pip install orchestra-dbt" in text
    for name in ("DBT_CLOUD_API_TOKEN", "DBT_CLOUD_ACCOUNT_ID", "DBT_CLOUD_BASE_URL",
                 "DBT_CLOUD_WEBHOOK_SECRET", "docs/plugins/dbt.md"):
        assert name in text
    for model in (DbtRunJob,):
        for field in attrs.fields(model):
            assert f"`{field.name}`" in text
            for alias in field.metadata["aliases"]:
                assert f"`{alias}`" in text
