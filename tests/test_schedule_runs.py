# ruff: noqa: F811 (fixtures imported from test_scheduling are parameters here)
"""What the scheduler creates: runs carrying their scheduled time, misfire run_all and a grace
relative to the period, overlap control, one run per upstream completion, queue elements
counted in commit order."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from orchestra_core._queues import Queues, number_in_commit_order
from orchestra_core._store.schema import pipeline_runs, queue_elements

from .test_scheduling import (  # noqa: F401 (fixtures)
    NOOP,
    Sched,
    _at,
    anyio_backend,
    make_pipeline,
    run_pipeline,
    sqlite_store,
    store,
    store_url,
)


def scheduled(store, name="p"):
    """``[(scheduled_at, state)]`` of pipeline *name*'s runs, oldest first."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(pipeline_runs.c.scheduled_at, pipeline_runs.c.state, pipeline_runs.c.id)
            .select_from(pipeline_runs.join(
                sa.table("pipelines", sa.column("id"), sa.column("name")),
                sa.text("pipelines.id = pipeline_runs.pipeline_id")))
            .where(sa.text("pipelines.name = :n")).params(n=name)
            .order_by(pipeline_runs.c.created_at, pipeline_runs.c.scheduled_at)).all()
    return [(r[0] if r[0].tzinfo else r[0].replace(tzinfo=UTC), r[1]) for r in rows]


# -- scheduled time and misfires -----------------------------------------------------------------


async def test_each_run_records_the_time_it_was_scheduled_for(sqlite_store):
    s = Sched(sqlite_store)
    s.apply({"cron": "0 * * * *", "misfire_grace": "10m"})
    await s.down_until(_at("2026-01-01T01:04"))  # late, within the grace
    await s.run_until(_at("2026-01-01T02:30"))
    assert scheduled(sqlite_store) == [(_at("2026-01-01T01:00"), "pending"),
                                       (_at("2026-01-01T02:00"), "pending")]
    assert [t for t, *_ in s.runs()] == [_at("2026-01-01T01:04"), _at("2026-01-01T02:00")]


@pytest.mark.parametrize(("policy", "expected"), [
    ("run_all", ["03:00", "04:00", "05:00"]), ("run_once", ["05:00"]), ("skip", [])])
async def test_misfire_policies_after_downtime_and_the_times_they_carry(store, policy,
                                                                         expected):
    s = Sched(store)
    s.apply({"cron": "0 * * * *", "misfire": policy})
    await s.run_until(_at("2026-01-01T02:00"))
    await s.down_until(_at("2026-01-01T05:30"))  # 03:00, 04:00 and 05:00 were missed
    late = [t.strftime("%H:%M") for t, _ in scheduled(store)[2:]]
    assert late == expected
    assert s.trigger("cron")["next_fire_at"] == _at("2026-01-01T06:00")
    if policy == "run_all":
        assert "3 run(s), one per time missed" in s.trigger("cron")["last_result"]


async def test_run_all_catches_up_a_long_downtime_over_several_passes(sqlite_store):
    from orchestra_core._scheduling import misfires

    s = Sched(sqlite_store)
    s.apply({"cron": "* * * * *", "misfire": "run_all"})
    s.clock.set(_at("2026-01-01T00:00:30"))
    old = misfires.MAX_RUN_ALL
    misfires.MAX_RUN_ALL = 40
    try:
        await s.down_until(_at("2026-01-01T01:40:30"))  # 100 missed minutes
        assert len(scheduled(sqlite_store)) == 40
        await s.scheduler.tick()
        await s.scheduler.tick()
    finally:
        misfires.MAX_RUN_ALL = old
    times = [t for t, _ in scheduled(sqlite_store)]
    assert len(times) == 100 and len(set(times)) == 100
    assert times[0] == _at("2026-01-01T00:01") and times[-1] == _at("2026-01-01T01:40")


