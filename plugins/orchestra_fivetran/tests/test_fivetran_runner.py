"""The runner of fivetran_sync_all against the in-process simulator, on a fake clock: every
vendor quirk (completion by timestamps, paused, rescheduled, already syncing, force), resume
and recover without a second trigger, cancel."""

from __future__ import annotations

from datetime import timedelta

import anyio
import orchestra_fivetran.plugin
import pytest
from orchestra_fivetran.runner import FivetranSyncRunner, _outcome

from orchestra_core import ExternalRun, Intent, JobState, TaskFailed
from orchestra_core.testing import FakeClock, make_host

CID = "ambush_prettiest"

def test_a_sync_succeeds_with_metadata_and_assets(kit):
    kit.sim.add_connector(CID, schema="pg_prod")
    ctx = kit.ctx()
    ext, result = kit.sync(ctx)
    assert ext.id is None and ext.started_at == kit.clock.now() - timedelta(seconds=120)
    assert ext.data["connection_id"] == CID and ext.data["reference"]
    assert result.state is JobState.SUCCEEDED
    assert result.assets == ("pg_prod.customers", "pg_prod.orders")
    meta = result.metadata
    assert meta["connection_id"] == CID and meta["connection_name"] == "pg_prod"
    assert meta["group_id"] == "projected_sickle" and meta["service"] == "postgres"
    assert meta["succeeded_at"] == "2026-01-01T00:02:00.000000Z"
    assert meta["url"] == f"https://fivetran.com/dashboard/connections/{CID}/status"
    assert meta["table_count"] == 2
    assert [t["asset"] for t in meta["tables"]] == ["pg_prod.customers", "pg_prod.orders"]
    assert meta["polls"] == 12  # every 10 s for 120 s
    c = kit.sim.connector(CID)
    assert (c.triggers, c.syncs) == (1, 1)


def test_record_tables_off_reads_no_schemas(kit):
    kit.sim.add_connector(CID)
    _, result = kit.sync(kit.ctx(record_tables=False))
    assert result.state is JobState.SUCCEEDED and result.assets == ()
    assert "tables" not in result.metadata


def test_destination_names_make_the_asset_names(kit):
    kit.sim.add_connector(CID, schemas={
        "public": {"name_in_destination": "crm", "enabled": True, "tables": {
            "Account": {"name_in_destination": "account", "enabled": True},
            "Secret": {"enabled": False}}},
        "archive": {"enabled": False, "tables": {"old": {"enabled": True}}},
        "extra": {"tables": {"t1": {}}},
    })
    _, result = kit.sync(kit.ctx())
    assert result.assets == ("crm.account", "extra.t1")
    assert result.metadata["tables"][0] == {
        "schema": "public", "table": "Account", "destination_schema": "crm",
        "destination_table": "account", "asset": "crm.account", "sync_mode": None}


def test_a_failed_sync_fails_the_task_with_the_reason(kit):
    kit.sim.add_connector(CID, outcomes=["failure"])
    _, result = kit.sync(kit.ctx())
    assert result.state is JobState.FAILED
    assert result.message == (f"the Fivetran sync of connection {CID} failed at "
                              "2026-01-01T00:02:00.000000Z")
    assert result.retryable is None
    assert result.metadata["failed_at"] == "2026-01-01T00:02:00.000000Z"


def test_a_failure_after_an_earlier_success_is_detected(kit):
    # the Astronomer bug: reference = previous completion missed a failure following a success
    c = kit.sim.add_connector(CID, outcomes=["failure"])
    c.succeeded_at = kit.clock.now() - timedelta(hours=1)
    _, result = kit.sync(kit.ctx())
    assert result.state is JobState.FAILED


def test_an_earlier_completion_is_not_taken_for_this_sync(kit):
    c = kit.sim.add_connector(CID)
    c.failed_at = kit.clock.now() - timedelta(seconds=1)  # within the clock-skew margin
    _, result = kit.sync(kit.ctx())
    assert result.state is JobState.SUCCEEDED
    assert result.metadata["polls"] == 12


