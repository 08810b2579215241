import anyio
import orchestra_census.plugin
import pytest
from orchestra_census import CensusSync
from orchestra_census.runner import CensusSyncRunner
from orchestra_census.sync_runs import UnknownSyncRunStatus
from orchestra_census.testing import DEFAULT_TOKEN, CensusSimulator

from orchestra_core import Connection, Intent, JobState, TaskFailed, VendorHTTPError
from orchestra_core.testing import FakeClock, StubContext, make_host


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


def setup(clock=None, *, token=DEFAULT_TOKEN, **params):
    clock = clock or FakeClock(autojump=True)
    sim = CensusSimulator(clock=clock)
    sim.add_sync(52, "accounts to salesforce", destination_object="Account",
                 destination_connection_id=15, queued_for=2, working_for=20, records=120,
                 records_failed=2)
    host = make_host(orchestra_census.plugin)
    host.set_transport("census", sim.transport)
    runner = host.runner(host.find_job("census", "census_sync"))
    conn = Connection(name="census", integration="census", base_url=sim.base_url,
                      secrets={"token": token})
    ctx = StubContext(CensusSync(syncid=params.pop("syncid", 52), poll_interval=5.0,
                                 **params), clock=clock, connection=conn)
    return sim, runner, ctx


async def test_trigger_wait_success_with_stats_and_asset():
    sim, runner, ctx = setup()
    assert isinstance(runner, CensusSyncRunner)
    run = await runner.start(ctx)
    [sim_run] = sim.workspace.runs.values()
    assert run.id == str(sim_run.id)
    assert run.started_at == ctx.clock.now()
    assert run.data["sync_id"] == 52 and run.data["asset"] == "census:15/Account"
    assert sim_run.full_sync is False
    result = await runner.wait(ctx, run)
    assert result.state is JobState.SUCCEEDED
    assert result.message == f"sync run {sim_run.id} completed: 120 records processed, " \
        "118 updated, 2 failed"
    assert result.assets == ("census:15/Account",)
    meta = result.metadata
    assert meta["records_processed"] == 120 and meta["records_updated"] == 118
    assert meta["records_failed"] == 2 and meta["status"] == "completed"
    assert meta["sync_run_id"] == sim_run.id and meta["sync_label"] == "accounts to salesforce"
    assert meta["url"] == "http://census.simulator/syncs/52/sync-history"
    assert meta["destination"] == {"connection_id": 15, "object": "Account"}
    assert ctx.clock.monotonic() == 25.0  # reads at 0, 5, ..., 25; done after 22 s
    assert (("info", f"Census sync run {sim_run.id}: queued") in ctx.logs)
    assert (("info", f"Census sync run {sim_run.id}: working") in ctx.logs)


async def test_full_resync_is_sent():
    sim, runner, ctx = setup(force_full_sync=True)
    run = await runner.start(ctx)
    assert sim.workspace.runs[int(run.id)].full_sync is True
    result = await runner.wait(ctx, run)
    assert result.metadata["full_sync"] is True


async def test_failed_run_reports_census_error():
    sim, runner, ctx = setup()
    sim.script(52, outcome="failed", error_code="JSON_ARRAY_ERROR",
               error_message="The array field being used does not appear to be valid JSON")
    run = await runner.start(ctx)
    result = await runner.wait(ctx, run)
    assert result.state is JobState.FAILED
    assert result.message == (f"Census sync run {run.id} failed (JSON_ARRAY_ERROR): The array "
                              "field being used does not appear to be valid JSON")
    assert result.metadata["error_code"] == "JSON_ARRAY_ERROR"


async def test_skipped_run_fails_unless_told_otherwise():
    sim, runner, ctx = setup()
    sim.trigger(52, trigger="Schedule")  # an earlier run is still going
    run = await runner.start(ctx)
    result = await runner.wait(ctx, run)
    assert result.state is JobState.FAILED
    assert result.retryable is True
    assert "skipped" in result.message and "earlier run of sync 52" in result.message

    sim, runner, ctx = setup(fail_on_skipped=False)
    sim.trigger(52)
    result = await runner.wait(ctx, await runner.start(ctx))
    assert result.state is JobState.SUCCEEDED
    assert result.metadata["status"] == "skipped"


