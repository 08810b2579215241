"""The Amperity runner driven directly (StubContext, fake clock) against the simulator: every
quirk of the API the plugin handles."""

import itertools

import anyio
import pytest

from orchestra_core import Connection, Intent, JobState, TaskFailed
from orchestra_core.testing import Failure, StubContext

pytestmark = pytest.mark.anyio


def starts(sim):
    return [r for r in sim.requests if r.method == "POST" and r.path == "/api/workflow/runs"]


async def test_every_call_carries_token_tenant_and_version(kit):
    await kit.run(kit.ctx())
    assert len(kit.sim.requests) >= 3
    for request in kit.sim.requests:
        assert request.headers["authorization"] == "Bearer secret-token:amperity-simulator"
        assert request.headers["amperity-tenant"] == "orchestra-sim"
        assert request.headers["api-version"] == "2024-04-01"
    polls = [r for r in kit.sim.requests if r.method == "GET"]
    assert polls and all(r.query == {"view": "verbose"} for r in polls)


async def test_start_body_and_result_metadata(kit):
    ctx = kit.ctx(run_mode="source", range_from="2026-03-01T00:00:00Z",
                  range_to="2026-03-02T00:00:00Z")
    run, result = await kit.run(ctx)
    [start] = starts(kit.sim)
    assert start.json() == {"config_id": "cg-4xTz9m2", "run_mode": "source",
                            "range_from": "2026-03-01T00:00:00Z",
                            "range_to": "2026-03-02T00:00:00Z"}
    assert run.id.startswith("wf-") and run.data["workflow_id"] == run.id
    assert result.state is JobState.SUCCEEDED
    assert result.message == f"Amperity courier group cg-4xTz9m2 workflow {run.id} succeeded " \
                             "(4 tasks)"
    meta = result.metadata
    assert meta["state"] == "succeeded" and meta["tenant"] == "orchestra-sim"
    assert meta["workflow_type"] == "courier.group/run" and meta["run_mode"] == "source"
    assert meta["run_mode_from"] == "parameter"
    assert meta["duration_seconds"] == 10.0
    assert [t["label"] for t in meta["task_instances"]] == [
        "Ingest files", "Refresh domain tables", "Run Stitch", "Refresh databases"]
    first = meta["task_instances"][0]
    assert first["state"] == "succeeded"
    assert {"id", "created_at", "ended_at", "state_changed_at"} <= set(first)


@pytest.mark.parametrize("config_id", ["og-8qLw3p1", "cc-2bNf7k5"])
async def test_other_jobs_send_only_the_config_id(kit, config_id):
    _, result = await kit.run(kit.ctx(config_id, run_type="refresh"))
    [start] = starts(kit.sim)
    assert start.json() == {"config_id": config_id}
    assert result.state is JobState.SUCCEEDED


@pytest.mark.parametrize(("run_type", "sent"), [
    (None, None), ("full", None), ("refresh", "refresh"), ("source", "source")])
async def test_run_mode_follows_the_pipeline_run_type_when_unset(kit, run_type, sent):
    run, _ = await kit.run(kit.ctx(run_type=run_type))
    [start] = starts(kit.sim)
    assert start.json().get("run_mode") == sent
    assert run.data.get("run_mode_from") == ("run type" if sent else None)


async def test_an_explicit_run_mode_wins_over_the_run_type(kit):
    await kit.run(kit.ctx(run_type="source", run_mode="full"))
    assert starts(kit.sim)[0].json()["run_mode"] == "full"


@pytest.mark.parametrize("style", ["hyphen", "underscore", "display"])
async def test_multi_word_states_are_normalised(make_kit, style):
    kit = make_kit(state_style=style)
    kit.sim.add_config("cg-slow1", duration=60, outcome="running-with-failures",
                       attribution="platform")
    ctx = kit.ctx("cg-slow1", poll_interval=5)
    with pytest.raises(TaskFailed) as info:
        await kit.run(ctx)
    said = [m for _, m in ctx.logs]
    assert any(m.endswith(" is in-progress") for m in said)
    warnings = [m for level, m in ctx.logs if level == "warning"]
    assert len(warnings) == 1 and "running with failures" in warnings[0]
    assert "failed tasks: Ingest files" in warnings[0]
    assert info.value.metadata["state"] == "failed"