def test_failure_with_a_task_is_not_retried_and_points_to_the_dashboard(kit):
    kit.sim.add_connector(CID, outcomes=["failure_with_task"])
    _, result = kit.sync(kit.ctx())
    assert result.state is JobState.FAILED and result.retryable is False
    assert "Reconnect: the source password was changed" in result.message
    assert f"https://fivetran.com/dashboard/connections/{CID}/status" in result.message
    assert result.metadata["tasks"] == [
        {"code": "reconnect", "message": "Reconnect: the source password was changed"}]


@pytest.mark.parametrize(("succeeded", "failed", "expected"), [
    (None, None, None),
    (5, None, JobState.SUCCEEDED),
    (None, 5, JobState.FAILED),
    (5, 3, JobState.SUCCEEDED),       # a failed attempt, then a successful retry
    (3, 5, JobState.FAILED),
    (5, 5, JobState.FAILED),          # same instant: failure wins
    (-5, None, None),                 # before the reference: an earlier sync
    (-5, 5, JobState.FAILED),
    (0, None, None),                  # exactly the reference is not after it
])
def test_completion_edges(succeeded, failed, expected):
    ref = FakeClock().now()

    def at(s):
        return None if s is None else (ref + timedelta(seconds=s)).isoformat()
    assert _outcome({"succeeded_at": at(succeeded), "failed_at": at(failed)}, ref) is expected


def test_a_paused_connection_is_refused_without_a_trigger(kit):
    kit.sim.add_connector(CID, paused=True)
    with pytest.raises(TaskFailed) as info:
        kit.run(kit.runner.start, kit.ctx())
    assert str(info.value) == (f"Fivetran connection {CID} is paused: resume it in Fivetran (or "
                               "PATCH paused=false) before syncing it")
    assert info.value.retryable is False
    assert kit.sim.connector(CID).triggers == 0


def test_a_broken_setup_is_refused(kit):
    kit.sim.add_connector(CID, setup_state="broken")
    with pytest.raises(TaskFailed, match="its setup state is 'broken'") as info:
        kit.run(kit.runner.start, kit.ctx())
    assert info.value.retryable is False


def test_pausing_during_the_sync_fails_the_task(kit):
    kit.sim.add_connector(CID)
    ctx = kit.ctx()

    async def scenario():
        ext = await kit.runner.start(ctx)
        async with anyio.create_task_group() as tg:
            async def pause():
                await kit.clock.sleep(30)
                kit.sim.pause(CID)
            tg.start_soon(pause)
            try:
                return await kit.runner.wait(ctx, ext)
            except TaskFailed as exc:
                return exc
    error = kit.run(scenario)
    assert str(error) == (f"Fivetran connection {CID} was paused while its sync was awaited; "
                          "resume it in Fivetran and run the task again")
    assert error.retryable is False


def test_rescheduled_manual_sync_is_triggered_again_at_rescheduled_for(kit):
    c = kit.sim.add_connector(CID, outcomes=["rescheduled", "success"], reschedule_delay=300)
    ctx = kit.ctx()
    _, result = kit.sync(ctx)
    assert result.state is JobState.SUCCEEDED
    assert (c.triggers, c.syncs) == (2, 2)
    assert result.metadata["retriggers"] == 1
    # sync 1 ends at 120 s, rescheduled for 420 s; re-triggered then; sync 2 ends at 540 s
    t0 = FakeClock().now()
    assert [(outcome.value, when - t0) for _, outcome, when in c.history] == [
        ("rescheduled", timedelta(seconds=120)), ("success", timedelta(seconds=540))]
    assert ("warning", f"Fivetran rescheduled the sync of connection {CID} for "
            "2026-01-01T00:07:00.000000Z (waiting for the source's API quota)") in ctx.logs
    assert ("info", f"re-triggering the rescheduled sync of manual-schedule connection "
            f"{CID}") in ctx.logs


