"""The ``hightouch_sync`` runner against the in-process simulator on a fake clock."""

from __future__ import annotations

import json

import httpx
import orchestra_hightouch.plugin
import pytest
from orchestra_hightouch.runner import HightouchSyncRunner, UnknownRunStatus

from orchestra_core import ExternalRun, JobRunner, JobState, RecoveringJobRunner, TaskFailed
from orchestra_core.testing import Failure, make_host


async def test_trigger_wait_success_with_stats(kit):
    ctx = kit.ctx(poll_interval=2.0)
    run, result = await kit.sync(ctx)
    [sim_run] = kit.sim.runs("1001")
    assert isinstance(run.id, str) and run.id == str(sim_run.id)
    assert run.started_at == sim_run.created_at
    assert run.data == {"sync_id": "1001", "sync_slug": "daily-accounts", "full_resync": False,
                        "workspace_id": kit.sim.workspace.id, "destination_id": "8001",
                        "model_id": "10001"}
    assert result.state is JobState.SUCCEEDED
    assert result.message == f"Hightouch sync 1001 (daily-accounts) run {run.id} succeeded " \
        "(100 rows synced)"
    meta = result.metadata
    assert meta["run_id"] == run.id and meta["status"] == "success"
    assert meta["planned_rows"] == {"added": 100, "changed": 0, "removed": 0, "total": 100}
    assert meta["successful_rows"]["total"] == 100 and meta["failed_rows"]["total"] == 0
    assert meta["query_size"] == 100 and meta["completion_ratio"] == 1
    assert meta["finished_at"] == "2026-01-01T00:00:08.000Z"
    json.dumps(meta)  # stored as JSON
    # 8 s run polled every 2 s: the final read at 8 s
    assert kit.clock.monotonic() == 8.0
    logged = [m for _, m in ctx.logs]
    assert f"triggered Hightouch sync 1001 (daily-accounts): run {run.id}" in logged
    assert f"Hightouch sync 1001 (daily-accounts) run {run.id} is querying" in logged
    assert any(m.startswith(f"Hightouch sync 1001 (daily-accounts) run {run.id} is processing")
               for m in logged)


async def test_trigger_sends_full_resync(kit):
    run, result = await kit.sync(kit.ctx(full_resync=True))
    assert kit.sim.run(run.id).full_resync is True
    assert kit.sim.requests[-1].path.endswith("/runs")
    [trigger] = [r for r in kit.sim.requests if r.method == "POST"]
    assert trigger.path == "/api/v1/syncs/1001/trigger"
    assert trigger.json() == {"fullResync": True}
    assert trigger.headers["authorization"] == f"Bearer {kit.sim.token}"
    assert result.metadata["full_resync"] is True


async def test_sync_named_by_slug(kit):
    run, result = await kit.sync(kit.ctx(sync_slug="daily-accounts"))
    assert run.data["sync_id"] == "1001"
    assert result.state is JobState.SUCCEEDED
    lookup = [r for r in kit.sim.requests if r.path == "/api/v1/syncs"]
    assert lookup[0].query == {"slug": "daily-accounts"}


async def test_run_id_is_a_string_on_trigger_and_a_number_when_listed(kit):
    run = await kit.runner.start(kit.ctx())
    trigger_answer = kit.sim.run(run.id)
    assert isinstance(run.id, str)
    async with httpx.AsyncClient(transport=kit.sim.transport, base_url=kit.sim.base_url) as client:
        answer = (await client.get("/syncs/1001/runs", params={"runId": run.id},
                                   headers={"Authorization": f"Bearer {kit.sim.token}"})).json()
    assert answer["data"][0]["id"] == trigger_answer.id and isinstance(
        answer["data"][0]["id"], int)
    result = await kit.runner.wait(kit.ctx(), run)
    assert result.metadata["run_id"] == run.id


async def test_warning_is_success_by_default(kit):
    run, result = await kit.sync(kit.ctx(syncid="1002"))
    assert result.state is JobState.SUCCEEDED
    assert result.message == f"Hightouch sync 1002 (braze-audiences) run {run.id} succeeded " \
        "with warnings (97 rows synced, 3 rows rejected)"
    assert result.metadata["status"] == "warning"
    assert result.metadata["failed_rows"]["added"] == 3


async def test_warning_fails_with_fail_on_warning(kit):
    run, result = await kit.sync(kit.ctx(syncid="1002", fail_on_warning=True))
    assert result.state is JobState.FAILED
    assert result.message == f"Hightouch sync 1002 (braze-audiences) run {run.id} finished " \
        "with warnings (97 rows synced, 3 rows rejected) and fail_on_warning is set"


