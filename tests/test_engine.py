"""The run engine, driven through the Python API with a fake clock, on SQLite and
PostgreSQL, under asyncio and trio."""

from __future__ import annotations

import uuid

import pytest

from orchestra_core import ExternalRun, JobResult, JobState, Orchestra, WebhookEvent, hookimpl
from orchestra_core._engine import Engine
from orchestra_core._store import Store, TaskUpdate
from orchestra_core.testing import FakeClock

from ._engine_kit import FakeParams, FakePlugin, task
from ._postgres import PG, skip_reason


def _pg_available() -> str | None:
    """Why to skip the PostgreSQL tests, or ``None``; fails when PostgreSQL is expected."""
    return skip_reason()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = Store.open(str(tmp_path / "o.db"))
    else:
        reason = _pg_available()
        if reason:
            pytest.skip(reason)
        import sqlalchemy as sa

        schema = f"t_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(PG.replace("postgresql://", "postgresql+psycopg://"))
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        url = PG + f"?options=-csearch_path%3D{schema}"
        s = Store.open(url)
        request.addfinalizer(lambda: _drop(admin, schema))
    yield s
    s.close()


def _drop(admin, schema):
    import sqlalchemy as sa

    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


def make(store, **kw):
    host = Orchestra(plugins=[FakePlugin()], load_entrypoints=False)
    clock = FakeClock()
    return host, Engine(host, store, clock=clock, **kw), clock


def pipeline(host, *tasks, **extra):
    return host.pipeline_from_data({"name": "p", "tasks": list(tasks), **extra})


async def run(engine, clock, p, **kw):
    async with clock.driving():
        return await engine.run(p, **kw)


def states(result):
    return {k: v["state"] for k, v in result.tasks.items()}


async def test_dag_runs_in_order(store):
    host, engine, clock = make(store)
    p = pipeline(host, task("a", duration=5), task("b", depends_on="a", duration=5),
                 task("c", depends_on="a", duration=1), task("d", depends_on=["b", "c"]))
    result = await run(engine, clock, p)
    assert result.state == "succeeded"
    assert states(result) == dict.fromkeys("abcd", "succeeded")
    rows = result.tasks
    assert rows["a"]["external_id"] == "ext-a-1"
    assert rows["a"]["meta"] == {"rows": 3, "assets": ["t.x"]}
    assert clock.monotonic() == pytest.approx(11, abs=1.5)  # a(5) -> b(5) -> d(1), c parallel


async def test_retries_with_backoff(store):
    host, engine, clock = make(store)
    p = pipeline(host, task("a", fail_times=2, retries={"count": 2, "delay": 10, "jitter": 0},
                            duration=1))
    result = await run(engine, clock, p)
    assert result.state == "succeeded"
    assert result.tasks["a"]["attempt"] == 3
    runner = host.runner(host.find_job("fake", "fake_job"))
    assert runner.starts == [f"{result.run_id}/a/{n}" for n in (1, 2, 3)]
    assert clock.monotonic() == pytest.approx(1 + 10 + 1 + 20 + 1, abs=0.5)


async def test_non_retryable_failure_is_not_retried(store):
    host, engine, clock = make(store)
    p = pipeline(host, task("a", fail=True, retryable=False, retries=3))
    result = await run(engine, clock, p)
    assert result.state == "failed"
    assert result.tasks["a"]["attempt"] == 1
    assert result.tasks["a"]["error"] == "configuration is wrong"


async def test_timeout_cancels_the_external_job(store):
    host, engine, clock = make(store)
    p = pipeline(host, task("a", duration=100, timeout=30))
    result = await run(engine, clock, p)
    assert states(result) == {"a": "timed_out"}
    assert result.tasks["a"]["error"] == "timed out after 30s"
    assert host.runner(host.find_job("fake", "fake_job")).cancels == ["ext-a-1"]


async def test_conditions(store):
    host, engine, clock = make(store)
    p = pipeline(host, task("a", fail=True), task("ok_path", depends_on="a"),
                 task("fail_path", depends_on="a", condition="on_failure"),
                 task("always", depends_on="ok_path", condition="always"))
    result = await run(engine, clock, p)
    assert states(result) == {"a": "failed", "ok_path": "skipped", "fail_path": "succeeded",
                              "always": "succeeded"}
    assert result.tasks["ok_path"]["error"] == "'a' did not succeed"
    assert result.state == "failed"