async def test_platform_failures_are_retryable(make_kit):
    kit = make_kit()
    kit.sim.add_config("og-flaky1", outcome="failed", attribution="platform",
                       error_message="Spark cluster lost")
    with pytest.raises(TaskFailed) as info:
        await kit.run(kit.ctx("og-flaky1"))
    assert info.value.retryable is True
    assert "failed in task Run orchestrations: Spark cluster lost (an Amperity platform " \
           "error" in str(info.value)
    meta = info.value.metadata
    assert meta["error"] == {"attribution": "platform",
                             "type": "amperity.workflow.task.stitch/table",
                             "message": "Spark cluster lost"}
    [task] = meta["task_instances"]
    assert task["state"] == "failed" and task["error"]["message"] == "Spark cluster lost"


async def test_customer_failures_are_not_retried_and_say_why(kit):
    with pytest.raises(TaskFailed) as info:
        await kit.run(kit.ctx("og-5bRkn01"))
    assert info.value.retryable is False
    assert "column 'email' is missing (a configuration error to fix in Amperity)" in \
        str(info.value)


async def test_unknown_state_is_an_error_with_the_raw_payload_logged(make_kit):
    kit = make_kit()
    kit.sim.add_config("cg-odd1", working_state="Pondering")
    ctx = kit.ctx("cg-odd1")
    ctx.connection = Connection(name="a", integration="amperity", base_url=kit.sim.base_url,
                                options={"tenant": "orchestra-sim"},
                                secrets={"token": "secret-token:amperity-simulator"})
    with pytest.raises(TaskFailed) as info:
        await kit.run(ctx)
    assert info.value.retryable is False
    assert "unknown workflow state 'Pondering'" in str(info.value)
    [error] = [m for level, m in ctx.logs if level == "error"]
    assert '"state": "Pondering"' in error and '"task_instances"' in error
    assert "secret-token:amperity-simulator" not in error


async def test_unknown_final_state_via_injection(kit):
    ctx = kit.ctx("og-8qLw3p1")
    runner = kit.runner("og-8qLw3p1")
    run = await runner.start(ctx)
    kit.sim.fail("GET", "/api/workflow/runs/*", Failure.rewrite_json(
        lambda body: {**body, "state": "half_done"}))
    with pytest.raises(TaskFailed, match="unknown workflow state 'half_done'"):
        await runner.wait(ctx, run)


async def test_cancel_stops_the_workflow(kit):
    ctx = kit.ctx(poll_interval=1)
    runner = kit.runner()
    run = await runner.start(ctx)
    await runner.cancel(ctx, run)
    assert kit.sim.count("POST", "/api/workflow/runs/*/stop") == 1
    result = await runner.wait(ctx, run)
    assert result.state is JobState.CANCELLED
    assert result.message.endswith("was canceled: Workflow manually stopped")
    await runner.cancel(ctx, run)  # stopping twice is harmless
    assert ctx.logs[-1] == ("warning", f"asked Amperity to stop workflow {run.id}: it is "
                            "canceled")
    # stopping a workflow that already ended is a warning, not an error
    done, _ = await kit.run(ctx)
    await runner.cancel(ctx, done)
    assert ctx.logs[-1][0] == "warning"
    assert f"workflow {done.id} not stopped" in ctx.logs[-1][1]
    assert "HTTP 409: A request conflicts with the current state" in ctx.logs[-1][1]