async def test_a_grace_relative_to_the_period(sqlite_store):
    s = Sched(sqlite_store)
    s.apply({"id": "hourly", "cron": "0 * * * *", "misfire": "skip", "misfire_grace": "50%"},
            {"id": "daily", "cron": "0 0 * * *", "misfire": "skip", "misfire_grace": "10%"})
    await s.down_until(_at("2026-01-01T01:29"))  # 29 min late: within half an hour
    assert s.trigger("hourly")["last_result"] == "fired"
    await s.down_until(_at("2026-01-01T02:31"))  # 31 min late
    assert "skipped" in s.trigger("hourly")["last_result"]
    await s.down_until(_at("2026-01-02T02:00"))  # 2 h late: within 2.4 h
    assert s.trigger("daily")["last_result"] == "fired"
    await s.down_until(_at("2026-01-03T02:30"))  # 2.5 h late
    assert "skipped" in s.trigger("daily")["last_result"]


@pytest.mark.parametrize(("grace", "message"), [("150%", "at most 100%"),
                                                ("abc%", "share of the period"),
                                                (-5, "seconds >= 0")])
def test_an_invalid_grace_is_a_problem_at_its_field(grace, message):
    from orchestra_core import Orchestra
    from orchestra_core._errors import ConfigError

    host = Orchestra(load_entrypoints=False)
    with pytest.raises(ConfigError) as info:
        make_pipeline(host, "p", [{"cron": "0 * * * *", "misfire_grace": grace}])
    assert "misfire_grace" in str(info.value) and message in str(info.value)


# -- overlap --------------------------------------------------------------------------------------


async def test_without_overlap_control_a_5s_cron_stacks_runs(sqlite_store):
    s = Sched(sqlite_store)
    s.apply({"cron": "*/5 * * * * *"})
    await s.run_until(_at("2026-01-01T00:00:25"))
    assert len(scheduled(sqlite_store)) == 5  # nothing finished: five active runs


@pytest.mark.parametrize("limit", [1, 2])
async def test_on_overlap_skip_creates_no_run_while_the_limit_is_active(sqlite_store, limit):
    s = Sched(sqlite_store)
    s.apply({"cron": "*/5 * * * * *"}, max_active_runs=limit, on_overlap="skip")
    await s.run_until(_at("2026-01-01T00:00:25"))
    runs = scheduled(sqlite_store)
    assert len(runs) == limit
    assert "on_overlap: skip" in s.trigger("cron")["last_result"]
    s.finish(s.trigger("cron")["last_run_id"])
    await s.run_until(_at("2026-01-01T00:00:30"))
    assert len(scheduled(sqlite_store)) == limit + 1


async def test_on_overlap_cancel_previous_cancels_the_active_runs(sqlite_store):
    s = Sched(sqlite_store)
    s.apply({"cron": "*/5 * * * * *"}, on_overlap="cancel_previous")
    await s.run_until(_at("2026-01-01T00:00:05"))
    first = s.trigger("cron")["last_run_id"]
    with sqlite_store.engine.begin() as conn:  # a worker runs it
        conn.execute(pipeline_runs.update().where(pipeline_runs.c.id == first).values(
            state="running", owner="other:1", started_at=_at("2026-01-01T00:00:05")))
    await s.run_until(_at("2026-01-01T00:00:10"))
    second = s.trigger("cron")["last_run_id"]
    assert sqlite_store.get_run(first)["cancel_requested"] is True
    await s.run_until(_at("2026-01-01T00:00:15"))
    run = sqlite_store.get_run(second)  # never started: cancelled at once
    assert run["state"] == "cancelled" and "cancel_previous" in run["error"]
    assert [st for _, st in scheduled(sqlite_store)] == ["running", "cancelled", "pending"]