async def test_failed_run_reports_the_error(kit):
    run, result = await kit.sync(kit.ctx(syncid="1003"))
    assert result.state is JobState.FAILED
    assert result.message == (
        f"Hightouch sync 1003 (salesforce-leads) run {run.id} failed (0 rows synced, 100 rows "
        "rejected): Destination rejected the request: invalid API key for the destination")
    assert result.metadata["error"].startswith("Destination rejected")


@pytest.mark.parametrize("status, state", [("interrupted", JobState.FAILED),
                                           ("cancelled", JobState.CANCELLED)])
async def test_run_stopped_at_hightouch(kit, status, state):
    ctx = kit.ctx()
    run = await kit.runner.start(ctx)
    kit.clock.advance(3)
    kit.sim.stop_run(run.id, status)
    result = await kit.runner.wait(ctx, run)
    assert result.state is state
    assert result.metadata["status"] == status
    if status == "cancelled":
        assert result.message.endswith("was cancelled in Hightouch")
    else:
        assert result.message == f"Hightouch sync 1001 (daily-accounts) run {run.id} " \
            "interrupted (25 rows synced): The sync run was interrupted"


async def test_scripted_outcomes_per_run(kit):
    kit.sim.sync("1001").script.extend(["failed", "success"])
    _, first = await kit.sync(kit.ctx())
    _, second = await kit.sync(kit.ctx())
    assert (first.state, second.state) == (JobState.FAILED, JobState.SUCCEEDED)


async def test_run_queued_behind_the_active_run(kit):
    ctx = kit.ctx(poll_interval=1.0)
    first = await kit.runner.start(ctx)
    kit.clock.advance(2)
    second = await kit.runner.start(ctx)
    result = await kit.runner.wait(ctx, second)
    assert result.state is JobState.SUCCEEDED
    # the second run waited for the first (done at 8 s), then ran its own 8 s
    assert kit.clock.monotonic() == 16.0
    assert result.metadata["created_at"] == "2026-01-01T00:00:02.000Z"
    assert result.metadata["started_at"] == "2026-01-01T00:00:08.000Z"
    assert (await kit.runner.wait(ctx, first)).state is JobState.SUCCEEDED
    logged = [m for _, m in ctx.logs]
    assert f"Hightouch sync 1001 (daily-accounts) run {second.id} is queued" in logged


async def test_unknown_final_status_is_an_error_with_the_raw_run_logged(kit):
    kit.sim.sync("1001").outcome = "exploded"
    ctx = kit.ctx()
    run = await kit.runner.start(ctx)
    with pytest.raises(UnknownRunStatus) as info:
        await kit.runner.wait(ctx, run)
    assert info.value.retryable is False
    assert str(info.value).startswith(
        f"Hightouch reported the unknown status 'exploded' for run {run.id} of sync 1001 "
        "(daily-accounts); the orchestra-hightouch plugin knows: queued, querying")
    [line] = [m for level, m in ctx.logs if level == "error"]
    assert line.startswith(f"Hightouch sent an unknown status for run {run.id} of sync 1001 "
                           "(daily-accounts): {")
    assert '"status": "exploded"' in line
    assert info.value.metadata["status"] == "exploded"


async def test_unknown_in_progress_status_is_an_error(kit):
    kit.sim.sync("1001").status_override = "thinking"
    ctx = kit.ctx()
    run = await kit.runner.start(ctx)
    with pytest.raises(UnknownRunStatus, match="unknown status 'thinking'"):
        await kit.runner.wait(ctx, run)


async def test_unknown_status_log_is_redacted(kit):
    kit.host.redactor.add("ht-leaky-secret-value")
    kit.sim.fail("GET", "/api/v1/syncs/1001/runs", Failure.rewrite_json(lambda body: {
        **body, "data": [{**body["data"][0], "status": "odd",
                          "error": "key ht-leaky-secret-value refused"}]}), times=None)
    ctx = kit.ctx()
    run = await kit.runner.start(ctx)
    with pytest.raises(UnknownRunStatus):
        await kit.runner.wait(ctx, run)
    [line] = [m for level, m in ctx.logs if level == "error"]
    assert '"error": "key ***** refused"' in line and '"status": "odd"' in line
    assert "ht-leaky-secret-value" not in line


async def test_disabled_sync_is_refused_before_triggering(kit):
    with pytest.raises(TaskFailed) as info:
        await kit.runner.start(kit.ctx(syncid="1004"))
    assert str(info.value) == ("Hightouch sync 1004 (legacy-export) is disabled: enable it in "
                               "Hightouch before running it")
    assert info.value.retryable is False
    assert kit.sim.count("POST") == 0


