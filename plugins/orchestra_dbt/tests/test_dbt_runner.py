"""The dbt_runjob runner against the in-process simulator on a fake clock."""

from datetime import timedelta

import pytest
from orchestra_dbt.runner import MAX_CAUSE, cause_with_marker, marker
from orchestra_dbt.testing import FAILING_JOB
from orchestra_dbt.testing import SUCCEEDING_JOB as JOB

from orchestra_core import Connection, ExternalRun, JobState, TaskFailed

TRIGGER = f"/api/v2/accounts/1/jobs/{JOB}/run/"


def posts(sim, pattern="/api/v2/accounts/*/jobs/*/run/"):
    return sim.count("POST", pattern)


async def test_start_triggers_the_job_and_returns_the_run(kit):
    ctx = kit.ctx(cause="Nightly build")
    run = await kit.runner.start(ctx)
    [sim_run] = kit.sim.runs_of_job(JOB)
    assert run.id == str(sim_run.id)
    assert run.started_at == kit.clock.now()
    assert run.data == {"account_id": 1, "job_id": JOB, "href": kit.sim.state.href(sim_run)}
    [request] = [r for r in kit.sim.requests if r.method == "POST"]
    assert request.path == TRIGGER
    assert request.headers["authorization"] == "Token dbt-test-token"
    assert request.json() == {"cause": f"Nightly build [orchestra {ctx.idempotency_key}]"}
    assert sim_run.cause == f"Nightly build [orchestra {ctx.idempotency_key}]"
    assert ctx.logs == [("info", f"dbt Cloud job {JOB} triggered: run {run.id} "
                                 f"({kit.sim.state.href(sim_run)})")]


async def test_steps_override_and_git_branch_are_sent(kit):
    ctx = kit.ctx(steps_override=("dbt seed", "dbt build -s tag:daily"), git_branch="release")
    await kit.runner.start(ctx)
    [request] = [r for r in kit.sim.requests if r.method == "POST"]
    assert request.json()["steps_override"] == ["dbt seed", "dbt build -s tag:daily"]
    assert request.json()["git_branch"] == "release"
    [sim_run] = kit.sim.runs_of_job(JOB)
    assert sim_run.steps_override == ("dbt seed", "dbt build -s tag:daily")
    assert sim_run.git_branch == "release"


def test_cause_is_cut_to_255_characters_keeping_the_marker():
    key = "9776d163-956d-4192-92c3-f35b2ff7059e/nightly_models/1"
    text = cause_with_marker("x" * 400, key)
    assert len(text) == MAX_CAUSE
    assert text.endswith(f"... [orchestra {key}]")
    assert cause_with_marker("  Nightly\n build ", key) == f"Nightly build [orchestra {key}]"
    long_key = "r/" + "t" * 300 + "/1"
    assert len(marker(long_key)) < 50
    assert len(cause_with_marker("x" * 400, long_key)) == MAX_CAUSE


async def test_wait_until_success_with_metadata_and_assets(kit):
    ctx = kit.ctx()
    run = await kit.runner.start(ctx)
    result = await kit.runner.wait(ctx, run)
    assert result.state is JobState.SUCCEEDED
    href = run.data["href"]
    assert result.message == f"dbt Cloud run {run.id} succeeded in 12 s: 4 models built ({href})"
    meta = result.metadata
    assert {k: meta[k] for k in ("run_id", "job_id", "account_id", "status",
                                 "status_humanized", "href", "duration_seconds",
                                 "queued_duration_seconds", "run_duration_seconds",
                                 "dbt_version", "git_branch")} == {
        "run_id": run.id, "job_id": JOB, "account_id": 1, "status": 10,
        "status_humanized": "Success", "href": href, "duration_seconds": 12.0,
        "queued_duration_seconds": 2.0, "run_duration_seconds": 10.0, "dbt_version": "1.8.0",
        "git_branch": "main"}
    assert meta["finished_at"] == "2026-01-01 00:00:12.000000+00:00"
    artifacts = meta["artifacts"]
    assert artifacts["counts"] == {"success": 4}
    assert [(n["name"], n["status"], n["relation"]) for n in artifacts["nodes"]] == [
        ("stg_orders", "success", "analytics.prod.stg_orders"),
        ("stg_customers", "success", "analytics.prod.stg_customers"),
        ("orders", "success", "analytics.prod.orders"),
        ("customers", "success", "analytics.prod.customers")]
    assert artifacts["nodes"][0]["unique_id"] == "model.analytics.stg_orders"
    assert artifacts["nodes"][0]["execution_time"] == 1.5
    assert result.assets == ("prod.stg_orders", "prod.stg_customers", "prod.orders",
                             "prod.customers")
    # polled every 5 s from the trigger: 1 (queued), 2 (starting), 3 (running)... then 10
    assert kit.sim.status(run.id) == 10
    assert kit.clock.monotonic() == 15.0
    assert ("info", f"dbt Cloud run {run.id} is Queued (1)") in ctx.logs
    assert ("info", f"dbt Cloud run {run.id} is Running (3)") in ctx.logs


