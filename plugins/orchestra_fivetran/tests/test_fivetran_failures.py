"""Every failure the simulator can inject produces the documented retry or a clear, redacted
error; a trigger is never sent twice."""

from __future__ import annotations

import pytest
from orchestra_fivetran.testing import DEFAULT_SECRET

from orchestra_core import JobState, TaskFailed, VendorHTTPError
from orchestra_core.testing import Failure

CID = "ambush_prettiest"


@pytest.fixture
def kit(make_kit):
    k = make_kit()
    k.sim.add_connector(CID)
    return k


def retries(ctx):
    return [m for level, m in ctx.logs if level == "warning" and "retrying in" in m]


def test_5xx_on_a_read_is_retried(kit):
    kit.sim.fail("GET", "/v1/connections/*", Failure.status(503), times=2)
    ctx = kit.ctx()
    _, result = kit.sync(ctx)
    assert result.state is JobState.SUCCEEDED
    assert len(retries(ctx)) == 2
    assert retries(ctx)[0].startswith(
        f"fivetran GET /v1/connections/{CID}: HTTP 503: InternalError: simulated HTTP 503; "
        "retrying in ")


def test_429_with_retry_after_waits_that_long(kit):
    kit.sim.fail("GET", "*", Failure.rate_limited(retry_after=7))
    ctx = kit.ctx()
    _, result = kit.sync(ctx)
    assert result.state is JobState.SUCCEEDED
    assert 7.0 in ctx.sleeps
    assert retries(ctx) == [f"fivetran GET /v1/connections/{CID}: HTTP 429: TooManyRequests: "
                            "Rate limit exceeded; retrying in 7.0 s (attempt 2 of 5)"]


def test_429_without_retry_after_backs_off(kit):
    kit.sim.fail("POST", "*", Failure.rate_limited())
    ctx = kit.ctx()
    _, result = kit.sync(ctx)
    assert result.state is JobState.SUCCEEDED
    [line] = retries(ctx)
    assert line.startswith(f"fivetran POST /v1/connections/{CID}/sync: HTTP 429")
    assert kit.sim.connector(CID).triggers == 1  # the 429 was refused before taking effect


def test_a_long_retry_after_fails_retryably(kit):
    kit.sim.fail("GET", "*", Failure.rate_limited(retry_after=3600))
    with pytest.raises(VendorHTTPError) as info:
        kit.sync(kit.ctx())
    assert info.value.retryable is True and info.value.kind == "rate_limited"
    assert "the vendor asks to retry after 3600 s" in str(info.value)


def test_a_persistent_5xx_is_a_clear_retryable_redacted_error(kit):
    kit.sim.fail("GET", "*", Failure.status(500, body={"code": "InternalError",
                                                      "message": f"boom {DEFAULT_SECRET}"}),
                 times=None)
    with pytest.raises(VendorHTTPError) as info:
        kit.sync(kit.ctx())
    err = info.value
    assert err.retryable is True and err.status == 500 and err.attempts == 5
    assert str(err) == (f"fivetran GET /v1/connections/{CID}: HTTP 500: InternalError: boom "
                        "***** (gave up after 5 attempts)")
    assert DEFAULT_SECRET not in str(err.metadata)
    assert kit.sim.connector(CID).triggers == 0


@pytest.mark.parametrize("failure", [
    Failure.timeout(processed=True),
    Failure.drop_after_processing(),
    Failure.malformed_json(),
])
def test_an_ambiguous_trigger_failure_is_not_sent_again(kit, failure):
    kit.sim.fail("POST", "*/sync", failure)
    ctx = kit.ctx()
    _, result = kit.sync(ctx)
    assert result.state is JobState.SUCCEEDED
    c = kit.sim.connector(CID)
    assert (c.triggers, c.syncs) == (1, 1)
    assert any("found what the request created, not sending it again" in m for _, m in ctx.logs)


@pytest.mark.parametrize("failure", [
    Failure.timeout(processed=False),
    Failure.status(500),
    Failure.status(503),
    Failure.connect_error(),
])
def test_a_trigger_that_did_not_arrive_is_sent_again(kit, failure):
    kit.sim.fail("POST", "*/sync", failure)
    _, result = kit.sync(kit.ctx())
    assert result.state is JobState.SUCCEEDED
    c = kit.sim.connector(CID)
    assert (c.triggers, c.syncs) == (1, 1)


def test_a_malformed_read_is_retried(kit):
    kit.sim.fail("GET", "/v1/connections/*", Failure.malformed_json())
    ctx = kit.ctx()
    _, result = kit.sync(ctx)
    assert result.state is JobState.SUCCEEDED
    assert any("a body that is not JSON" in m for m in retries(ctx))


def test_a_read_timeout_is_retried(kit):
    kit.sim.fail("GET", "*", Failure.timeout())
    ctx = kit.ctx()
    _, result = kit.sync(ctx)
    assert result.state is JobState.SUCCEEDED
    assert any("ReadTimeout" in m for m in retries(ctx))


def test_schemas_that_cannot_be_read_leave_the_sync_succeeded(kit):
    kit.sim.fail("GET", "*/schemas", Failure.status(403, body={"code": "Forbidden",
                                                                 "message": "no access"}))
    ctx = kit.ctx()
    _, result = kit.sync(ctx)
    assert result.state is JobState.SUCCEEDED and result.assets == ()
    assert result.metadata["tables_error"] == (
        f"fivetran GET /v1/connections/{CID}/schemas: HTTP 403: Forbidden: no access")


def test_a_data_less_answer_is_a_clear_error(kit):
    kit.sim.fail("GET", "*", Failure.status(200, body={"code": "Success"}))
    with pytest.raises(TaskFailed) as info:
        kit.sync(kit.ctx())
    assert str(info.value) == (f"Fivetran answered GET /connections/{CID} without a 'data' "
                               "object: {'code': 'Success'}")