def test_rescheduled_auto_sync_resumes_by_itself(kit):
    c = kit.sim.add_connector(CID, outcomes=["rescheduled", "success"], reschedule_delay=300,
                              schedule_type="auto")
    _, result = kit.sync(kit.ctx())
    assert result.state is JobState.SUCCEEDED
    assert (c.triggers, c.syncs) == (1, 2)
    assert "retriggers" not in result.metadata


def test_reschedule_limit(kit):
    kit.sim.add_connector(CID, outcomes=["rescheduled"], reschedule_delay=7200,
                          schedule_type="auto")
    with pytest.raises(TaskFailed, match=r"stayed rescheduled for more than 600s "
                                         r"\(reschedule_limit\); Fivetran planned it for "):
        kit.sync(kit.ctx(reschedule_limit=600))


def test_a_running_sync_is_joined_without_force(kit):
    c = kit.sim.add_connector(CID)
    c.succeeded_at = kit.clock.now() - timedelta(hours=2)
    kit.sim.start_sync(CID)  # someone else started it
    kit.clock.advance(100)
    ctx = kit.ctx()
    ext, result = kit.sync(ctx)
    assert ext.data["joined"] is True
    assert result.state is JobState.SUCCEEDED
    assert result.metadata["joined_running_sync"] is True
    assert (c.triggers, c.syncs) == (2, 1)  # our trigger was a no-op
    assert kit.clock.now() == FakeClock().now() + timedelta(seconds=120)  # the running one


def test_409_while_syncing_joins_the_running_sync(make_kit):
    kit = make_kit(conflict_when_syncing=True)
    c = kit.sim.add_connector(CID)
    kit.sim.start_sync(CID)
    ext, result = kit.sync(kit.ctx())
    assert ext.data["joined"] is True and result.state is JobState.SUCCEEDED
    assert c.syncs == 1


def test_force_restarts_a_running_sync(kit):
    c = kit.sim.add_connector(CID)
    kit.sim.start_sync(CID)
    kit.clock.advance(100)
    ext, result = kit.sync(kit.ctx(force=True))
    assert ext.data["joined"] is False and result.metadata["force"] is True
    assert (c.triggers, c.syncs) == (2, 2)
    assert kit.clock.now() == FakeClock().now() + timedelta(seconds=220)


def test_unknown_sync_state_is_a_clear_error_with_the_payload_logged(kit):
    kit.sim.add_connector(CID)
    ctx = kit.ctx()

    async def scenario():
        ext = await kit.runner.start(ctx)
        kit.sim.inject_sync_state(CID, "teleporting")
        return await kit.runner.wait(ctx, ext)
    with pytest.raises(TaskFailed) as info:
        kit.run(scenario)
    assert str(info.value) == (
        f"Fivetran reported an unknown sync_state 'teleporting' for connection {CID} "
        "(expected one of scheduled, syncing, paused, rescheduled)")
    [(level, line)] = [entry for entry in ctx.logs if "unexpected" in entry[1]]
    assert level == "error" and '"sync_state": "teleporting"' in line


def test_unknown_connection(kit):
    with pytest.raises(TaskFailed) as info:
        kit.run(kit.runner.start, kit.ctx(connectionid="no_such"))
    assert str(info.value).startswith("Fivetran has no connection 'no_such'")
    assert info.value.retryable is False
    assert info.value.metadata["status"] == 404


def test_bad_credentials(kit):
    kit.sim.add_connector(CID)
    bad = kit.sim.connection().__class__(name="x", integration="fivetran",
                                         base_url=kit.sim.base_url,
                                         secrets={"api_key": "k", "api_secret": "wrong-secret"})
    with pytest.raises(TaskFailed) as info:
        kit.run(kit.runner.start, kit.ctx(connection=bad))
    assert str(info.value) == ("Fivetran refused the API key (HTTP 401): check the api_key and "
                               "api_secret of the connection")
    assert info.value.retryable is False


