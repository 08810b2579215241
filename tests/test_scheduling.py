"""Triggers and the scheduler, driven by a fake clock on SQLite and PostgreSQL: every trigger
kind, daylight-saving days, misfires after downtime, deactivation, exactly-once firing with
several schedulers."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import anyio
import pytest
import sqlalchemy as sa

from orchestra_core import Orchestra
from orchestra_core._engine import Engine
from orchestra_core._scheduling.registry import PipelineRegistry
from orchestra_core._scheduling.scheduler import Scheduler
from orchestra_core._store import Store
from orchestra_core._store.schema import asset_events, pipeline_runs, triggers
from orchestra_core.testing import FakeClock

from ._engine_kit import FakePlugin
from .test_engine import PG, _drop, _pg_available

NOOP = {"integration": "noop", "integration_job": "noop_run"}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _pg_store(request):
    reason = _pg_available()
    if reason:
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = PG + f"?options=-csearch_path%3D{schema}"
    request.addfinalizer(lambda: _drop(admin, schema))
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    """A fresh store's URL (several Store objects may open it, like several processes)."""
    if request.param == "sqlite":
        return str(tmp_path / "o.db")
    return _pg_store(request)


@pytest.fixture
def store(store_url):
    s = Store.open(store_url)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path):
    s = Store.open(str(tmp_path / "o.db"))
    yield s
    s.close()


@pytest.fixture
def anyio_backend():
    return "asyncio"


def make_pipeline(host, name="p", triggers=(), tasks=None, **extra):
    return host.pipeline_from_data({"name": name, "triggers": list(triggers),
                                    "tasks": tasks or [{"id": "a", **NOOP}], **extra})


class Sched:
    """A registry and a scheduler on one fake clock, with helpers to move time."""

    def __init__(self, store, start=T0):
        self.store = store
        self.clock = FakeClock(start)
        self.registry = PipelineRegistry(store, clock=self.clock)
        self.scheduler = Scheduler(store, clock=self.clock, reread=10**7)
        self.host = Orchestra(load_entrypoints=False)

    def apply(self, *triggers, name="p", **extra):
        return self.registry.apply(make_pipeline(self.host, name, triggers, **extra))

    async def run_until(self, until):
        """Act as an always-running scheduler: wake at each due time up to *until*."""
        while True:
            nxt = self.scheduler._next_due()
            if nxt is None or nxt > until:
                break
            if nxt > self.clock.now():
                self.clock.set(nxt)
            await self.scheduler.tick()
        if until > self.clock.now():
            self.clock.set(until)

    async def down_until(self, until):
        """No scheduler runs until *until*; then one starts and does a pass."""
        self.clock.set(until)
        return await self.scheduler.tick()

    def runs(self, name="p"):
        """``[(created_at, trigger label, run_type, state)]`` of pipeline *name*."""
        return [(_utc(r["created_at"]), r["trigger"], r["run_type"], r["state"])
                for r in sorted(self.store.list_runs(pipeline=name, limit=10**6),
                                key=lambda r: _utc(r["created_at"]))]

    def trigger(self, name, pipeline="p"):
        return next(t for t in self.registry.list_triggers(pipeline=pipeline)
                    if t["name"] == name)

    def finish(self, run_id, state="succeeded", at=None):
        with self.store.engine.begin() as conn:
            conn.execute(pipeline_runs.update().where(pipeline_runs.c.id == run_id).values(
                state=state, ended_at=at or self.clock.now()))


def _utc(value):
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _at(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC) if "+" not in text \
        else datetime.fromisoformat(text)


# -- cron -----------------------------------------------------------------------------------------