async def test_cancel_while_waiting_stops_at_amperity(kit):
    ctx = kit.ctx(poll_interval=1)
    runner = kit.runner()
    run = await runner.start(ctx)
    waited = []

    async def wait():
        waited.append(await runner.wait(ctx, run))

    async with anyio.create_task_group() as tg:  # the engine cancels the wait, then cancel()
        tg.start_soon(wait)
        await kit.clock.sleep(4)
        tg.cancel_scope.cancel()
    assert waited == [] and kit.sim.run(run.id)["state"] == "in-progress"
    await runner.cancel(ctx, run)
    assert kit.sim.run(run.id)["state"] == "canceled"


async def test_resume_with_a_new_runner_does_not_start_again(kit, make_kit):
    ctx = kit.ctx()
    run = await kit.runner().start(ctx)
    other = make_kit()
    other.sim, other.clock = kit.sim, kit.clock
    other.host.set_transport("amperity", kit.sim.transport)
    fresh = other.runner()
    assert fresh is not kit.runner()
    result = await fresh.wait(kit.ctx(), run)
    assert result.state is JobState.SUCCEEDED
    assert len(starts(kit.sim)) == 1


async def test_recover_adopts_the_workflow_of_the_interrupted_start(kit):
    ctx = kit.ctx("og-8qLw3p1")
    ctx.started_at = kit.clock.now()
    await kit.runner("og-8qLw3p1").start(ctx)  # "crash" before the run is recorded
    recovered = await kit.runner("og-8qLw3p1").recover(ctx)
    [sim_run] = kit.sim.runs()
    assert recovered.id == sim_run.id and recovered.data["recovered"] is True
    listing = [r for r in kit.sim.requests if r.method == "GET"
               and r.path == "/api/workflow/runs"]
    assert listing[-1].query["type"] == "amperity.orchestration.orchestration/run"
    assert "created_from" in listing[-1].query
    result = await kit.runner("og-8qLw3p1").wait(ctx, recovered)
    assert result.state is JobState.SUCCEEDED


async def test_recover_finds_nothing_when_nothing_started(kit):
    ctx = kit.ctx()
    ctx.started_at = kit.clock.now()
    await kit.run(kit.ctx("og-8qLw3p1"))  # another kind of workflow does not count
    assert await kit.runner().recover(ctx) is None


async def test_recover_without_an_intent_adopts_nothing(kit):
    runner = kit.runner()
    await kit.run(kit.ctx())  # finished: an earlier pipeline's
    ctx = kit.ctx()
    started = await runner.start(ctx)
    assert await runner.recover(kit.ctx()) is None  # no intent recorded: nothing was sent
    found = await runner.recover(ctx)  # the intent start recorded
    assert found.id == started.id


async def test_recover_refuses_to_guess_between_several(kit):
    ctx = kit.ctx()
    ctx.intent = Intent(recorded_at=kit.clock.now())
    kit.sim.add_config("cg-other1")
    await kit.runner().start(kit.ctx())
    await kit.runner().start(kit.ctx("cg-other1"))
    with pytest.raises(TaskFailed, match="several workflows of that type"):
        await kit.runner().recover(ctx)


async def test_missing_range_from_for_a_file_based_courier_group(kit):
    with pytest.raises(TaskFailed) as info:
        await kit.runner().start(kit.ctx("cg-7sFtp01"))
    assert info.value.retryable is False
    message = str(info.value)
    assert "HTTP 400: range_from is required for the file-based courier group" in message
    assert "file-based courier groups (SFTP, S3, Azure Blob, GCS) need range_from" in message
    _, result = await kit.run(kit.ctx("cg-7sFtp01", range_from="2026-03-01T00:00:00Z"))
    assert result.state is JobState.SUCCEEDED


async def test_unknown_config_is_a_clear_error(kit):
    with pytest.raises(TaskFailed) as info:
        await kit.runner().start(kit.ctx("cg-nope"))
    assert info.value.retryable is False
    assert "Amperity has no courier group 'cg-nope' in tenant 'orchestra-sim'" in \
        str(info.value)


# -- connections and credentials ---------------------------------------------------------------