def test_no_connection_names_the_env_vars_and_the_commands(kit):
    with pytest.raises(TaskFailed) as info:
        kit.run(kit.runner.start, kit.ctx(connection=None))
    assert "FIVETRAN_API_KEY and FIVETRAN_API_SECRET" in str(info.value)
    assert "orchestra connections add" in str(info.value)
    assert info.value.retryable is False


def test_a_connection_without_a_secret(kit):
    conn = kit.sim.connection().__class__(name="half", integration="fivetran",
                                          secrets={"api_key": "k"})
    with pytest.raises(TaskFailed, match="the Fivetran connection 'half' has no api_secret"):
        kit.run(kit.runner.start, kit.ctx(connection=conn))


def test_the_older_connectors_path_can_be_chosen(kit):
    kit.sim.add_connector(CID)
    ctx = kit.ctx(connection=kit.sim.connection(api_path="connectors"))
    _, result = kit.sync(ctx)
    assert result.state is JobState.SUCCEEDED


def test_wait_timeout_gives_up_and_pauses_with_pause_on_cancel(kit):
    c = kit.sim.add_connector(CID)
    with pytest.raises(TaskFailed) as info:
        kit.sync(kit.ctx(wait_timeout=45, pause_on_cancel=True))
    assert str(info.value) == (f"the Fivetran sync of connection {CID} did not finish within "
                               "wait_timeout (45s)")
    assert info.value.metadata["sync_state"] == "syncing"
    assert kit.clock.now() == FakeClock().now() + timedelta(seconds=45)
    assert c.paused


# -- resume and recover ---------------------------------------------------------------------


def test_wait_resumes_from_the_stored_external_run_in_a_new_runner(kit, make_kit):
    c = kit.sim.add_connector(CID)
    ext = kit.run(kit.runner.start, kit.ctx())
    kit.clock.advance(50)
    # a new process: a new host and runner, only the stored ExternalRun
    stored = ExternalRun(id=None, started_at=ext.started_at, data=dict(ext.data))
    fresh = make_kit.__new__(make_kit)
    fresh.__dict__.update(kit.__dict__)
    fresh.host = make_host(orchestra_fivetran.plugin)
    fresh.host.set_transport("fivetran", kit.sim.transport)
    fresh.runner = FivetranSyncRunner(fresh.host)
    result = fresh.run(fresh.runner.wait, fresh.ctx(), stored)
    assert result.state is JobState.SUCCEEDED
    assert (c.triggers, c.syncs) == (1, 1)


def test_resume_after_the_sync_already_ended_finishes_at_once(kit):
    c = kit.sim.add_connector(CID)
    ext = kit.run(kit.runner.start, kit.ctx())
    kit.clock.advance(3600)
    ctx = kit.ctx()
    result = kit.run(kit.runner.wait, ctx, ext)
    assert result.state is JobState.SUCCEEDED and result.metadata["polls"] == 1
    assert ctx.sleeps == []
    assert c.triggers == 1


def intent_of(kit, c, **facts):
    """The intent ``start`` records for connection *c* as it is now."""
    details = c.details()
    return Intent(recorded_at=kit.clock.now(), facts={
        "succeeded_at": details["succeeded_at"], "failed_at": details["failed_at"],
        "sync_state": details["status"]["sync_state"], "force": False, **facts})


def test_recover_without_an_intent_adopts_nothing(kit):
    """No intent recorded: the trigger was never sent, whatever the connection shows."""
    c = kit.sim.add_connector(CID)
    ctx = kit.ctx()
    ctx.started_at = kit.clock.now()
    kit.sim.start_sync(CID)
    assert kit.run(kit.runner.recover, ctx) is None  # a sync running
    kit.clock.advance(600)
    assert kit.run(kit.runner.recover, ctx) is None  # a sync that ended after the start
    assert c.triggers == 1