async def test_on_overlap_queue_holds_the_run_until_an_active_one_ends(sqlite_store):
    from orchestra_core import Orchestra
    from orchestra_core._engine import Engine
    from orchestra_core._scheduling.worker import RunWorker

    from ._engine_kit import FakePlugin

    s = Sched(sqlite_store)
    s.apply({"cron": "*/5 * * * * *"}, max_active_runs=1)  # on_overlap defaults to queue
    await s.run_until(_at("2026-01-01T00:00:10"))
    assert len(scheduled(sqlite_store)) == 2
    engine = Engine(Orchestra(plugins=[FakePlugin()], load_entrypoints=False), sqlite_store,
                    clock=s.clock)
    worker = RunWorker(engine)
    worker.engine.owner = "me:1"
    claimed = worker._claim(s.clock.now(), 10)
    assert len(claimed) == 1  # the second waits for the first
    first = claimed[0][0]
    assert worker._claim(s.clock.now(), 10) == []
    s.finish(first)
    again = worker._claim(s.clock.now(), 10)
    assert len(again) == 1 and again[0][0] != first


def test_allow_with_max_active_runs_is_a_problem():
    from orchestra_core import Orchestra
    from orchestra_core._errors import ConfigError

    host = Orchestra(load_entrypoints=False)
    with pytest.raises(ConfigError, match="on_overlap: allow puts no limit"):
        make_pipeline(host, "p", max_active_runs=2, on_overlap="allow")
    with pytest.raises(ConfigError, match="on_overlap"):
        make_pipeline(host, "p", on_overlap="sometimes")


# -- after: one run per completion ---------------------------------------------------------------


async def test_after_fires_once_per_upstream_completion_after_downtime(store):
    s = Sched(store)
    up = make_pipeline(s.host, "up")
    s.registry.apply(up)
    s.apply({"kind": "after", "pipeline": "up"}, name="down")
    await s.run_until(_at("2026-01-01T00:01"))
    # no scheduler while the upstream pipeline completes twice
    s.clock.set(_at("2026-01-01T00:02"))
    await run_pipeline(store, s.clock, up)
    s.clock.set(_at("2026-01-01T00:03"))
    await run_pipeline(store, s.clock, up)
    await s.down_until(_at("2026-01-01T00:10"))
    runs = scheduled(store, "down")
    assert len(runs) == 2
    ends = sorted(r["ended_at"] for r in store.list_runs(pipeline="up", limit=10))
    assert [t for t, _ in runs] == [e if e.tzinfo else e.replace(tzinfo=UTC) for e in ends]
    await s.run_until(_at("2026-01-01T00:20"))
    assert len(scheduled(store, "down")) == 2


async def test_after_fires_for_each_completion_within_one_check_window(sqlite_store):
    s = Sched(sqlite_store)
    up = make_pipeline(s.host, "up")
    s.registry.apply(up)
    s.apply({"kind": "after", "pipeline": "up", "check_every": 60}, name="down")
    await s.run_until(_at("2026-01-01T00:00:01"))
    s.clock.set(_at("2026-01-01T00:00:10"))
    await run_pipeline(sqlite_store, s.clock, up)
    s.clock.set(_at("2026-01-01T00:00:20"))
    await run_pipeline(sqlite_store, s.clock, up)
    await s.run_until(_at("2026-01-01T00:01:30"))
    assert len(scheduled(sqlite_store, "down")) == 2
    assert "(2 times)" in s.trigger("after", "down")["last_result"]


# -- queues: commit order, not time stamps --------------------------------------------------------


class _Behind:
    """A pusher's clock an hour behind the scheduler's (clock skew between machines)."""

    def __init__(self, clock):
        self.clock = clock

    def now(self):
        return self.clock.now() - timedelta(hours=1)