@pytest.mark.parametrize("phase", ["working_status", "outcome"])
async def test_unknown_status_raises_and_logs_the_payload(phase):
    sim, runner, ctx = setup()
    sim.script(52, **{phase: "preparing"})
    run = await runner.start(ctx)
    with pytest.raises(UnknownSyncRunStatus) as info:
        await runner.wait(ctx, run)
    assert "has status 'preparing', which this plugin does not know" in str(info.value)
    assert info.value.retryable is False
    assert info.value.metadata["sync_id"] == 52
    [line] = [m for level, m in ctx.logs if level == "error"]
    assert '"status": "preparing"' in line and "raw payload" in line
    assert DEFAULT_TOKEN not in line


async def test_unknown_sync_is_a_clear_error():
    sim, runner, ctx = setup(syncid=999)
    with pytest.raises(TaskFailed) as info:
        await runner.start(ctx)
    assert info.value.retryable is False
    assert "Census has no sync 999" in str(info.value)
    assert not sim.workspace.runs


async def test_bad_token_is_a_clear_redacted_error():
    _sim, runner, ctx = setup(token="secret-token:wrong-one")
    with pytest.raises(VendorHTTPError) as info:
        await runner.start(ctx)
    assert info.value.status == 401 and info.value.retryable is False
    assert "Invalid credentials" in str(info.value)
    assert "wrong-one" not in str(info.value)


async def test_no_connection_names_the_env_vars():
    _sim, runner, ctx = setup()
    ctx.connection = None
    with pytest.raises(TaskFailed) as info:
        await runner.start(ctx)
    assert "CENSUS_API_TOKEN" in str(info.value) and info.value.retryable is False


async def test_wait_resumes_from_the_stored_run_in_a_new_runner():
    sim, runner, ctx = setup()
    run = await runner.start(ctx)
    fresh = CensusSyncRunner(runner.host)
    assert (await fresh.wait(ctx, run)).state is JobState.SUCCEEDED
    assert len(sim.workspace.runs) == 1


async def test_cancel_while_waiting(orchestra_clock):
    sim, runner, ctx = setup(orchestra_clock)
    run = await runner.start(ctx)
    results = []

    async def wait():
        results.append(await runner.wait(ctx, run))

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        await anyio.wait_all_tasks_blocked()
        orchestra_clock.advance(5)
        await anyio.wait_all_tasks_blocked()
        await runner.cancel(ctx, run)
        orchestra_clock.advance(5)
    [result] = results
    assert result.state is JobState.CANCELLED
    assert result.metadata["canceled"] is True
    assert sim.run(int(run.id))["canceled"] is True


async def test_cancel_unknown_run_is_logged():
    sim, runner, ctx = setup()
    run = await runner.start(ctx)
    sim.workspace.runs.clear()
    await runner.cancel(ctx, run)
    assert ctx.logs[-1] == ("warning", f"Census sync run {run.id} not cancelled: Census does "
                                       "not know it")


async def test_recover_adopts_only_an_api_run_begun_after_the_intent():
    sim, runner, ctx = setup()
    earlier = sim.trigger(52)  # an earlier pipeline's run
    ctx.clock.advance(3600)
    assert await runner.recover(ctx) is None  # no intent recorded: nothing was sent
    ctx.intent = Intent(recorded_at=ctx.now(), facts={"latest_run_id": earlier.id})
    assert await runner.recover(ctx) is None  # only the run from before the intent
    sim.trigger(52, trigger="Schedule")
    assert await runner.recover(ctx) is None  # not triggered through the API
    ctx.clock.advance(3600)
    sim_run = sim.trigger(52)  # what the interrupted start created
    found = await runner.recover(ctx)
    assert found is not None and found.id == str(sim_run.id)
    assert found.data["recovered"] is True and found.data["asset"] == "census:15/Account"
    assert (await runner.wait(ctx, found)).state is JobState.SUCCEEDED
    # finished, and still provably begun after the intent
    assert (await runner.recover(ctx)).id == str(sim_run.id)
