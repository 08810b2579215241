from typing import Any

import orchestra_fivetran.plugin
import pytest
from orchestra_fivetran import FivetranSyncAll

from orchestra_core import JobType
from orchestra_core._config import structure
from orchestra_core.testing import make_host, validate

JOB = {"integration": "fivetran", "integration_job": "fivetran_sync_all"}
#: the message for a bad connection id; problems point at the parameter as written
BAD_ID = (
    "{path}: invalid Fivetran connection id {value!r}: expected letters, digits and "
    "underscores (e.g. 'ambush_prettiest')"
)


@pytest.fixture(scope="module")
def host():
    return make_host(orchestra_fivetran.plugin)


def check(host, **task: Any) -> list[str]:
    """The problems of a one-task pipeline; *task* holds the task's keys besides its id."""
    return validate(host, {"name": "p", "tasks": [{"id": "t", **task}]})


def params(host, **task: Any) -> FivetranSyncAll:
    """The structured parameters of a valid one-task pipeline."""
    pipeline = host.pipeline_from_data({"name": "p", "tasks": [{"id": "t", **task}]})
    [t] = pipeline.tasks
    obj, problems = structure(dict(t.parameters), FivetranSyncAll)
    assert problems == []
    return obj


# -- the documented task example and the accepted spellings ----------------------------------------


def test_seed_003_example_validates(host):
    # the documented "Task types" example, JSON typos (":" for ",") fixed
    task = {"integration": "fivetran", "integration_job": "fivetran_sync_all",
            "connectionid": "ambush_prettiest"}
    assert check(host, **task) == []
    assert params(host, **task).connectionid == "ambush_prettiest"


@pytest.mark.parametrize("key", ["connectionid", "connector_id", "connection_id"])
def test_connection_id_and_its_aliases(host, key):
    assert check(host, **JOB, **{key: "ambush_prettiest"}) == []
    assert check(host, **JOB, parameters={key: "ambush_prettiest"}) == []
    assert params(host, **JOB, **{key: "speak_inexpensive"}).connectionid == "speak_inexpensive"


def test_orchestra_style_upper_case_names(host):
    task = {"integration": "FIVETRAN", "integration_job": "FIVETRAN_SYNC_ALL",
            "connector_id": "ambush_prettiest"}
    assert check(host, **task) == []
    [t] = host.pipeline_from_data({"name": "p", "tasks": [{"id": "t", **task}]}).tasks
    assert (t.integration, t.integration_job) == ("fivetran", "fivetran_sync_all")
    assert dict(t.parameters) == {"connectionid": "ambush_prettiest"}


@pytest.mark.parametrize("value", [
    "ambush_prettiest", "4107c213907114059a5544ad8fa66c52", "Upper_Case_1", "_airworthy",
])
def test_valid_connection_ids(host, value):
    assert check(host, **JOB, connectionid=value) == []


def test_an_integer_id_is_read_as_a_string(host):
    assert params(host, **JOB, connectionid=12345).connectionid == "12345"


def test_defaults(host):
    p = params(host, **JOB, connectionid="ambush_prettiest")
    assert p == FivetranSyncAll(connectionid="ambush_prettiest", force=False, poll_interval=30.0,
                                wait_timeout=None)


def test_options(host):
    p = params(host, **JOB, connectionid="a_b", force="yes", poll_interval="1m",
               wait_timeout="1h30m")
    assert (p.force, p.poll_interval, p.wait_timeout) == (True, 60.0, 5400.0)
    p = params(host, **JOB, parameters={"connectionid": "a_b", "force": True,
                                        "poll_interval": 5, "wait_timeout": 90.5})
    assert (p.force, p.poll_interval, p.wait_timeout) == (True, 5.0, 90.5)


# -- problems, with the exact text the user sees -------------------------------------------------


def test_missing_connection_id(host):
    assert check(host, **JOB) == [
        "$.tasks[0].parameters: missing required parameter 'connectionid' (the Fivetran "
        "connection id, two words joined by an underscore, e.g. ambush_prettiest) "
        "(integration job fivetran_sync_all)"
    ]


@pytest.mark.parametrize("value", ["ambush-prettiest", "ambush prettiest", "", "a_b\n", "é_x"])
def test_invalid_connection_ids(host, value):
    assert check(host, **JOB, connectionid=value) == [
        BAD_ID.format(path="$.tasks[0].connectionid", value=value)
    ]
    assert check(host, **JOB, parameters={"connector_id": value}) == [
        BAD_ID.format(path="$.tasks[0].parameters.connector_id", value=value)
    ]
    assert check(host, **JOB, parameters={"connectionid": value}) == [
        BAD_ID.format(path="$.tasks[0].parameters.connectionid", value=value)
    ]


