from typing import Any

import orchestra_hightouch.plugin
import pytest
from orchestra_hightouch import HightouchSync

from orchestra_core import JobType
from orchestra_core._config import structure
from orchestra_core.testing import make_host, validate

JOB = {"integration": "hightouch", "integration_job": "hightouch_sync"}
MISSING = (
    "$.tasks[0].parameters: missing required parameter 'syncid' (the Hightouch sync id, or "
    "give sync_slug instead)"
)
BOTH = "$.tasks[0].parameters: give either syncid or sync_slug, not both"


@pytest.fixture(scope="module")
def host():
    return make_host(orchestra_hightouch.plugin)


def check(host, **task: Any) -> list[str]:
    """The problems of a one-task pipeline; *task* holds the task's keys besides its id."""
    return validate(host, {"name": "p", "tasks": [{"id": "t", **task}]})


def params(host, **task: Any) -> HightouchSync:
    """The structured parameters of a valid one-task pipeline."""
    [t] = host.pipeline_from_data({"name": "p", "tasks": [{"id": "t", **task}]}).tasks
    obj, problems = structure(dict(t.parameters), HightouchSync)
    assert problems == []
    return obj


def test_seed_003_example_validates(host):
    # the documented "Task types" example, JSON typos (":" for ",") fixed
    task = {"integration": "hightouch", "integration_job": "hightouch_sync",
            "connectionid": "12345"}
    assert check(host, **task) == []
    assert params(host, **task).syncid == "12345"


def test_seed_003_runid_spelling(host):
    # the v1 documentation names the parameter "runid" in its text
    assert params(host, **JOB, runid="12345").syncid == "12345"


@pytest.mark.parametrize("key", ["syncid", "connectionid", "sync_id", "runid"])
def test_sync_id_and_its_aliases(host, key):
    assert check(host, **JOB, **{key: "12345"}) == []
    assert check(host, **JOB, parameters={key: "12345"}) == []
    assert params(host, **JOB, **{key: "678"}).syncid == "678"


def test_a_numeric_sync_id_is_read_as_a_string(host):
    assert params(host, **JOB, syncid=12345).syncid == "12345"


@pytest.mark.parametrize("key", ["sync_slug", "slug"])
def test_sync_slug_and_its_alias(host, key):
    assert check(host, **JOB, **{key: "daily-accounts"}) == []
    assert check(host, **JOB, parameters={key: "daily-accounts"}) == []
    p = params(host, **JOB, **{key: "daily-accounts"})
    assert (p.syncid, p.sync_slug) == (None, "daily-accounts")


def test_orchestra_style_upper_case_names(host):
    assert check(host, integration="HIGHTOUCH", integration_job="HIGHTOUCH_SYNC",
                 sync_id="12345") == []


def test_defaults(host):
    assert params(host, **JOB, syncid="1") == HightouchSync(
        syncid="1", sync_slug=None, full_resync=False, fail_on_warning=False, poll_interval=10.0
    )


def test_options(host):
    p = params(host, **JOB, syncid="1", full_resync="yes", fail_on_warning=True,
               poll_interval="45s")
    assert (p.full_resync, p.fail_on_warning, p.poll_interval) == (True, True, 45.0)


def test_neither_sync_id_nor_slug(host):
    assert check(host, **JOB) == [MISSING]
    assert check(host, **JOB, full_resync=True) == [MISSING]
    assert check(host, **JOB, syncid=None, sync_slug=None) == [MISSING]


def test_a_blank_id_counts_as_missing(host):
    assert check(host, **JOB, syncid="") == [MISSING]
    assert check(host, **JOB, syncid="  ", sync_slug="") == [MISSING]
    assert check(host, **JOB, syncid="", sync_slug="daily") == []


@pytest.mark.parametrize("keys", [
    ("syncid", "sync_slug"), ("connectionid", "slug"), ("runid", "sync_slug"),
])
def test_both_sync_id_and_slug(host, keys):
    id_key, slug_key = keys
    assert check(host, **JOB, **{id_key: "12345", slug_key: "daily"}) == [BOTH]
    assert check(host, **JOB, parameters={id_key: "12345", slug_key: "daily"}) == [BOTH]


def test_bad_options(host):
    assert check(host, **JOB, syncid=["1"], full_resync=1, poll_interval="never") == [
        "$.tasks[0].syncid: expected a string, got a list",
        "$.tasks[0].full_resync: expected true or false (or yes/no), got 1",
        "$.tasks[0].poll_interval: expected a duration such as 90, '30s', '5m' or '1h30m', "
        "got 'never'",
    ]


def test_unknown_parameter(host):
    assert check(host, **JOB, parameters={"syncid": "1", "fail_on_warnings": True}) == [
        "$.tasks[0].parameters.fail_on_warnings: unknown parameter 'fail_on_warnings' (did "
        "you mean 'fail_on_warning'?); accepted: syncid, sync_slug, full_resync, "
        "fail_on_warning, poll_interval"
    ]


def test_validate_hook_ignores_other_integrations():
    job = JobType(name="other_job", integration="other", parameters=HightouchSync,
                  description="x")
    found = orchestra_hightouch.plugin.orchestra_validate_task(
        task=None, job=job, parameters=HightouchSync(), pipeline=None, path="$.tasks[0]"
    )
    assert list(found) == []


@pytest.mark.parametrize("value", [0, "0s"])
def test_poll_interval_must_be_positive(host, value):
    assert check(host, **JOB, syncid="1", poll_interval=value) == [
        "$.tasks[0].poll_interval: poll_interval must be more than 0 seconds, got 0"]
    assert check(host, **JOB, syncid="1", poll_interval=-5) == [
        "$.tasks[0].poll_interval: expected a number >= 0, got -5"]