async def test_no_connection_names_the_environment_variables(kit):
    with pytest.raises(TaskFailed) as info:
        await kit.runner().start(kit.ctx(connection=None))
    assert info.value.retryable is False
    for var in ("AMPERITY_TENANT", "AMPERITY_TOKEN", "AMPERITY_CLIENT_ID",
                "AMPERITY_CLIENT_SECRET"):
        assert var in str(info.value)
    assert kit.sim.requests == deque_empty(kit.sim)


def deque_empty(sim):
    return type(sim.requests)(maxlen=sim.requests.maxlen)


@pytest.mark.parametrize(("options", "secrets", "expected"), [
    ({}, {"token": "t"}, "names no tenant"),
    ({"tenant": "orchestra-sim"}, {}, "needs 'token'"),
    ({"tenant": "orchestra-sim"}, {"client_id": "x"}, "or 'client_id' and 'client_secret'"),
])
async def test_incomplete_connections(kit, options, secrets, expected):
    conn = Connection(name="amp", integration="amperity", base_url=kit.sim.base_url,
                      options=options, secrets=secrets)
    with pytest.raises(TaskFailed, match=expected) as info:
        await kit.runner().start(kit.ctx(connection=conn))
    assert info.value.retryable is False


async def test_wrong_tenant_is_401_with_a_hint(kit):
    kit.sim.add_tenant("other-tenant")
    conn = Connection(name="amp", integration="amperity", base_url=kit.sim.base_url,
                      options={"tenant": "other-tenant"},
                      secrets={"token": "secret-token:amperity-simulator"})
    with pytest.raises(TaskFailed) as info:
        await kit.runner().start(kit.ctx(connection=conn))
    message = str(info.value)
    assert "HTTP 401" in message and "tenant 'other-tenant'" in message
    assert "secret-token:amperity-simulator" not in message


async def test_oauth_token_is_shared_by_concurrent_tasks(kit):
    results = []

    async def one(i):
        results.append(await kit.run(kit.ctx(oauth=True)))

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(one, i)
    assert [r.state for _, r in results] == [JobState.SUCCEEDED] * 8
    assert kit.sim.count("POST", "/api/v0/oauth2/token") == 1
    [token_request] = [r for r in kit.sim.requests if r.path == "/api/v0/oauth2/token"]
    assert token_request.headers["x-amperity-tenant"] == "orchestra-sim"
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert token_request.body.decode() == (
        "grant_type=client_credentials&client_id=amperity-sim-client"
        "&client_secret=secret-client%3Aamperity-simulator")
    issued = next(iter(kit.sim.issued))
    api_calls = [r for r in kit.sim.requests if r.path != "/api/v0/oauth2/token"]
    assert {r.headers["authorization"] for r in api_calls} == {f"Bearer {issued}"}


async def test_oauth_token_is_refreshed_before_it_expires(make_kit):
    kit = make_kit(token_lifetime=100)
    kit.sim.add_config("cg-long1", duration=350)
    ctx = kit.ctx("cg-long1", oauth=True, poll_interval=10)
    _, result = await kit.run(ctx)
    assert result.state is JobState.SUCCEEDED
    # refreshed every 90 s (100 s less a tenth): never an expired token, never a 401
    tokens = [r for r in kit.sim.requests if r.path == "/api/v0/oauth2/token"]
    assert len(tokens) == 4
    gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(tokens)]
    assert all(89 <= g <= 100 for g in gaps), gaps
    assert not any("401" in m for _, m in ctx.logs)
    assert len(kit.sim.issued) == 4


async def test_a_revoked_token_is_renewed_once(kit):
    ctx = kit.ctx(oauth=True)
    runner = kit.runner()
    run = await runner.start(ctx)
    kit.sim.issued.clear()  # Amperity forgot the token early
    result = await runner.wait(ctx, run)
    assert result.state is JobState.SUCCEEDED
    assert kit.sim.count("POST", "/api/v0/oauth2/token") == 2
    assert ("warning", "Amperity rejected the access token (401); getting a new one") in \
        ctx.logs