async def test_cron_trigger_fires_at_each_matching_time_in_its_timezone(store):
    s = Sched(store)
    s.apply({"cron": "0 6 * * *", "timezone": "Europe/London", "run_type": "refresh"})
    await s.run_until(_at("2026-01-03T12:00"))
    assert [(t, label, rt) for t, label, rt, _ in s.runs()] == [
        (_at("2026-01-01T06:00"), "cron:cron", "refresh"),
        (_at("2026-01-02T06:00"), "cron:cron", "refresh"),
        (_at("2026-01-03T06:00"), "cron:cron", "refresh"),
    ]
    trig = s.trigger("cron")
    assert trig["last_fire_at"] == _at("2026-01-03T06:00")
    assert trig["next_fire_at"] == _at("2026-01-04T06:00")
    assert trig["last_run_id"] == store.list_runs(pipeline="p", limit=1)[0]["id"]
    # the run is pending, with its tasks, for a worker to execute
    run = store.get_run(trig["last_run_id"])
    assert run["state"] == "pending" and run["owner"] is None
    assert [t["task_id"] for t in store.task_runs(run["id"])] == ["a"]


async def test_cron_without_timezone_is_utc_and_six_fields_have_seconds_first(sqlite_store):
    s = Sched(sqlite_store)
    s.apply({"cron": "30 0 6 * * *"}, {"cron": "15 7 * * *"})
    await s.run_until(_at("2026-01-01T12:00"))
    assert [(t, label) for t, label, _, _ in s.runs()] == [
        (_at("2026-01-01T06:00:30"), "cron:cron"), (_at("2026-01-01T07:15"), "cron:cron-2")]


def fires(s_runs, tz):
    return [t.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M %Z") for t, *_ in s_runs]


async def test_dst_a_0230_daily_job_runs_exactly_once_on_both_change_days(sqlite_store):
    # New York 2026: clocks go forward at 02:00 on March 8 (02:30 does not exist) and back
    # at 02:00 on November 1 (01:00-01:59 happens twice)
    s = Sched(sqlite_store, start=_at("2026-03-06T12:00"))
    s.apply({"cron": "30 2 * * *", "timezone": "America/New_York"})
    await s.run_until(_at("2026-03-10T12:00"))
    assert fires(s.runs(), "America/New_York") == [
        "03-07 02:30 EST", "03-08 03:00 EDT", "03-09 02:30 EDT", "03-10 02:30 EDT"]
    s2 = Sched(sqlite_store, start=_at("2026-10-30T12:00"))
    s2.apply({"cron": "30 2 * * *", "timezone": "America/New_York"}, name="fall")
    s2.apply({"cron": "30 1 * * *", "timezone": "America/New_York"}, name="fall_0130")
    await s2.run_until(_at("2026-11-03T12:00"))
    assert fires(s2.runs("fall"), "America/New_York") == [
        "10-31 02:30 EDT", "11-01 02:30 EST", "11-02 02:30 EST", "11-03 02:30 EST"]
    # a time in the repeated hour runs once, at its first occurrence
    assert fires(s2.runs("fall_0130"), "America/New_York") == [
        "10-31 01:30 EDT", "11-01 01:30 EDT", "11-02 01:30 EST", "11-03 01:30 EST"]


async def test_dst_hourly_schedules_follow_real_time(sqlite_store):
    s = Sched(sqlite_store, start=_at("2026-11-01T04:00"))  # 00:00 EDT
    s.apply({"cron": "*/30 * * * *", "timezone": "America/New_York"})
    await s.run_until(_at("2026-11-01T08:00"))  # 03:00 EST
    assert fires(s.runs(), "America/New_York") == [
        "11-01 00:30 EDT", "11-01 01:00 EDT", "11-01 01:30 EDT", "11-01 01:00 EST",
        "11-01 01:30 EST", "11-01 02:00 EST", "11-01 02:30 EST", "11-01 03:00 EST"]
    gaps = [b - a for (a, *_), (b, *_) in zip(s.runs(), s.runs()[1:], strict=False)]
    assert set(gaps) == {timedelta(minutes=30)}


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "Europe/Copenhagen",
                                  "Australia/Lord_Howe", "America/Sao_Paulo"])
