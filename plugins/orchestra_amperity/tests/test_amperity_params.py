from typing import Any

import orchestra_amperity.plugin
import pytest
from orchestra_amperity import (
    AmperityCampaign,
    AmperityCourierGroup,
    AmperityOrchestrationGroup,
)
from orchestra_amperity.params import is_iso_datetime

from orchestra_core import JobType
from orchestra_core._config import structure
from orchestra_core.testing import make_host, validate

CG = {"integration": "amperity", "integration_job": "amperity_courier_group"}
OG = {"integration": "amperity", "integration_job": "amperity_orchestration_group"}
CC = {"integration": "amperity", "integration_job": "amperity_campaign"}
BAD_TIME = (
    "$.tasks[0].{}: expected an ISO-8601 date-time such as 2026-03-01T00:00:00Z, got {!r}"
)


@pytest.fixture(scope="module")
def host():
    return make_host(orchestra_amperity.plugin)


def check(host, **task: Any) -> list[str]:
    """The problems of a one-task pipeline; *task* holds the task's keys besides its id."""
    return validate(host, {"name": "p", "tasks": [{"id": "t", **task}]})


def params(host, model: type, **task: Any) -> Any:
    """The structured parameters of a valid one-task pipeline."""
    [t] = host.pipeline_from_data({"name": "p", "tasks": [{"id": "t", **task}]}).tasks
    obj, problems = structure(dict(t.parameters), model)
    assert problems == []
    return obj


# -- valid tasks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("job", "config_id"), [(CG, "cg-1"), (OG, "og-1"), (CC, "cc-1")])
def test_minimal_tasks(host, job, config_id):
    assert check(host, **job, config_id=config_id) == []
    assert check(host, **job, parameters={"config_id": config_id}) == []
    assert check(host, **job, connectionid=config_id) == []


@pytest.mark.parametrize(("job", "alias", "config_id"), [
    (CG, "courier_group_id", "cg-1"),
    (OG, "orchestration_group_id", "og-1"),
    (CC, "campaign_id", "cc-1"),
])
def test_job_specific_aliases(host, job, alias, config_id):
    assert check(host, **job, **{alias: config_id}) == []


def test_orchestra_style_upper_case_names(host):
    assert check(host, integration="AMPERITY", integration_job="AMPERITY_COURIER_GROUP",
                 config_id="cg-1") == []
    assert check(host, integration="Amperity", integration_job="AMPERITY_CAMPAIGN",
                 connectionid="cc-1") == []


def test_defaults(host):
    assert params(host, AmperityCourierGroup, **CG, config_id="cg-1") == AmperityCourierGroup(
        config_id="cg-1", run_mode=None, range_from=None, range_to=None, poll_interval=30.0
    )
    assert params(host, AmperityOrchestrationGroup, **OG, config_id="og-1") == (
        AmperityOrchestrationGroup(config_id="og-1", poll_interval=30.0)
    )
    assert params(host, AmperityCampaign, **CC, config_id="cc-1", poll_interval="2m") == (
        AmperityCampaign(config_id="cc-1", poll_interval=120.0)
    )


@pytest.mark.parametrize("mode", ["full", "refresh", "source"])
def test_run_modes(host, mode):
    assert check(host, **CG, config_id="cg-1", run_mode=mode) == []


@pytest.mark.parametrize(("start", "end"), [
    ("2026-03-01T00:00:00Z", None),
    ("2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"),
    ("2026-03-01T00:00:00+01:00", "2026-03-01T12:30:00.123456+01:00"),
    ("2026-03-01T00:00", "2026-03-01t06:00:00"),
])
def test_time_windows(host, start, end):
    window = {"range_from": start} | ({"range_to": end} if end else {})
    assert check(host, **CG, config_id="cg-1", **window) == []
    p = params(host, AmperityCourierGroup, **CG, config_id="cg-1", **window)
    assert (p.range_from, p.range_to) == (start, end)


# -- problems, with the exact text the user sees -------------------------------------------------


def test_missing_config_ids(host):
    assert check(host, **CG) == [
        "$.tasks[0].parameters: missing required parameter 'config_id' (the courier group id, "
        "starting with cg-) (integration job amperity_courier_group)"
    ]
    assert check(host, **OG) == [
        "$.tasks[0].parameters: missing required parameter 'config_id' (the orchestration "
        "group id, starting with og-) (integration job amperity_orchestration_group)"
    ]
    assert check(host, **CC) == [
        "$.tasks[0].parameters: missing required parameter 'config_id' (the campaign id, "
        "starting with cc-) (integration job amperity_campaign)"
    ]