async def test_a_failed_run_names_the_failing_models(kit):
    ctx = kit.ctx(jobid=FAILING_JOB)
    run = await kit.runner.start(ctx)
    result = await kit.runner.wait(ctx, run)
    assert result.state is JobState.FAILED
    assert result.message.startswith(
        f"dbt Cloud run {run.id} failed: Database Error in model orders; failed: orders (")
    assert result.retryable is None  # the task's retry policy decides
    assert result.metadata["status"] == 20
    assert result.metadata["artifacts"]["counts"] == {"error": 1, "skipped": 1, "success": 2}
    assert result.assets == ("prod.stg_orders", "prod.stg_customers")


async def test_a_run_cancelled_in_dbt_cloud_is_cancelled(kit):
    kit.sim.add_job(42, outcome="cancelled", duration=3)
    ctx = kit.ctx(jobid=42)
    run = await kit.runner.start(ctx)
    result = await kit.runner.wait(ctx, run)
    assert result.state is JobState.CANCELLED
    assert result.retryable is False
    assert result.metadata["status"] == 30
    assert "artifacts" not in result.metadata
    assert kit.sim.count("GET", "*/artifacts/*") == 0


async def test_older_dbt_versions_name_relations_through_the_manifest(kit):
    kit.sim.add_job(42, dbt_version="1.7.11", models=("orders",))
    ctx = kit.ctx(jobid=42)
    result = await kit.runner.wait(ctx, await kit.runner.start(ctx))
    assert result.metadata["artifacts"]["nodes"][0]["relation"] == "analytics.prod.orders"
    assert result.assets == ("prod.orders",)
    assert kit.sim.count("GET", "*/artifacts/manifest.json") == 1
    # dbt 1.8 writes relation names into run_results.json: no manifest download
    ctx = kit.ctx()
    await kit.runner.wait(ctx, await kit.runner.start(ctx))
    assert kit.sim.count("GET", "*/artifacts/manifest.json") == 1


async def test_fresh_run_not_found_is_retried_within_the_window(make_kit):
    kit = make_kit(run_visible_after=20)
    ctx = kit.ctx(poll_interval=60)
    run = await kit.runner.start(ctx)
    result = await kit.runner.wait(ctx, run)
    assert result.state is JobState.SUCCEEDED
    assert kit.clock.monotonic() >= 20
    assert any("not found yet" in m for _, m in ctx.logs)


async def test_a_run_that_is_gone_is_a_clear_error(kit):
    ctx = kit.ctx()
    gone = ExternalRun(id="999", started_at=kit.clock.now() - timedelta(hours=2),
                       data={"account_id": 1, "job_id": JOB})
    with pytest.raises(TaskFailed) as info:
        await kit.runner.wait(ctx, gone)
    assert info.value.retryable is False
    assert str(info.value).startswith("reading dbt Cloud run 999: not found: check the account "
                                      "id and the job id")