@pytest.mark.parametrize("clock_time", ["00:00", "00:30", "01:30", "02:00", "02:30", "03:00"])
def test_dst_daily_cron_fires_once_per_local_day_around_every_change(zone, clock_time):
    from orchestra_core._triggers.times import next_cron

    tz = ZoneInfo(zone)
    hour, minute = map(int, clock_time.split(":"))
    # every offset change from 2018 to 2030 (to within 6 hours)
    t, end = _at("2018-01-01T00:00"), _at("2030-12-31T00:00")
    changes = []
    while t < end:
        if (t + timedelta(hours=6)).astimezone(tz).utcoffset() != t.astimezone(tz).utcoffset():
            changes.append(t)
        t += timedelta(hours=6)
    assert len(changes) >= 20 or zone == "America/Sao_Paulo"
    for change in changes:
        when = change - timedelta(days=3)
        seen = []
        while when < change + timedelta(days=3):
            when = next_cron(f"{minute} {hour} * * *", tz, when)
            seen.append(when)
        days = [w.astimezone(tz).date() for w in seen]
        assert len(days) == len(set(days)), (zone, change, seen)
        assert all(b - a >= timedelta(hours=22) for a, b in itertools.pairwise(seen))
        for w in seen:
            local = w.astimezone(tz)
            wall = local.replace(tzinfo=None)
            exists = wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(
                tzinfo=None) == wall
            # on time, or (when the time is skipped) at the moment the clocks jump
            assert (local.hour, local.minute) == (hour, minute) or not exists or \
                w.astimezone(tz).utcoffset() != (w - timedelta(seconds=1)).astimezone(
                    tz).utcoffset()


# -- interval and single -------------------------------------------------------------------------


async def test_interval_trigger_counts_elapsed_time_from_its_start_time(sqlite_store):
    s = Sched(sqlite_store, start=_at("2026-03-28T12:00"))
    s.apply({"kind": "interval", "frequency": 6, "frequency_type": "hours",
             "start_time": "06:00", "timezone": "Europe/London"})
    await s.run_until(_at("2026-03-30T00:00"))  # clocks go forward on March 29 at 01:00
    # exactly 6 hours apart: after the change the clock times are an hour later
    assert fires(s.runs(), "Europe/London") == [
        "03-28 18:00 GMT", "03-29 00:00 GMT", "03-29 07:00 BST", "03-29 13:00 BST",
        "03-29 19:00 BST", "03-30 01:00 BST"]


async def test_seed_style_schedule_fields_become_an_interval_trigger(sqlite_store, tmp_path):
    s = Sched(sqlite_store, start=_at("2026-01-04T00:00"))
    path = tmp_path / "seed.yaml"
    path.write_text("name: seed\nfrequency: 2\nfrequency_type: days\n"
                    "start_time: '2026-01-05T07:00'\ntasks:\n"
                    "  - {id: a, integration: noop, integration_job: noop_run}\n")
    pipeline = s.host.load_pipeline(path)
    s.registry.apply(pipeline)
    await s.run_until(_at("2026-01-10T00:00"))
    assert [t for t, *_ in s.runs("seed")] == [
        _at("2026-01-05T07:00"), _at("2026-01-07T07:00"), _at("2026-01-09T07:00")]
    with sqlite_store.engine.connect() as conn:
        row = conn.execute(sa.text("select schedule_type, frequency, frequency_type, "
                                   "start_time from pipelines where name='seed'")).first()
    assert tuple(row) == (1, 2, 3, "2026-01-05T07:00")


async def test_single_trigger_fires_once_then_is_done(store):
    s = Sched(store)
    s.apply({"kind": "single", "at": "2026-01-01T09:30", "timezone": "Europe/Paris"})
    assert s.trigger("single")["next_fire_at"] == _at("2026-01-01T08:30")
    await s.run_until(_at("2026-02-01T00:00"))
    assert [t for t, *_ in s.runs()] == [_at("2026-01-01T08:30")]
    trig = s.trigger("single")
    assert trig["next_fire_at"] is None and trig["last_fire_at"] == _at("2026-01-01T08:30")


async def test_manual_trigger_never_fires_but_a_run_can_be_queued(sqlite_store):
    s = Sched(sqlite_store)
    s.apply({"kind": "manual"})
    await s.run_until(_at("2026-03-01T00:00"))
    assert s.runs() == []
    run_id = s.registry.queue_run("p", run_type="source")
    assert s.runs() == [(s.clock.now(), "manual", "source", "pending")]
    assert sqlite_store.get_run(run_id)["owner"] is None


