from typing import Any

import orchestra_census.plugin
import pytest
from orchestra_census import CensusSync

from orchestra_core._config import structure
from orchestra_core.testing import make_host, validate

JOB = {"integration": "census", "integration_job": "census_sync"}
MISSING = (
    "$.tasks[0].parameters: missing required parameter 'syncid' (the Census sync id, an "
    "integer such as 12345) (integration job census_sync)"
)


@pytest.fixture(scope="module")
def host():
    return make_host(orchestra_census.plugin)


def check(host, **task: Any) -> list[str]:
    """The problems of a one-task pipeline; *task* holds the task's keys besides its id."""
    return validate(host, {"name": "p", "tasks": [{"id": "t", **task}]})


def params(host, **task: Any) -> CensusSync:
    """The structured parameters of a valid one-task pipeline."""
    [t] = host.pipeline_from_data({"name": "p", "tasks": [{"id": "t", **task}]}).tasks
    obj, problems = structure(dict(t.parameters), CensusSync)
    assert problems == []
    return obj


def test_seed_003_example_validates(host):
    # the documented "Task types" example, JSON typos (":" for ",") fixed
    task = {"integration": "census", "integration_job": "census_sync", "connectionid": "12345"}
    assert check(host, **task) == []
    assert params(host, **task).syncid == 12345


def test_seed_003_runid_spelling(host):
    # the v1 documentation names the parameter "runid" in its text
    assert params(host, **JOB, runid="12345").syncid == 12345


@pytest.mark.parametrize("key", ["syncid", "connectionid", "sync_id", "runid"])
def test_sync_id_and_its_aliases(host, key):
    assert check(host, **JOB, **{key: 12345}) == []
    assert check(host, **JOB, parameters={key: "12345"}) == []
    assert params(host, **JOB, **{key: "987654321"}).syncid == 987654321


def test_orchestra_style_upper_case_names(host):
    assert check(host, integration="CENSUS", integration_job="CENSUS_SYNC", sync_id=12345) == []


def test_defaults(host):
    assert params(host, **JOB, syncid=1) == CensusSync(
        syncid=1, force_full_sync=False, poll_interval=10.0, fail_on_skipped=True
    )


@pytest.mark.parametrize("key", ["force_full_sync", "full_resync"])
def test_force_full_sync_and_its_alias(host, key):
    assert params(host, **JOB, syncid=1, **{key: True}).force_full_sync is True
    assert params(host, **JOB, syncid=1, parameters={key: "yes"}).force_full_sync is True
    assert params(host, **JOB, syncid=1, **{key: "no"}).force_full_sync is False


def test_poll_interval(host):
    assert params(host, **JOB, syncid=1, poll_interval="2m").poll_interval == 120.0
    assert params(host, **JOB, syncid=1, poll_interval=3).poll_interval == 3.0


def test_missing_sync_id(host):
    assert check(host, **JOB) == [MISSING]
    assert check(host, **JOB, force_full_sync=True) == [MISSING]


@pytest.mark.parametrize(("value", "shown"), [
    ("abc", "the string 'abc'"),
    (1.5, "1.5"),
    (False, "a boolean"),
    (None, "null"),
    ({"id": 1}, "a mapping"),
])
def test_sync_id_must_be_an_integer(host, value, shown):
    assert check(host, **JOB, connectionid=value) == [
        f"$.tasks[0].connectionid: expected an integer, got {shown}"
    ]
    assert check(host, **JOB, parameters={"syncid": value}) == [
        f"$.tasks[0].parameters.syncid: expected an integer, got {shown}"
    ]


def test_bad_options(host):
    assert check(host, **JOB, syncid=1, full_resync="maybe", poll_interval=[1]) == [
        "$.tasks[0].full_resync: expected true or false (or yes/no), got the string 'maybe'",
        "$.tasks[0].poll_interval: expected a number, got a list",
    ]


def test_alias_and_name_together(host):
    assert check(host, **JOB, syncid=1, parameters={"force_full_sync": True},
                 full_resync=True) == [
        "$.tasks[0].full_resync: parameter 'force_full_sync' is given more than once "
        "(as 'force_full_sync' and as 'full_resync')"
    ]


def test_unknown_parameter(host):
    assert check(host, **JOB, parameters={"syncid": 1, "force": True}) == [
        "$.tasks[0].parameters.force: unknown parameter 'force'; accepted: syncid, "
        "force_full_sync, poll_interval, fail_on_skipped"
    ]


def test_fail_on_skipped(host):
    assert params(host, **JOB, syncid=1, fail_on_skipped=False).fail_on_skipped is False


@pytest.mark.parametrize(("key", "value", "message"), [
    ("syncid", 0, "a Census sync id is a positive integer, got 0"),
    ("poll_interval", 0, "poll_interval must be more than 0 seconds, got 0"),
    ("poll_interval", "-5s", None),
])
def test_plugin_rules(host, key, value, message):
    problems = check(host, **JOB, parameters={"syncid": 1, key: value})
    if message is None:
        assert len(problems) == 1 and problems[0].startswith(f"$.tasks[0].parameters.{key}: ")
    else:
        assert problems == [f"$.tasks[0].parameters.{key}: {message}"]