async def test_wait_resumes_from_the_stored_run_in_a_new_runner(kit, make_kit):
    ctx = kit.ctx()
    run = await kit.runner.start(ctx)
    stored = {"id": run.id, "started_at": run.started_at.isoformat(), "data": dict(run.data)}
    # a new process: a new host and runner, the same simulator (dbt Cloud)
    other = make_kit()
    other.sim, other.clock = kit.sim, kit.clock
    other.host.set_transport("dbt", kit.sim.transport)
    runner = other.host.runner(other.host.find_job("dbt", "dbt_runjob"))
    assert runner is not kit.runner
    from datetime import datetime
    resumed = ExternalRun(id=stored["id"], started_at=datetime.fromisoformat(
        stored["started_at"]), data=stored["data"])
    result = await runner.wait(kit.ctx(), resumed)
    assert result.state is JobState.SUCCEEDED
    assert posts(kit.sim) == 1


async def test_cancel_reaches_dbt_cloud(kit):
    kit.sim.add_job(42, duration=600)
    ctx = kit.ctx(jobid=42)
    run = await kit.runner.start(ctx)
    await kit.clock.sleep(5)
    await kit.runner.cancel(ctx, run)
    assert kit.sim.count("POST", f"/api/v2/accounts/1/runs/{run.id}/cancel/") == 1
    assert kit.sim.status(run.id) == 30
    assert ctx.logs[-1] == ("warning", f"asked dbt Cloud to cancel run {run.id}; it is now "
                                       "Cancelled")
    result = await kit.runner.wait(ctx, run)
    assert result.state is JobState.CANCELLED


async def test_cancel_of_a_finished_run_leaves_it(kit):
    ctx = kit.ctx()
    run = await kit.runner.start(ctx)
    await kit.runner.wait(ctx, run)
    await kit.runner.cancel(ctx, run)
    assert kit.sim.status(run.id) == 10
    assert ctx.logs[-1][1].endswith("it is now Success")


async def test_wait_timeout_cancels_the_run(kit):
    kit.sim.add_job(42, duration=3600)
    ctx = kit.ctx(jobid=42, poll_interval=25, wait_timeout=60)
    run = await kit.runner.start(ctx)
    with pytest.raises(TaskFailed) as info:
        await kit.runner.wait(ctx, run)
    assert str(info.value) == (f"dbt Cloud run {run.id} did not finish within 60 s "
                               "(wait_timeout); it was cancelled")
    assert kit.clock.monotonic() == 60.0  # polled at 0, 25, 50 and once more at 60
    assert kit.sim.count("GET", f"*/runs/{run.id}/") == 4
    assert kit.sim.status(run.id) == 30


async def test_wait_timeout_polls_once_more_before_giving_up(kit):
    kit.sim.add_job(42, duration=58)  # ends at 60 s: between the last poll and the deadline
    ctx = kit.ctx(jobid=42, poll_interval=25, wait_timeout=60)
    result = await kit.runner.wait(ctx, await kit.runner.start(ctx))
    assert result.state is JobState.SUCCEEDED
    assert kit.sim.count("POST", "*/cancel/") == 0


async def test_recover_finds_the_run_of_an_interrupted_start(kit):
    ctx = kit.ctx()
    run = await kit.runner.start(ctx)  # its ExternalRun never reached the store
    assert await kit.runner.recover(kit.ctx(attempt=2)) is None
    assert await kit.runner.recover(kit.ctx()) is None  # no intent: nothing was sent
    assert [i.facts["marker"] for i in ctx.intents] == [f"[orchestra {ctx.idempotency_key}]"]
    found = await kit.runner.recover(ctx)
    assert found is not None
    assert (found.id, found.started_at, found.data) == (run.id, run.started_at, run.data)
    request = [r for r in kit.sim.requests if r.path.endswith("/runs/")][-1]
    assert request.query == {"job_definition_id": str(JOB), "order_by": "-id", "limit": "20",
                             "include_related": '["trigger"]'}
    assert posts(kit.sim) == 1


async def test_unknown_status_is_a_clear_error_with_the_raw_run_logged(kit):
    kit.sim.add_job(42, status_override=7)
    ctx = kit.ctx(jobid=42)
    run = await kit.runner.start(ctx)
    with pytest.raises(TaskFailed) as info:
        await kit.runner.wait(ctx, run)
    assert str(info.value) == (f"dbt Cloud run {run.id} reports status 7, which Orchestra "
                               "does not know (expected 1, 2, 3, 10, 20 or 30); the run is "
                               "left as it is")
    assert info.value.retryable is False
    assert info.value.metadata["raw"]["status"] == 7
    [(level, line)] = [entry for entry in ctx.logs if "unknown status" in entry[1]]
    assert level == "error"
    assert '"status": 7' in line and f'"id": {run.id}' in line