# -- misfires ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "expected"), [("run_once", 1), ("skip", 0)])
async def test_misfire_policy_after_downtime(store, policy, expected):
    s = Sched(store)
    s.apply({"cron": "0 * * * *", "misfire": policy})
    await s.run_until(_at("2026-01-01T02:00"))
    assert len(s.runs()) == 2  # 01:00 and 02:00, on time
    # no scheduler from 02:00 to 05:30: 03:00, 04:00 and 05:00 are missed
    await s.down_until(_at("2026-01-01T05:30"))
    late = s.runs()[2:]
    assert len(late) == expected
    trig = s.trigger("cron")
    assert trig["next_fire_at"] == _at("2026-01-01T06:00")
    assert ("skipped" if policy == "skip" else "late") in trig["last_result"]
    if expected:
        assert late[0][0] == _at("2026-01-01T05:30")
    await s.run_until(_at("2026-01-01T07:00"))
    assert len(s.runs()) == 2 + expected + 2


async def test_a_fire_within_the_grace_period_is_on_time(sqlite_store):
    s = Sched(sqlite_store)
    s.apply({"cron": "0 * * * *", "misfire": "skip", "misfire_grace": "2m"})
    await s.down_until(_at("2026-01-01T01:01:30"))
    assert len(s.runs()) == 1 and s.trigger("cron")["last_result"] == "fired"
    await s.down_until(_at("2026-01-01T02:02:30"))
    assert len(s.runs()) == 1 and "skipped" in s.trigger("cron")["last_result"]


# -- deactivation --------------------------------------------------------------------------------


async def test_deactivated_pipeline_never_runs_by_itself_but_can_be_run_by_hand(store):
    s = Sched(store)
    s.apply({"cron": "0 * * * *"}, {"kind": "interval", "frequency": 10,
                                    "frequency_type": "minutes"})
    await s.run_until(_at("2026-01-01T00:30"))
    before = len(s.runs())
    assert s.registry.set_active("p", active=False) is True
    assert {t["next_fire_at"] for t in s.registry.list_triggers()} == {None}
    await s.run_until(_at("2026-01-02T00:00"))
    assert len(s.runs()) == before
    s.registry.queue_run("p")  # by hand
    assert len(s.runs()) == before + 1
    # re-activated: from now on, nothing caught up
    s.clock.set(_at("2026-01-02T00:05"))
    assert s.registry.set_active("p", active=True) is True
    assert s.registry.set_active("p", active=True) is False
    await s.run_until(_at("2026-01-02T01:00"))
    new = [t for t, *_ in s.runs()[before + 1:]]
    assert new == [_at("2026-01-02T00:10"), _at("2026-01-02T00:20"), _at("2026-01-02T00:30"),
                   _at("2026-01-02T00:40"), _at("2026-01-02T00:50"), _at("2026-01-02T01:00"),
                   _at("2026-01-02T01:00")]


# -- queue ---------------------------------------------------------------------------------------


async def test_queue_trigger_fires_when_enough_new_elements_arrived(store):
    queues_mod = pytest.importorskip("orchestra_core._queues")
    s = Sched(store)
    queues = queues_mod.Queues(store, clock=s.clock)
    s.apply({"queue": "invoices", "min_elements": 3, "check_every": 10})
    queues.push("invoices", {"n": 1})
    queues.push("invoices", {"n": 2})
    await s.run_until(_at("2026-01-01T00:01"))
    assert s.runs() == []
    assert "2 new element(s)" in s.trigger("queue")["last_result"]
    s.clock.set(_at("2026-01-01T00:01:05"))
    queues.push("invoices", {"n": 3})
    await s.run_until(_at("2026-01-01T00:02"))
    assert [t for t, *_ in s.runs()] == [_at("2026-01-01T00:01:10")]
    # while its run is unfinished it does not fire again
    for n in range(4, 10):
        queues.push("invoices", {"n": n})
    await s.run_until(_at("2026-01-01T00:03"))
    assert len(s.runs()) == 1
    assert "waiting for its run" in s.trigger("queue")["last_result"]
    s.finish(s.trigger("queue")["last_run_id"])
    await s.run_until(_at("2026-01-01T00:04"))
    assert len(s.runs()) == 2  # the 6 elements pushed after the first fire