def test_exact_invalid_connection_id_message(host):
    assert check(host, **JOB, connectionid="ambush-prettiest") == [
        "$.tasks[0].connectionid: invalid Fivetran connection id 'ambush-prettiest': expected "
        "letters, digits and underscores (e.g. 'ambush_prettiest')"
    ]


def test_connection_id_of_the_wrong_type(host):
    assert check(host, **JOB, connectionid=None) == [
        "$.tasks[0].connectionid: expected a string, got null"
    ]
    assert check(host, **JOB, connectionid=["ambush_prettiest"]) == [
        "$.tasks[0].connectionid: expected a string, got a list"
    ]


def test_connection_id_given_twice(host):
    assert check(host, **JOB, connectionid="a_b", connector_id="a_b") == [
        "$.tasks[0].connector_id: parameter 'connectionid' is given more than once "
        "(as 'connectionid' and as 'connector_id')"
    ]


def test_bad_force(host):
    assert check(host, **JOB, connectionid="a_b", force="maybe") == [
        "$.tasks[0].force: expected true or false (or yes/no), got the string 'maybe'"
    ]


def test_bad_durations(host):
    assert check(host, **JOB, connectionid="a_b", poll_interval="soon", wait_timeout="-5") == [
        "$.tasks[0].poll_interval: expected a duration such as 90, '30s', '5m' or '1h30m', "
        "got 'soon'",
        "$.tasks[0].wait_timeout: a duration must be a finite number >= 0, got '-5'",
    ]
    assert check(host, **JOB, connectionid="a_b", parameters={"wait_timeout": -5}) == [
        "$.tasks[0].parameters.wait_timeout: expected a number >= 0, got -5",
    ]


def test_unknown_parameter(host):
    assert check(host, **JOB, parameters={"connectionid": "a_b", "forse": True}) == [
        "$.tasks[0].parameters.forse: unknown parameter 'forse' (did you mean 'force'?); "
        "accepted: connectionid, force, poll_interval, wait_timeout, reschedule_limit, "
        "pause_on_cancel, record_tables"
    ]


def test_unknown_top_level_key(host):
    assert check(host, **JOB, connectionid="a_b", forse=True) == [
        "$.tasks[0].forse: unknown key 'forse' (did you mean 'force'?); a task accepts "
        "alert_after, async, condition, depends_on, description, id, integration, "
        "integration_job, name, outputs, parameters, phase, resource, retries, "
        "secondary_configuration_id, tags, timeout, "
        "treat_failure_as_warning and the parameters of fivetran_sync_all: connectionid, "
        "force, poll_interval, wait_timeout, reschedule_limit, pause_on_cancel, record_tables"
    ]


def test_every_bad_task_is_reported(host):
    data = {"name": "p", "tasks": [
        {"id": "a", **JOB, "connectionid": "ok_one"},
        {"id": "b", **JOB, "connectionid": "not-ok"},
        {"id": "c", **JOB},
    ]}
    # (the core lists model problems before those of validate hooks; the order is not pinned)
    assert sorted(validate(host, data)) == [
        BAD_ID.format(path="$.tasks[1].connectionid", value="not-ok"),
        "$.tasks[2].parameters: missing required parameter 'connectionid' (the Fivetran "
        "connection id, two words joined by an underscore, e.g. ambush_prettiest) "
        "(integration job fivetran_sync_all)",
    ]


def test_file_problems_carry_a_location(host):
    text = (
        "name: p\n"
        "tasks:\n"
        "  - id: t\n"
        "    integration: fivetran\n"
        "    integration_job: fivetran_sync_all\n"
        "    parameters:\n"
        "      connectionid: ambush-prettiest\n"
    )
    _, problems = host.check_text(text, source="p.yaml")
    assert [p.format() for p in problems] == [
        "p.yaml:7:21: "
        + BAD_ID.format(path="$.tasks[0].parameters.connectionid", value="ambush-prettiest")
    ]


def test_validate_hook_ignores_other_integrations():
    job = JobType(name="other_job", integration="other", parameters=FivetranSyncAll,
                  description="x")
    bad = FivetranSyncAll(connectionid="not-an-id")
    found = orchestra_fivetran.plugin.orchestra_validate_task(
        task=None, job=job, parameters=bad, pipeline=None, path="$.tasks[0]"
    )
    assert list(found) == []