async def test_stage_core_tasks_and_partial(store):
    host, engine, clock = make(store)
    p = pipeline(host, task("core1"), task("extra", fail=True), task("after", depends_on="s"),
                 task("on_partial", depends_on="s",
                      condition={"stage": "s", "outcome": "partial"}),
                 stages=[{"id": "s", "tasks": ["core1", "extra"], "core_tasks": ["core1"]}])
    result = await run(engine, clock, p)
    assert states(result) == {"core1": "succeeded", "extra": "failed", "after": "succeeded",
                              "on_partial": "succeeded", "s": "succeeded"}
    assert result.tasks["s"]["outcome"] == "partial"
    assert result.state == "succeeded"  # a non-core failure in a continuing stage is tolerated


@pytest.mark.parametrize("failing", ["core1", "core2"])
async def test_one_of_two_core_tasks_failing_fails_the_stage(store, failing):
    """Any failed core task fails the stage, not only when every core task failed."""
    host, engine, clock = make(store)
    p = pipeline(host, task("core1", fail=failing == "core1"),
                 task("core2", fail=failing == "core2"), task("extra"),
                 task("after", depends_on="s"),
                 task("on_failed", depends_on="s", condition={"stage": "s", "outcome": "failed"}),
                 stages=[{"id": "s", "tasks": ["core1", "core2", "extra"],
                          "core_tasks": ["core1", "core2"]}])
    result = await run(engine, clock, p)
    assert states(result) == {"core1": "failed" if failing == "core1" else "succeeded",
                              "core2": "failed" if failing == "core2" else "succeeded",
                              "extra": "succeeded", "s": "failed", "after": "skipped",
                              "on_failed": "succeeded"}
    assert result.tasks["s"]["outcome"] == "failed"
    assert result.state == "failed"


async def test_stage_core_failure_blocks_and_stop_pipeline(store):
    host, engine, clock = make(store)
    p = pipeline(host, task("core1", fail=True), task("slow", duration=500),
                 task("after", depends_on="s"),
                 task("recover", depends_on="s", condition={"stage": "s", "outcome": "failed"}),
                 stages=[{"id": "s", "tasks": ["core1"]}])
    result = await run(engine, clock, p)
    assert states(result)["after"] == "skipped"
    assert states(result)["recover"] == "succeeded"
    assert result.tasks["s"]["outcome"] == "failed"
    assert result.state == "failed"

    host, engine, clock = make(store)
    p = pipeline(host, task("core1", fail=True), task("slow", duration=500),
                 task("after", depends_on="s"),
                 stages=[{"id": "s", "tasks": ["core1"], "on_failure": "stop_pipeline"}])
    result = await run(engine, clock, p)
    assert states(result) == {"core1": "failed", "slow": "cancelled", "after": "cancelled",
                              "s": "failed"}
    assert host.runner(host.find_job("fake", "fake_job")).cancels == ["ext-slow-1"]
    assert "on_failure: stop_pipeline" in result.error


async def test_async_flag_does_not_wait(store):
    host, engine, clock = make(store)
    p = pipeline(host, task("a", duration=1000, **{"async": True}))
    result = await run(engine, clock, p)
    assert states(result) == {"a": "succeeded"}
    assert clock.monotonic() < 1


async def test_run_types(store):
    host, engine, clock = make(store)
    p = pipeline(host, task("ingest", job="fake_ingest"),
                 task("transform", depends_on="ingest"),
                 task("deliver", job="fake_activation", depends_on="transform"))
    full = await run(engine, clock, p, run_type="full")
    assert states(full) == dict.fromkeys(["ingest", "transform", "deliver"], "succeeded")
    refresh = await run(engine, clock, p, run_type="refresh")
    assert states(refresh) == {"ingest": "succeeded", "transform": "succeeded",
                               "deliver": "skipped"}
    source = await run(engine, clock, p, run_type="source")
    assert states(source) == {"ingest": "succeeded", "transform": "skipped",
                              "deliver": "skipped"}
    assert source.state == "succeeded"


async def test_concurrency_limit_queues(store):
    host, engine, clock = make(store, max_concurrency=2)
    p = pipeline(host, *[task(f"t{i}", duration=10) for i in range(6)])
    seen = []
    async with clock.driving():
        result = await engine.run(p, on_transition=lambda t: seen.append(t.state.value))
    assert result.state == "succeeded"
    assert "queued" in seen
    assert clock.monotonic() == pytest.approx(30, abs=1)