# -- after ---------------------------------------------------------------------------------------


async def run_pipeline(store, clock, pipeline):
    engine = Engine(Orchestra(plugins=[FakePlugin()], load_entrypoints=False), store,
                    clock=clock)
    async with clock.driving():
        return await engine.run(pipeline)


async def test_after_trigger_fires_when_the_other_pipeline_ends_with_the_outcome(store):
    s = Sched(store)
    up_ok = make_pipeline(s.host, "up")
    s.registry.apply(up_ok)
    s.apply({"kind": "after", "pipeline": "up"}, name="down")
    s.apply({"kind": "after", "pipeline": "up", "outcome": ["failed"]}, name="on_fail")
    await s.run_until(_at("2026-01-01T00:01"))
    assert s.runs("down") == []
    assert s.trigger("after", "down")["last_result"] == \
        "waiting for pipeline 'up' to end succeeded"
    s.clock.set(_at("2026-01-01T00:02"))
    result = await run_pipeline(store, s.clock, up_ok)
    assert result.state == "succeeded"
    await s.run_until(s.clock.now() + timedelta(minutes=1))
    assert len(s.runs("down")) == 1 and s.runs("on_fail") == []
    await s.run_until(s.clock.now() + timedelta(minutes=5))
    assert len(s.runs("down")) == 1  # once per upstream run
    failing = make_pipeline(s.host, "up", tasks=[{"id": "a", **NOOP,
                                                  "parameters": {"fail": True}}])
    assert (await run_pipeline(store, s.clock, failing)).state == "failed"
    await s.run_until(s.clock.now() + timedelta(minutes=1))
    assert len(s.runs("down")) == 1 and len(s.runs("on_fail")) == 1


async def test_after_trigger_on_a_stage_outcome(sqlite_store):
    s = Sched(sqlite_store)
    up = make_pipeline(s.host, "up", tasks=[
        {"id": "a", **NOOP}, {"id": "b", **NOOP, "parameters": {"fail": True}}],
        stages=[{"id": "ingest", "tasks": ["a", "b"], "core_tasks": ["a"]}])
    s.registry.apply(up)
    s.apply({"kind": "after", "pipeline": "up", "stage": "ingest",
             "outcome": ["succeeded", "partial"]}, name="down")
    s.clock.set(_at("2026-01-01T00:01"))
    await run_pipeline(sqlite_store, s.clock, up)
    await s.run_until(s.clock.now() + timedelta(minutes=1))
    assert len(s.runs("down")) == 1
    assert [(f.pipeline, f.kind) for f in s.scheduler.fired] == [("down", "after")]
    assert s.trigger("after", "down")["last_result"] == \
        "waiting for stage 'ingest' of 'up' to end succeeded/partial"


# -- changes -------------------------------------------------------------------------------------


async def test_engine_records_asset_events_for_outputs_and_reported_assets(sqlite_store):
    clock = FakeClock(T0)
    host = Orchestra(plugins=[FakePlugin()], load_entrypoints=False)
    p = host.pipeline_from_data({"name": "up", "tasks": [
        {"id": "x", "integration": "fake", "integration_job": "fake_job",
         "outputs": ["warehouse.orders"]},
        {"id": "y", "integration": "fake", "integration_job": "fake_job",
         "parameters": {"fail": True}, "outputs": ["warehouse.customers"]}]})
    result = await run_pipeline(sqlite_store, clock, p)
    with sqlite_store.engine.connect() as conn:
        rows = conn.execute(sa.select(asset_events.c.asset, asset_events.c.task_id,
                                      asset_events.c.run_id)).all()
    # the fake job reports asset t.x; the failed task updated nothing
    assert sorted(rows) == [("t.x", "x", result.run_id), ("warehouse.orders", "x", result.run_id)]