def test_config_id_prefixes(host):
    assert check(host, **CG, config_id="og-1") == [
        "$.tasks[0].config_id: expected a courier group id starting with 'cg-', got 'og-1'"
    ]
    assert check(host, **OG, config_id="cg-1") == [
        "$.tasks[0].config_id: expected an orchestration group id starting with 'og-', "
        "got 'cg-1'"
    ]
    assert check(host, **CC, config_id="CC-1") == [
        "$.tasks[0].config_id: expected a campaign id starting with 'cc-', got 'CC-1'"
    ]
    assert check(host, **CC, parameters={"config_id": "CC-1"}) == [
        "$.tasks[0].parameters.config_id: expected a campaign id starting with 'cc-', "
        "got 'CC-1'"
    ]
    assert check(host, **CC, parameters={"campaign_id": "CC-1"}) == [
        "$.tasks[0].parameters.campaign_id: expected a campaign id starting with 'cc-', "
        "got 'CC-1'"
    ]


@pytest.mark.parametrize("value", ["cg-", "", "cg", "1234"])
def test_config_id_needs_prefix_and_more(host, value):
    assert check(host, **CG, connectionid=value) == [
        f"$.tasks[0].connectionid: expected a courier group id starting with 'cg-', "
        f"got {value!r}"
    ]


@pytest.mark.parametrize("mode", ["FULL", "incremental", ""])
def test_bad_run_mode(host, mode):
    assert check(host, **CG, config_id="cg-1", run_mode=mode) == [
        f"$.tasks[0].run_mode: expected one of full, refresh, source, got {mode!r}"
    ]


def test_range_to_needs_range_from(host):
    assert check(host, **CG, config_id="cg-1", range_to="2026-03-02T00:00:00Z") == [
        "$.tasks[0].range_to: range_to needs range_from"
    ]


@pytest.mark.parametrize("value", [
    "2026-03-01", "yesterday", "2026-13-01T00:00:00Z", "2026-03-01 00:00:00", "03/01/2026",
    "2026-03-01T25:00:00Z",
])
def test_bad_date_times(host, value):
    assert check(host, **CG, config_id="cg-1", range_from=value) == [
        BAD_TIME.format("range_from", value)
    ]
    assert check(host, **CG, config_id="cg-1", range_from="2026-03-01T00:00:00Z",
                 range_to=value) == [BAD_TIME.format("range_to", value)]


def test_every_problem_at_once(host):
    assert check(host, **CG, config_id="og-1", run_mode="all", range_to="soon") == [
        "$.tasks[0].config_id: expected a courier group id starting with 'cg-', got 'og-1'",
        "$.tasks[0].run_mode: expected one of full, refresh, source, got 'all'",
        "$.tasks[0].range_to: expected an ISO-8601 date-time such as 2026-03-01T00:00:00Z, "
        "got 'soon'",
        "$.tasks[0].range_to: range_to needs range_from",
    ]


def test_courier_group_options_belong_to_courier_groups(host):
    assert check(host, **CC, config_id="cc-1", parameters={"run_mode": "full"}) == [
        "$.tasks[0].parameters.run_mode: unknown parameter 'run_mode'; accepted: config_id, "
        "poll_interval"
    ]


def test_bad_poll_interval(host):
    assert check(host, **OG, config_id="og-1", poll_interval="often") == [
        "$.tasks[0].poll_interval: expected a duration such as 90, '30s', '5m' or '1h30m', "
        "got 'often'"
    ]


def test_is_iso_datetime():
    assert is_iso_datetime("2026-03-01T00:00:00Z")
    assert is_iso_datetime("2026-03-01T00:00:00.5-05:00")
    assert not is_iso_datetime("2026-03-01")
    assert not is_iso_datetime("2026-02-30T00:00:00Z")


def test_validate_hook_ignores_other_integrations():
    job = JobType(name="other_job", integration="other", parameters=AmperityCampaign,
                  description="x")
    found = orchestra_amperity.plugin.orchestra_validate_task(
        task=None, job=job, parameters=AmperityCampaign(config_id="bad"), pipeline=None,
        path="$.tasks[0]",
    )
    assert list(found) == []