async def test_cancel_request_from_the_store(store):
    host, engine, clock = make(store, cancel_poll=5)
    p = pipeline(host, task("a", duration=1000), task("b", depends_on="a"))
    created = []
    async with clock.driving():
        import anyio

        async with anyio.create_task_group() as tg:
            async def cancel_later():
                while not created:
                    await anyio.sleep(0.001)
                await clock.sleep(12)
                store.request_cancel(created[0])

            tg.start_soon(cancel_later)
            result = await engine.run(p, on_created=created.append)
    assert result.state == "cancelled"
    assert states(result) == {"a": "cancelled", "b": "cancelled"}
    assert host.runner(host.find_job("fake", "fake_job")).cancels == ["ext-a-1"]


async def test_logs_are_recorded(store):
    host, engine, clock = make(store)
    p = pipeline(host, task("a", fail=True))
    result = await run(engine, clock, p)
    logs = store.logs(run_id=result.run_id)
    assert [(e["level"], e["task_id"], e["message"]) for e in logs][-2:] == [
        ("error", "a", "failed: attempt 1 failed"),
        ("error", None, "run failed: tasks failed: a"),
    ]
    assert [e["message"] for e in store.logs(run_id=result.run_id, level="error")] == [
        "failed: attempt 1 failed", "run failed: tasks failed: a"]


class EventRunner:
    """Waits for a webhook event instead of polling (falls back to polling on silence)."""

    def __init__(self, host):
        self.polls = 0

    async def start(self, ctx):
        return ExternalRun(id=f"job-{ctx.task_id}", started_at=ctx.now())

    async def wait(self, ctx, run):
        while True:
            event = await ctx.next_event(run.id, timeout=60)
            if event is not None:
                return JobResult(state=event.state, metadata={"via": "webhook"})
            self.polls += 1
            if self.polls >= 3:
                return JobResult(state=JobState.SUCCEEDED, metadata={"via": "polling"})

    async def cancel(self, ctx, run):
        pass


class EventPlugin:
    orchestra_plugin_name = "evented"

    @hookimpl
    def orchestra_register_integrations(self, registry):
        registry.integration("evented", description="x").job(
            "evented_job", parameters=FakeParams, description="x", runner=EventRunner)


async def test_webhook_events_wake_waiting_tasks(store):
    import anyio

    host = Orchestra(plugins=[EventPlugin()], load_entrypoints=False)
    clock = FakeClock()
    engine = Engine(host, store, clock=clock)
    p = host.pipeline_from_data({"name": "e", "tasks": [
        {"id": "a", "integration": "evented", "integration_job": "evented_job"},
        {"id": "b", "integration": "evented", "integration_job": "evented_job"}]})
    event = WebhookEvent(integration="evented", kind="done", key="job-a", event_id="e1",
                         state=JobState.SUCCEEDED)
    async with clock.driving(), anyio.create_task_group() as tg:
        async def deliver():
            await clock.sleep(5)
            assert engine.events.publish(event) is True
            assert engine.events.publish(event) is False  # a replay changes nothing

        tg.start_soon(deliver)
        result = await engine.run(p)
    assert result.tasks["a"]["meta"] == {"via": "webhook"}
    assert result.tasks["b"]["meta"] == {"via": "polling"}  # no webhook: polling fallback
    assert clock.monotonic() == pytest.approx(180, abs=1)


async def test_per_integration_limit(store):
    host = Orchestra(plugins=[FakePlugin()], load_entrypoints=False)
    clock = FakeClock()
    engine = Engine(host, store, clock=clock, integration_limits={"fake": 1})
    p = pipeline(host, *[task(f"t{i}", duration=10) for i in range(3)])
    result = await run(engine, clock, p)
    assert result.state == "succeeded"
    assert clock.monotonic() == pytest.approx(30, abs=1)


async def test_uninstalled_job_fails_its_task_not_the_engine(store):
    from orchestra_core._serialize import pipeline_to_definition

    host, _, clock = make(store)
    p = pipeline(host, task("a"), task("b", depends_on="a", condition="always"))
    bare = Orchestra(load_entrypoints=False)  # the fake plugin is missing here
    run_id = store.create_run(name="p", client="default", definition=pipeline_to_definition(p),
                              source=None, run_type="full", trigger="manual",
                              nodes=[{"task_id": "a", "kind": "task"},
                                     {"task_id": "b", "kind": "task"}])
    async with clock.driving():
        result = await Engine(bare, store, clock=clock).resume(run_id)
    assert result.tasks["a"]["error"] == ("integration job fake/fake_job is not installed in "
                                          "this process")
    assert result.state == "failed"


