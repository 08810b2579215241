from typing import Any

import orchestra_dbt.plugin
import pytest
from orchestra_dbt import DbtRunJob

from orchestra_core._config import structure
from orchestra_core.testing import make_host, validate

JOB = {"integration": "dbt", "integration_job": "dbt_runjob"}
MISSING = (
    "$.tasks[0].parameters: missing required parameter 'jobid' (the dbt Cloud job id, an "
    "integer such as 123456) (integration job dbt_runjob)"
)


@pytest.fixture(scope="module")
def host():
    return make_host(orchestra_dbt.plugin)


def check(host, **task: Any) -> list[str]:
    """The problems of a one-task pipeline; *task* holds the task's keys besides its id."""
    return validate(host, {"name": "p", "tasks": [{"id": "t", **task}]})


def params(host, **task: Any) -> DbtRunJob:
    """The structured parameters of a valid one-task pipeline."""
    [t] = host.pipeline_from_data({"name": "p", "tasks": [{"id": "t", **task}]}).tasks
    obj, problems = structure(dict(t.parameters), DbtRunJob)
    assert problems == []
    return obj


# -- the documented task example and the accepted spellings ----------------------------------------


def test_seed_003_example_validates(host):
    # the documented "Task types" example, JSON typos fixed; the job id is a string there
    task = {"integration": "dbt", "integration_job": "dbt_runjob", "connectionid": "123456"}
    assert check(host, **task) == []
    assert params(host, **task).jobid == 123456


def test_seed_003_runid_spelling(host):
    # the v1 documentation names the parameter "runid" in its text
    assert check(host, **JOB, runid="123456") == []
    assert params(host, **JOB, runid="123456").jobid == 123456


@pytest.mark.parametrize("key", ["jobid", "runid", "connectionid", "job_id"])
def test_job_id_and_its_aliases(host, key):
    assert check(host, **JOB, **{key: 123456}) == []
    assert check(host, **JOB, parameters={key: "123456"}) == []
    assert params(host, **JOB, **{key: 654321}).jobid == 654321


def test_job_alias_dbt_run_job(host):
    assert check(host, integration="dbt", integration_job="dbt_run_job", jobid=1) == []
    [t] = host.pipeline_from_data({"name": "p", "tasks": [
        {"id": "t", "integration": "dbt", "integration_job": "dbt_run_job", "jobid": 1}]}).tasks
    assert t.integration_job == "dbt_runjob"


def test_orchestra_style_upper_case_names(host):
    for job in ("DBT_RUNJOB", "DBT_RUN_JOB"):
        assert check(host, integration="DBT", integration_job=job, connectionid="123456") == []


def test_long_job_ids_of_cell_based_accounts(host):
    assert params(host, **JOB, jobid="70403194297680").jobid == 70403194297680


def test_defaults(host):
    assert params(host, **JOB, jobid=1) == DbtRunJob(
        jobid=1, account_id=None, cause="Triggered by Orchestra", steps_override=None,
        git_branch=None, poll_interval=10.0, wait_timeout=None,
    )


def test_options(host):
    p = params(host, **JOB, jobid=1, account_id="42", cause="nightly",
               steps_override=["dbt seed", "dbt build -s tag:daily"], git_branch="release",
               poll_interval="30s", wait_timeout="2h")
    assert p == DbtRunJob(jobid=1, account_id=42, cause="nightly",
                          steps_override=("dbt seed", "dbt build -s tag:daily"),
                          git_branch="release", poll_interval=30.0, wait_timeout=7200.0)


def test_one_step_may_be_given_as_a_string(host):
    assert params(host, **JOB, jobid=1, steps_override="dbt build").steps_override == (
        "dbt build",
    )


# -- problems, with the exact text the user sees -------------------------------------------------


def test_missing_job_id(host):
    assert check(host, **JOB) == [MISSING]
    assert check(host, **JOB, parameters={"cause": "x"}) == [MISSING]


@pytest.mark.parametrize(("value", "shown"), [
    ("abc", "the string 'abc'"),
    ("12.5", "the string '12.5'"),
    (12.5, "12.5"),
    (True, "a boolean"),
    (None, "null"),
    ([123456], "a list"),
])
def test_job_id_must_be_an_integer(host, value, shown):
    assert check(host, **JOB, connectionid=value) == [
        f"$.tasks[0].connectionid: expected an integer, got {shown}"
    ]
    assert check(host, **JOB, parameters={"jobid": value}) == [
        f"$.tasks[0].parameters.jobid: expected an integer, got {shown}"
    ]


def test_bad_options(host):
    assert check(host, **JOB, jobid=1, account_id="x", steps_override=["dbt build", 3],
                 poll_interval="soon") == [
        "$.tasks[0].account_id: expected an integer, got the string 'x'",
        "$.tasks[0].steps_override: expected a list of strings; item 1 is 3",
        "$.tasks[0].poll_interval: expected a duration such as 90, '30s', '5m' or '1h30m', "
        "got 'soon'",
    ]
    assert check(host, **JOB, jobid=1, git_branch=["main"]) == [
        "$.tasks[0].git_branch: expected a string, got a list"
    ]


def test_job_id_given_twice(host):
    assert check(host, **JOB, parameters={"jobid": 1}, runid=1) == [
        "$.tasks[0].runid: parameter 'jobid' is given more than once (as 'jobid' and as "
        "'runid')"
    ]


def test_unknown_parameter(host):
    assert check(host, **JOB, parameters={"jobid": 1, "job": 1}) == [
        "$.tasks[0].parameters.job: unknown parameter 'job' (did you mean 'jobid'?); "
        "accepted: jobid, account_id, cause, steps_override, git_branch, poll_interval, "
        "wait_timeout"
    ]
    assert check(host, **JOB, parameters={"jobid": 1, "git_sha": "abc"}) == [
        "$.tasks[0].parameters.git_sha: unknown parameter 'git_sha'; "
        "accepted: jobid, account_id, cause, steps_override, git_branch, poll_interval, "
        "wait_timeout"
    ]