async def test_changes_trigger_fires_when_assets_changed_since_the_pipeline_last_ran(store):
    s = Sched(store)
    up = make_pipeline(s.host, "up", tasks=[{"id": "a", **NOOP,
                                             "outputs": ["warehouse.orders"]}])
    s.apply({"kind": "changes", "assets": ["warehouse.*"], "check_every": 30}, name="down")
    await s.run_until(_at("2026-01-01T00:05"))
    assert s.runs("down") == []
    await run_pipeline(store, s.clock, up)
    await s.run_until(s.clock.now() + timedelta(minutes=5))
    assert len(s.runs("down")) == 1
    assert s.trigger("changes", "down")["last_result"] == \
        "no asset updates since the pipeline last ran"
    # no new updates since its run: no new run
    await s.run_until(s.clock.now() + timedelta(hours=1))
    assert len(s.runs("down")) == 1
    other = make_pipeline(s.host, "up", tasks=[{"id": "a", **NOOP, "outputs": ["crm.accounts"]}])
    await run_pipeline(store, s.clock, other)
    await s.run_until(s.clock.now() + timedelta(minutes=5))
    assert len(s.runs("down")) == 1  # not an asset it watches
    await run_pipeline(store, s.clock, up)
    await s.run_until(s.clock.now() + timedelta(minutes=5))
    assert len(s.runs("down")) == 2


async def test_scheduled_changes_trigger_checks_at_cron_times_within_the_offset(sqlite_store):
    s = Sched(sqlite_store)
    up = make_pipeline(s.host, "up", tasks=[{"id": "a", **NOOP, "outputs": ["stripe.charges"]}])
    s.apply({"kind": "changes", "pipeline": "up", "cron": "0 6 * * *", "offset": "12h"},
            name="down")
    await s.run_until(_at("2026-01-01T10:00"))
    await run_pipeline(sqlite_store, s.clock, up)  # updated 20 h before the next check
    await s.run_until(_at("2026-01-02T12:00"))
    assert s.runs("down") == []
    assert s.trigger("changes", "down")["last_result"].startswith("no asset updates")
    s.clock.set(_at("2026-01-02T20:00"))
    await run_pipeline(sqlite_store, s.clock, up)  # within 12 h of the 06:00 check
    await s.run_until(_at("2026-01-03T05:59"))
    assert s.runs("down") == []  # only checked at the scheduled time
    await s.run_until(_at("2026-01-03T12:00"))
    assert [t for t, *_ in s.runs("down")] == [_at("2026-01-03T06:00")]


# -- apply, versions, triggers -------------------------------------------------------------------


async def test_apply_keeps_history_and_reschedules_only_changed_triggers(sqlite_store):
    s = Sched(sqlite_store)
    first = s.apply({"cron": "0 6 * * *"}, {"id": "q", "kind": "interval", "frequency": 1})
    assert (first.status, first.version, first.triggers_added) == ("created", 1,
                                                                   ("cron", "q"))
    assert s.apply({"cron": "0 6 * * *"}, {"id": "q", "kind": "interval",
                                           "frequency": 1}).status == "unchanged"
    await s.run_until(_at("2026-01-01T07:00"))
    fired = s.trigger("cron")["last_fire_at"]
    second = s.apply({"cron": "0 6 * * *"}, {"id": "q", "kind": "interval", "frequency": 2},
                     description="now every 2 hours")
    assert (second.status, second.version, second.triggers_changed) == ("updated", 2, ("q",))
    assert s.trigger("cron")["last_fire_at"] == fired  # unchanged trigger keeps its state
    assert s.trigger("q")["next_fire_at"] == _at("2026-01-01T08:00")
    added = s.registry.add_trigger("p", _trigger({"kind": "manual", "id": "by_hand"}))
    assert added["origin"] == "api"
    third = s.apply({"id": "q", "kind": "interval", "frequency": 2},
                    description="now every 2 hours")
    assert third.triggers_removed == ("cron",)
    assert {t["name"] for t in s.registry.list_triggers()} == {"q", "by_hand"}
    info = s.registry.get("p")
    assert [v["version"] for v in info["versions"]] == [3, 2, 1]
    assert s.registry.pipeline("p", version=1).description is None
    assert s.registry.pipeline("p").description == "now every 2 hours"
    assert s.registry.pipeline("p").triggers[0].id == "q"