async def test_unknown_status_injected_by_rewriting_the_answer(kit):
    from orchestra_core.testing import Failure

    ctx = kit.ctx()
    run = await kit.runner.start(ctx)
    kit.sim.fail("GET", f"*/runs/{run.id}/", Failure.rewrite_json(
        lambda body: {**body, "data": {**body["data"], "status": "exploded",
                                       "token": "dbt-test-token"}}))
    with pytest.raises(TaskFailed, match="reports status 'exploded'"):
        await kit.runner.wait(ctx, run)
    logged = " ".join(m for _, m in ctx.logs)
    assert '"status": "exploded"' in logged
    assert "dbt-test-token" not in logged  # the raw payload is redacted
    assert '"token": "*****"' in logged


# -- the connection ------------------------------------------------------------------------------


async def test_no_connection_names_the_environment_variables(kit):
    with pytest.raises(TaskFailed) as info:
        await kit.runner.start(kit.ctx(connection=None))
    assert info.value.retryable is False
    message = str(info.value)
    for name in ("DBT_CLOUD_API_TOKEN", "DBT_CLOUD_ACCOUNT_ID", "DBT_CLOUD_BASE_URL",
                 "orchestra connections add", "secondary_configuration_id"):
        assert name in message
    assert posts(kit.sim) == 0


async def test_connection_without_token_or_account(kit):
    no_token = Connection(name="prod", integration="dbt", options={"account_id": 1})
    with pytest.raises(TaskFailed, match="connection 'prod' has no API token"):
        await kit.runner.start(kit.ctx(connection=no_token))
    no_account = Connection(name="prod", integration="dbt", base_url=kit.sim.base_url,
                            secrets={"token": kit.sim.token})
    with pytest.raises(TaskFailed, match="no dbt Cloud account id: give the task an "
                                         "account_id parameter"):
        await kit.runner.start(kit.ctx(connection=no_account))
    # the task's account_id is enough
    run = await kit.runner.start(kit.ctx(connection=no_account, account_id=1))
    assert run.data["account_id"] == 1


async def test_bearer_auth_and_a_base_url_written_with_its_api_path(kit):
    conn = Connection(name="prod", integration="dbt", auth="bearer",
                      base_url=kit.sim.base_url + "/api/v2/accounts/1/",
                      options={"account_id": "1"}, secrets={"token": kit.sim.token})
    ctx = kit.ctx(connection=conn)
    result = await kit.runner.wait(ctx, await kit.runner.start(ctx))
    assert result.state is JobState.SUCCEEDED
    assert {r.headers["authorization"] for r in kit.sim.requests} == {"Bearer dbt-test-token"}
    assert {r.path.split("/")[1] for r in kit.sim.requests} == {"api"}


async def test_bad_token_is_a_clear_redacted_error(kit):
    conn = Connection(name="prod", integration="dbt", base_url=kit.sim.base_url,
                      options={"account_id": 1}, secrets={"token": "wrong-token-123"})
    kit.host.redactor.add("wrong-token-123")
    with pytest.raises(TaskFailed) as info:
        await kit.runner.start(kit.ctx(connection=conn))
    assert info.value.retryable is False
    assert str(info.value).startswith(f"triggering dbt Cloud job {JOB} (account 1): the API "
                                      "token is not valid")
    assert "Invalid token." in str(info.value)
    assert "wrong-token-123" not in str(info.value) + repr(info.value.metadata)


async def test_unknown_job_or_account(kit):
    with pytest.raises(TaskFailed, match=r"triggering dbt Cloud job 999 \(account 1\): not "
                                         "found: check the account id and the job id"):
        await kit.runner.start(kit.ctx(jobid=999))
    with pytest.raises(TaskFailed, match="Account 5 not found"):
        await kit.runner.start(kit.ctx(account_id=5))