async def test_bad_client_credentials_are_not_retried(kit):
    conn = Connection(name="amp", integration="amperity", base_url=kit.sim.base_url,
                      options={"tenant": "orchestra-sim"},
                      secrets={"client_id": "amperity-sim-client", "client_secret": "wrong-1"})
    with pytest.raises(TaskFailed) as info:
        await kit.runner().start(kit.ctx(connection=conn))
    assert info.value.retryable is False
    assert "refused the client credentials of tenant 'orchestra-sim'" in str(info.value)
    assert "wrong-1" not in str(info.value)
    assert kit.sim.count("POST", "/api/v0/oauth2/token") == 1


async def test_oauth_tokens_belong_to_the_host(kit):
    import orchestra_amperity.plugin

    from orchestra_core.testing import make_host

    def bearers():
        return {r.headers["authorization"].removeprefix("Bearer ") for r in kit.sim.requests
                if r.path != "/api/v0/oauth2/token"}

    host = kit.host
    runners = [host.runner(host.find_job("amperity", job)) for job in (
        "amperity_courier_group", "amperity_orchestration_group", "amperity_campaign")]
    assert all(r.tokens is runners[0].tokens for r in runners)  # one cache per host
    await kit.run(kit.ctx("og-8qLw3p1", oauth=True))
    await kit.run(kit.ctx(oauth=True))  # another job of the same host: the same token
    assert kit.sim.count("POST", "/api/v0/oauth2/token") == 1
    [token_a] = bearers()
    other = make_host(orchestra_amperity.plugin)
    other.set_transport("amperity", kit.sim.transport)
    runner = other.runner(other.find_job("amperity", "amperity_courier_group"))
    assert runner.tokens is not runners[0].tokens and len(runner.tokens) == 0
    ctx = kit.ctx(oauth=True)
    assert (await runner.wait(ctx, await runner.start(ctx))).state is JobState.SUCCEEDED
    assert kit.sim.count("POST", "/api/v0/oauth2/token") == 2  # the other host fetches its own
    [token_b] = bearers() - {token_a}
    assert token_a in host.redactor and token_a not in other.redactor
    assert token_b in other.redactor and token_b not in host.redactor


async def test_static_token_never_calls_the_token_endpoint(kit):
    await kit.run(kit.ctx())
    assert kit.sim.count("POST", "/api/v0/oauth2/token") == 0


# -- the tenant's 10 requests per second -------------------------------------------------------


async def test_concurrent_tasks_share_the_tenant_rate_limit(make_kit):
    kit = make_kit()
    kit.sim.add_config("og-many1", duration=20)
    states = []

    async def one():
        _, result = await kit.run(kit.ctx("og-many1", poll_interval=0.5))
        states.append(result.state)

    async with anyio.create_task_group() as tg:
        for _ in range(40):
            tg.start_soon(one)
    assert states == [JobState.SUCCEEDED] * 40
    assert kit.sim.rejected_by_rate_limit == 0
    # never more than 10 requests in any second of the fake clock
    times = sorted(r.at.timestamp() for r in kit.sim.requests)
    assert all(times[i + 10] - times[i] >= 1.0 - 1e-6 for i in range(len(times) - 10))


async def test_another_tenant_has_its_own_budget(make_kit):
    kit = make_kit()
    kit.sim.add_tenant("second", token="second-token")
    kit.sim.add_config("og-t2", tenant="second")
    kit.sim.add_config("og-t1")
    conn2 = Connection(name="b", integration="amperity", base_url=kit.sim.base_url,
                       options={"tenant": "second"}, secrets={"token": "second-token"})
    started = kit.clock.monotonic()
    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(kit.runner("og-t1").start, kit.ctx("og-t1"))
            tg.start_soon(kit.runner("og-t2").start, kit.ctx("og-t2", connection=conn2))
    assert kit.clock.monotonic() - started < 1.0  # 10 + 10: no tenant had to wait
    assert len(kit.sim.runs("second")) == 10 and len(kit.sim.runs()) == 10


def test_stub_context_is_a_task_context():
    from orchestra_core import TaskContext

    assert isinstance(StubContext(None), TaskContext)