async def test_queued_attempt_keeps_its_number_on_resume(store):
    from orchestra_core._serialize import pipeline_to_definition

    host, engine, clock = make(store)
    p = pipeline(host, task("a", fail=True, retries={"count": 1, "delay": 1}))
    run_id = store.create_run(name="p", client="default", definition=pipeline_to_definition(p),
                              source=None, run_type="full", trigger="manual",
                              nodes=[{"task_id": "a", "kind": "task"}])
    store.apply([TaskUpdate(run_id, "a", {"state": "queued", "attempt": 1})])
    async with clock.driving():
        result = await engine.resume(run_id)
    assert result.tasks["a"]["attempt"] == 2  # attempt 1 ran, then its one retry
    runner = host.runner(host.find_job("fake", "fake_job"))
    assert runner.starts == [f"{run_id}/a/1", f"{run_id}/a/2"]


@pytest.mark.parametrize("due_in", [100, -5])
async def test_a_retry_waiting_when_interrupted_waits_out_the_rest_on_resume(store, due_in):
    """A task found up_for_retry waits until its recorded next attempt (no longer, no less),
    then runs attempt 2; one already due runs at once."""
    from datetime import timedelta

    from orchestra_core._serialize import pipeline_to_definition

    host, engine, clock = make(store)
    p = pipeline(host, task("a", fail_times=1, duration=1, retries={"count": 1, "delay": 300}))
    run_id = store.create_run(name="p", client="default", definition=pipeline_to_definition(p),
                              source=None, run_type="full", trigger="manual",
                              nodes=[{"task_id": "a", "kind": "task"}])
    from orchestra_core import Intent

    attempt_1 = Intent(recorded_at=clock.now(), facts={"before": "attempt 1's trigger"})
    store.apply([TaskUpdate(run_id, "a", {
        "state": "up_for_retry", "attempt": 1, "started_at": clock.now(),
        "next_attempt_at": clock.now() + timedelta(seconds=due_in),
        "intent": attempt_1.to_json()})])
    runner = host.runner(host.find_job("fake", "fake_job"))
    began, intents = [], []
    start = runner.start

    async def recording_start(ctx):
        began.append(ctx.started_at)
        intents.append(ctx.intent)  # attempt 1's intent is not attempt 2's
        return await start(ctx)

    runner.start = recording_start
    async with clock.driving():
        result = await engine.resume(run_id)
    assert result.state == "succeeded"
    assert result.tasks["a"]["attempt"] == 2
    assert runner.starts == [f"{run_id}/a/2"]
    assert clock.monotonic() == pytest.approx(max(due_in, 0) + 1, abs=0.5)
    # attempt 2 is a new attempt: its start time is its own, not the interrupted one's
    assert began == [clock.now() - timedelta(seconds=1)]
    assert intents == [None]


async def test_a_task_queued_before_its_first_attempt_starts_attempt_1_on_resume(store):
    from orchestra_core._serialize import pipeline_to_definition

    host, engine, clock = make(store)
    p = pipeline(host, task("a"))
    run_id = store.create_run(name="p", client="default", definition=pipeline_to_definition(p),
                              source=None, run_type="full", trigger="manual",
                              nodes=[{"task_id": "a", "kind": "task"}])
    store.apply([TaskUpdate(run_id, "a", {"state": "queued", "attempt": 0})])
    async with clock.driving():
        result = await engine.resume(run_id)
    assert result.tasks["a"]["attempt"] == 1
    assert host.runner(host.find_job("fake", "fake_job")).starts == [f"{run_id}/a/1"]


async def test_a_recovering_attempt_sees_when_the_interrupted_attempt_began(store):
    """recover() is asked with the interrupted attempt's number and start time (a plugin
    adopts only a vendor run begun after it); nothing found: started once, same attempt."""
    from datetime import timedelta

    from orchestra_core._serialize import pipeline_to_definition

    host, engine, clock = make(store)
    p = pipeline(host, task("a"))
    run_id = store.create_run(name="p", client="default", definition=pipeline_to_definition(p),
                              source=None, run_type="full", trigger="manual",
                              nodes=[{"task_id": "a", "kind": "task"}])
    began = clock.now() - timedelta(seconds=42)
    store.apply([TaskUpdate(run_id, "a", {"state": "running", "attempt": 1,
                                          "started_at": began})])
    runner = host.runner(host.find_job("fake", "fake_job"))
    asked = []

    async def recover(ctx):
        asked.append((ctx.attempt, ctx.started_at))

    runner.recover = recover
    async with clock.driving():
        result = await engine.resume(run_id)
    assert result.state == "succeeded"
    assert asked == [(1, began)]
    assert runner.starts == [f"{run_id}/a/1"]
    asked.clear()
    result = await run(engine, clock, p)  # a fresh run: nothing to recover, never asked
    assert result.state == "succeeded" and asked == []