def _trigger(raw):
    from orchestra_core._config import structure_or_raise
    from orchestra_core._triggers.model import Trigger

    return structure_or_raise(raw, Trigger)


async def test_delete_unregisters_but_keeps_run_history(sqlite_store):
    s = Sched(sqlite_store)
    s.apply({"cron": "0 * * * *"})
    await s.run_until(_at("2026-01-01T02:00"))
    assert s.registry.delete("p") == 2
    assert s.registry.list() == [] and s.registry.list_triggers() == []
    assert len(s.runs()) == 2
    from orchestra_core._scheduling.registry import PipelineNotRegistered

    with pytest.raises(PipelineNotRegistered, match="no registered pipeline 'p'"):
        s.registry.get("p")


# -- exactly once ----------------------------------------------------------------------------------


async def test_several_schedulers_fire_each_trigger_exactly_once(store_url):
    stores = [Store.open(store_url) for _ in range(3)]
    try:
        clock = FakeClock(T0)
        registry = PipelineRegistry(stores[0], clock=clock)
        host = Orchestra(load_entrypoints=False)
        for i in range(40):
            registry.apply(make_pipeline(host, f"p{i}", [
                {"cron": "*/5 * * * *"}, {"kind": "interval", "frequency": 10,
                                         "frequency_type": "minutes"}]))
        schedulers = [Scheduler(st, clock=clock, batch=7) for st in stores]
        for minute in range(0, 31, 5):
            clock.set(T0 + timedelta(minutes=minute))
            async with anyio.create_task_group() as tg:
                for sched in schedulers:
                    tg.start_soon(sched.tick)
        with stores[0].engine.connect() as conn:
            labels = conn.execute(sa.select(pipeline_runs.c.pipeline_id, pipeline_runs.c.trigger,
                                            pipeline_runs.c.created_at)).all()
            n_triggers = conn.execute(sa.select(sa.func.count()).select_from(triggers)).scalar()
        assert n_triggers == 80
        # registered at 00:00: 6 cron times and 3 interval times per pipeline, each once
        assert len(labels) == 40 * (6 + 3)
        assert len(set(labels)) == len(labels)
        fired_by = [len(sched.fired) for sched in schedulers]
        assert sum(fired_by) == len(labels)
    finally:
        for st in stores:
            st.close()


# -- the loop --------------------------------------------------------------------------------------


async def test_scheduler_loop_sleeps_until_the_next_due_time(sqlite_store):
    clock = FakeClock(T0)
    registry = PipelineRegistry(sqlite_store, clock=clock)
    host = Orchestra(load_entrypoints=False)
    registry.apply(make_pipeline(host, "p", [{"cron": "*/10 * * * *"}]))
    woken = []
    sched = Scheduler(sqlite_store, clock=clock, reread=60, on_runs=woken.append)
    async with clock.driving(), anyio.create_task_group() as tg:
        await tg.start(sched.run)
        await clock.sleep(3600 - 1)
        # a trigger added by this process is seen at once when the scheduler is woken
        registry.apply(make_pipeline(host, "q", [{"kind": "single",
                                                   "at": "2026-01-01T00:59:59.500"}]))
        sched.wake()
        await clock.sleep(2)
        tg.cancel_scope.cancel()
    times = [f.created_at for f in sched.fired]
    assert times[:5] == [T0 + timedelta(minutes=m) for m in range(10, 60, 10)]
    assert [f.pipeline for f in sched.fired[5:]] == ["q", "p"]
    assert times[5] == T0 + timedelta(minutes=59, seconds=59.5)
    assert sum(len(ids) for ids in woken) == 7
    # no busy polling: one pass per due time plus one per reread period
    assert sched.passes <= 7 + 3600 // 60 + 2