async def test_queue_trigger_counts_elements_whatever_their_time_stamps(store):
    s = Sched(store)
    s.apply({"queue": "q", "min_elements": 3, "check_every": 10})
    on_time = Queues(store, clock=s.clock)
    on_time.push_many("q", [(n, None) for n in range(3)])
    await s.run_until(_at("2026-01-01T00:01"))
    assert len(s.runs()) == 1
    s.finish(s.trigger("queue")["last_run_id"])
    # pushed later, stamped an hour earlier than the last fire
    Queues(store, clock=_Behind(s.clock)).push_many("q", [(n, None) for n in range(3)])
    await s.run_until(_at("2026-01-01T00:02"))
    assert len(s.runs()) == 2


async def test_elements_of_a_long_transaction_count_after_later_short_ones(store):
    """30,000 elements pushed in one long transaction while 3 more are pushed and fire: the
    long transaction's elements fire too once it commits (scaled down to 3,000)."""
    s = Sched(store)
    s.apply({"queue": "q", "min_elements": 3, "check_every": 10})
    queues = Queues(store, clock=s.clock)
    started, release = threading.Event(), threading.Event()

    def long_push():
        with store.engine.begin() as conn:
            conn.execute(queue_elements.insert(), [
                {"queue": "q", "data": n, "status": "new", "created_at": s.clock.now(),
                 "created_by": "long"} for n in range(3000)])
            started.set()
            release.wait(30)
            number_in_commit_order(conn, "q")

    if store.engine.dialect.name == "sqlite":
        # one writer at a time: the short pushes wait for the long one, in commit order
        long_push_thread = None
        started.set()
    else:
        long_push_thread = threading.Thread(target=long_push)
        long_push_thread.start()
    assert started.wait(30)
    s.clock.set(_at("2026-01-01T00:00:30"))
    queues.push_many("q", [(n, None) for n in range(3)])
    await s.run_until(_at("2026-01-01T00:01"))
    assert len(s.runs()) == 1
    s.finish(s.trigger("queue")["last_run_id"])
    if long_push_thread is not None:
        release.set()
        long_push_thread.join(30)
    else:
        queues.push_many("q", [(n, None) for n in range(3000)])
    await s.run_until(_at("2026-01-01T00:02"))
    assert len(s.runs()) == 2
    with store.engine.connect() as conn:
        seqs = conn.execute(sa.select(queue_elements.c.seq).order_by(
            queue_elements.c.seq)).scalars().all()
    assert seqs == list(range(1, 3004))


def test_a_pushed_element_gets_the_next_number_of_its_queue(sqlite_store):
    queues = Queues(sqlite_store)
    queues.push("a", 1)
    queues.push_many("b", [(1, None), (2, None)])
    queues.push("a", 2)
    with sqlite_store.engine.connect() as conn:
        rows = conn.execute(sa.select(queue_elements.c.queue, queue_elements.c.seq)
                            .order_by(queue_elements.c.id)).all()
    assert [tuple(r) for r in rows] == [("a", 1), ("b", 1), ("b", 2), ("a", 2)]


def test_scheduled_at_of_a_hand_made_run_is_its_creation(sqlite_store):
    s = Sched(sqlite_store)
    s.apply({"kind": "manual"})
    s.registry.queue_run("p")
    s.registry.queue_run("p", scheduled_at=datetime(2025, 5, 1, tzinfo=UTC))
    assert sorted(t for t, _ in scheduled(sqlite_store)) == [_at("2025-05-01T00:00"),
                                                              s.clock.now()]





def test_run_values_in_parameters():
    from orchestra_core._engine._run_values import run_values

    when = datetime(2026, 3, 29, 4, tzinfo=UTC)
    got = run_values({"a": "${run.scheduled_at}", "b": ["day {run.scheduled_date}"],
                      "c": "$${run.scheduled_at}", "d": "${ run.id }", "e": 5,
                      "f": "${run.other} ${constants.X}"}, "r1", when)
    assert got == {"a": "2026-03-29T04:00:00+00:00", "b": ["day 2026-03-29"],
                   "c": "${run.scheduled_at}", "d": "r1", "e": 5,
                   "f": "${run.other} ${constants.X}"}