def test_recover_adopts_a_sync_that_began_after_the_intent(kit):
    c = kit.sim.add_connector(CID)
    ctx = kit.ctx()
    ctx.intent = intent_of(kit, c)
    kit.sim.start_sync(CID)  # the interrupted start's trigger
    ext = kit.run(kit.runner.recover, ctx)
    assert ext is not None and ext.data["joined"] is False
    result = kit.run(kit.runner.wait, ctx, ext)
    assert result.state is JobState.SUCCEEDED and c.triggers == 1


def test_recover_adopts_a_sync_that_began_and_ended_after_the_intent(kit):
    c = kit.sim.add_connector(CID, outcomes=["failure"])
    c.succeeded_at = kit.clock.now() - timedelta(days=1)
    ctx = kit.ctx()
    ctx.intent = intent_of(kit, c)
    kit.sim.start_sync(CID)
    kit.clock.advance(600)
    ext = kit.run(kit.runner.recover, ctx)
    assert ext is not None
    assert kit.run(kit.runner.wait, ctx, ext).state is JobState.FAILED  # its real outcome
    assert c.triggers == 1


def test_recover_never_adopts_a_sync_running_at_the_intent(kit):
    """The false success of issue 13: a sync that was already running when the intent was
    recorded ends after the attempt began; it is not this task's, so the task triggers."""
    c = kit.sim.add_connector(CID)
    kit.sim.start_sync(CID)  # an automatic sync
    ctx = kit.ctx()
    ctx.started_at = kit.clock.now()
    ctx.intent = intent_of(kit, c)
    kit.clock.advance(7200)
    c = kit.sim.connector(CID)
    assert c.sync_state == "scheduled" and c.succeeded_at is not None
    assert kit.run(kit.runner.recover, ctx) is None
    kit.sim.start_sync(CID)
    assert kit.run(kit.runner.recover, ctx) is None  # nor a later one: it cannot tell


def test_recover_finds_nothing_when_no_sync_was_started(kit):
    c = kit.sim.add_connector(CID)
    c.succeeded_at = kit.clock.now() - timedelta(days=1)
    ctx = kit.ctx()
    ctx.started_at = kit.clock.now()
    ctx.intent = intent_of(kit, c)
    kit.clock.advance(60)
    assert kit.run(kit.runner.recover, ctx) is None


def test_start_records_its_intent_before_the_trigger(kit):
    c = kit.sim.add_connector(CID)
    c.succeeded_at = kit.clock.now() - timedelta(days=1)
    ctx = kit.ctx()
    kit.run(kit.runner.start, ctx)
    [intent] = ctx.intents
    assert intent.facts["succeeded_at"] == c.details()["succeeded_at"]
    assert intent.facts["sync_state"] == "scheduled" and intent.facts["failed_at"] is None


# -- cancel ---------------------------------------------------------------------------------


def test_cancel_leaves_the_sync_running_by_default(kit):
    c = kit.sim.add_connector(CID)
    ctx = kit.ctx()
    ext = kit.run(kit.runner.start, ctx)
    kit.run(kit.runner.cancel, ctx, ext)
    assert c.sync_state == "syncing" and not c.paused
    assert ("warning", f"Fivetran has no cancel: the sync of connection {CID} goes on (set "
            "pause_on_cancel to pause the connection instead)") in ctx.logs


def test_cancel_pauses_the_connection_with_pause_on_cancel(kit):
    c = kit.sim.add_connector(CID)
    ctx = kit.ctx(pause_on_cancel=True)
    ext = kit.run(kit.runner.start, ctx)
    kit.run(kit.runner.cancel, ctx, ext)
    assert c.paused and c.sync_state == "paused" and c.current is None