async def test_resume_after_a_cancel_request_starts_nothing(store):
    from orchestra_core._serialize import pipeline_to_definition

    host, engine, clock = make(store)
    p = pipeline(host, task("a"), task("b", depends_on="a"))
    run_id = store.create_run(name="p", client="default", definition=pipeline_to_definition(p),
                              source=None, run_type="full", trigger="manual",
                              nodes=[{"task_id": "a", "kind": "task"},
                                     {"task_id": "b", "kind": "task"}])
    store.apply([TaskUpdate(run_id, "a", {"state": "succeeded", "attempt": 1})])
    store.request_cancel(run_id)
    async with clock.driving():
        result = await engine.resume(run_id)
    assert result.state == "cancelled"
    assert result.tasks["b"]["state"] == "cancelled"
    assert host.runner(host.find_job("fake", "fake_job")).starts == []


async def test_caller_cancelling_the_run_records_it(store):
    import anyio

    host = Orchestra(plugins=[FakePlugin()], load_entrypoints=False)
    engine = Engine(host, store)  # the real clock: the job would take 1000 s
    p = pipeline(host, task("a", duration=1000))
    created = []
    with anyio.move_on_after(0.5):  # the caller gives up
        await engine.run(p, on_created=created.append)
    run = store.get_run(created[0])
    assert (run["state"], run["error"]) == ("cancelled", "cancelled by the caller")
    assert store.task_runs(created[0])[0]["state"] == "cancelled"


async def test_pipeline_record_keeps_the_latest_error(store):
    host, engine, clock = make(store)
    failing = pipeline(host, task("a", fail=True))
    await run(engine, clock, failing)
    record = store.get_pipeline("p")
    assert (record["error_message"], record["num_tasks"]) == ("tasks failed: a", 1)
    await run(engine, clock, pipeline(host, task("a")))
    assert store.get_pipeline("p")["error_message"] is None


async def test_a_recovered_external_run_is_stored(store):
    """A task interrupted between its trigger and its record is recovered, and the recovered
    external run is stored at once, so a second interruption resumes without recovering."""
    from orchestra_core._serialize import pipeline_to_definition

    host, engine, clock = make(store)
    runner = host.runner(host.find_job("fake", "fake_job"))
    recovered: list[str] = []

    async def recover(ctx):
        recovered.append(ctx.idempotency_key)
        return ExternalRun(id="ext-found", started_at=ctx.now())

    runner.recover = recover
    p = pipeline(host, task("a", duration=5))
    run_id = store.create_run(name="p", client="default", definition=pipeline_to_definition(p),
                              source=None, run_type="full", trigger="manual",
                              nodes=[{"task_id": "a", "kind": "task"}])
    store.apply([TaskUpdate(run_id, "a", {"state": "running", "attempt": 1})])
    async with clock.driving():
        result = await engine.resume(run_id)
    assert recovered == [f"{run_id}/a/1"]
    assert runner.starts == []  # never triggered a second time
    assert runner.waits == ["ext-found"]
    assert result.tasks["a"]["external_id"] == "ext-found"
    assert result.tasks["a"]["state"] == "succeeded"


async def test_an_event_published_between_two_waits_is_not_lost():
    from orchestra_core._engine import EventChannel

    clock = FakeClock()
    channel = EventChannel()
    event = WebhookEvent(integration="fake", kind="done", key="fake:1", event_id="e1",
                         state=JobState.SUCCEEDED)
    assert channel.publish(event) is True  # nobody waits on fake:1 yet
    async with clock.driving():
        assert await channel.next("fake:1", 60, clock) is event  # at once, no time passes
        assert clock.monotonic() == 0
        assert await channel.next("fake:1", 60, clock) is None  # handed out only once
    assert channel.publish(event) is False  # a replay is still ignored