async def test_unknown_sync_id(kit):
    with pytest.raises(TaskFailed) as info:
        await kit.runner.start(kit.ctx(syncid="999"))
    assert str(info.value).startswith("Hightouch has no sync with id '999' in this workspace")
    assert info.value.retryable is False


async def test_unknown_sync_slug(kit):
    with pytest.raises(TaskFailed) as info:
        await kit.runner.start(kit.ctx(sync_slug="nope"))
    assert str(info.value) == "Hightouch has no sync with slug 'nope' in this workspace"
    assert info.value.retryable is False


async def test_no_connection_names_the_environment_variables(kit):
    with pytest.raises(TaskFailed) as info:
        await kit.runner.start(kit.ctx(connection=None))
    assert str(info.value) == (
        "no Hightouch connection: set HIGHTOUCH_API_TOKEN (and HIGHTOUCH_BASE_URL for another "
        "API root), or create a connection with `orchestra connections add` and name it in the "
        "task's secondary_configuration_id")
    assert info.value.retryable is False


async def test_bad_api_key_is_a_clear_redacted_error(kit):
    bad = "ht-wrong-key-123456"
    with pytest.raises(TaskFailed) as info:
        await kit.runner.start(kit.ctx(connection=kit.sim.connection(token=bad)))
    assert info.value.retryable is False
    assert "HTTP 401: Authentication error" in str(info.value)
    assert bad not in str(info.value) and bad not in json.dumps(info.value.metadata)


async def test_resume_in_a_new_process_does_not_trigger_again(kit):
    run = await kit.runner.start(kit.ctx())
    stored = ExternalRun(id=run.id, started_at=run.started_at,
                         data=json.loads(json.dumps(dict(run.data))))
    kit.clock.advance(3)
    later = make_host(orchestra_hightouch.plugin)  # a new process: new host, new runner
    later.set_transport("hightouch", kit.sim.transport)
    runner = later.runner(later.find_job("hightouch", "hightouch_sync"))
    assert runner is not kit.runner
    result = await runner.wait(kit.ctx(), stored)
    assert result.state is JobState.SUCCEEDED and result.metadata["run_id"] == run.id
    assert kit.sim.count("POST") == 1
    assert len(kit.sim.runs()) == 1


async def test_cancel_is_a_logged_no_op(kit):
    ctx = kit.ctx()
    run = await kit.runner.start(ctx)
    requests = kit.sim.count()
    await kit.runner.cancel(ctx, run)
    assert kit.sim.count() == requests
    assert ctx.logs[-1] == ("warning", f"Hightouch's API cannot cancel sync runs: run {run.id} "
                            "of sync 1001 (daily-accounts) keeps running at Hightouch (cancel "
                            "it there if needed)")


async def test_recover_adopts_the_run_in_progress(kit):
    assert isinstance(kit.runner, RecoveringJobRunner)
    ctx = kit.ctx()
    run = await kit.runner.start(ctx)  # its ExternalRun was "lost" in a crash
    kit.clock.advance(3)
    assert await kit.runner.recover(kit.ctx()) is None  # no intent: nothing was sent
    found = await kit.runner.recover(ctx)  # the intent start recorded
    assert found is not None and found.id == run.id
    assert found.data["recovered"] is True and found.data["sync_id"] == "1001"
    assert found.started_at == run.started_at
    assert kit.sim.count("POST") == 1
    listed = [r for r in kit.sim.requests if r.path.endswith("/runs")][-1]
    assert listed.query["after"] == "2025-12-31T23:59:55.000Z"  # the intent, less 5 s skew
    assert (await kit.runner.wait(kit.ctx(), found)).state is JobState.SUCCEEDED


async def test_recover_uses_the_attempt_start_when_known(kit):
    ctx = kit.ctx()
    kit.clock.advance(100)
    ctx.started_at = kit.clock.now()
    run = await kit.runner.start(ctx)
    kit.clock.advance(50)  # finished long ago: still ours, created after the attempt began
    found = await kit.runner.recover(ctx)
    assert found is not None and found.id == run.id


async def test_recover_finds_nothing(kit):
    await kit.sync(kit.ctx())  # an earlier, finished run is not ours
    assert await kit.runner.recover(kit.ctx()) is None


def test_runner_type(kit):
    assert isinstance(kit.runner, HightouchSyncRunner)
    assert isinstance(kit.runner, JobRunner)
