# ruff: noqa: F811 (fixtures imported from test_scheduling are parameters here)
"""``after`` triggers find upstream completions by the number the store gives them when they
commit (``end_seq``), never by end times: a completion stamped earlier but committed later,
and two completions with the same end time, each fire once."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from orchestra_core._store._completions import number_completions
from orchestra_core._store._records import RunUpdate, TaskUpdate
from orchestra_core._store.schema import pipeline_runs, task_runs, triggers

from .test_schedule_runs import scheduled
from .test_scheduling import (  # noqa: F401 (fixtures)
    Sched,
    _at,
    anyio_backend,
    make_pipeline,
    sqlite_store,
    store,
    store_url,
)


def _upstream(s, stages=False):
    """Register pipeline ``up`` (with a stage ``ingest`` when *stages*) and ``down``, which
    runs after it."""
    extra = {"stages": [{"id": "ingest", "tasks": ["a"]}]} if stages else {}
    s.registry.apply(make_pipeline(s.host, "up", **extra))
    spec = {"kind": "after", "pipeline": "up", "check_every": 10}
    if stages:
        spec.update(stage="ingest", outcome=["succeeded"])
    s.apply(spec, name="down")


def _new_run(s):
    """A run of ``up`` (its task ``a`` and stage ``ingest``), not ended yet."""
    definition = s.store.get_pipeline("up")["definition"]
    return s.store.create_run(name="up", client="default", definition=definition, source=None,
                              run_type="manual", trigger="manual",
                              nodes=[{"task_id": "a", "kind": "task"},
                                     {"task_id": "ingest", "kind": "stage"}])


def _end(s, run_id, at):
    """End *run_id* as the engine does (``Store.apply``), stamped *at*."""
    s.store.apply([RunUpdate(run_id, {"state": "succeeded", "ended_at": at})])


async def test_a_completion_committed_after_a_later_stamped_one_fires(store):
    """Run A ends at 00:05 in a long transaction (or on a machine whose clock is behind)
    while run B ends at 00:06 and fires ``down``; A commits afterwards and fires too."""
    s = Sched(store)
    _upstream(s)
    await s.run_until(_at("2026-01-01T00:01"))
    a, b = _new_run(s), _new_run(s)
    started, release = threading.Event(), threading.Event()

    def slow_end():  # what the engine's write does, held open before the commit
        with store.engine.begin() as conn:
            conn.execute(pipeline_runs.update().where(pipeline_runs.c.id == a).values(
                state="succeeded", ended_at=_at("2026-01-01T00:05")))
            started.set()
            release.wait(30)
            number_completions(conn, [a], ())

    thread = None
    if store.engine.dialect.name == "postgresql":
        thread = threading.Thread(target=slow_end)
        thread.start()
        assert started.wait(30)
    # SQLite has one writer at a time: A's end simply commits after B's
    s.clock.set(_at("2026-01-01T00:06"))
    _end(s, b, _at("2026-01-01T00:06"))
    await s.run_until(_at("2026-01-01T00:07"))
    assert [t for t, _ in scheduled(store, "down")] == [_at("2026-01-01T00:06")]
    if thread is not None:
        release.set()
        thread.join(30)
    else:
        _end(s, a, _at("2026-01-01T00:05"))
    await s.run_until(_at("2026-01-01T00:08"))
    assert [t for t, _ in scheduled(store, "down")] == [_at("2026-01-01T00:06"),
                                                       _at("2026-01-01T00:05")]
    await s.run_until(_at("2026-01-01T00:10"))
    assert len(scheduled(store, "down")) == 2


async def test_two_completions_with_one_end_time_across_two_passes_both_fire(store):
    s = Sched(store)
    _upstream(s)
    await s.run_until(_at("2026-01-01T00:01"))
    a, b = _new_run(s), _new_run(s)
    same = _at("2026-01-01T00:05")
    _end(s, a, same)
    await s.run_until(_at("2026-01-01T00:02"))
    assert len(scheduled(store, "down")) == 1
    _end(s, b, same)
    await s.run_until(_at("2026-01-01T00:03"))
    assert [t for t, _ in scheduled(store, "down")] == [same, same]
    await s.run_until(_at("2026-01-01T00:05"))
    assert len(scheduled(store, "down")) == 2
    with store.engine.connect() as conn:
        seqs = conn.execute(sa.select(pipeline_runs.c.end_seq).where(
            pipeline_runs.c.id.in_([a, b])).order_by(pipeline_runs.c.end_seq)).scalars().all()
    assert seqs[1] == seqs[0] + 1


async def test_stage_completions_with_one_end_time_both_fire(store):
    s = Sched(store)
    _upstream(s, stages=True)
    await s.run_until(_at("2026-01-01T00:01"))
    same = _at("2026-01-01T00:05")
    for n, run_id in enumerate((_new_run(s), _new_run(s))):
        s.store.apply([TaskUpdate(run_id, "a", {"state": "succeeded", "ended_at": same}),
                       TaskUpdate(run_id, "ingest", {"state": "succeeded", "outcome": "succeeded",
                                                     "ended_at": same})])
        await s.run_until(_at(f"2026-01-01T00:0{n + 2}"))
        assert len(scheduled(store, "down")) == n + 1
    with store.engine.connect() as conn:  # only stages are numbered
        rows = conn.execute(sa.select(task_runs.c.task_id, task_runs.c.end_seq)).all()
    assert {t for t, seq in rows if seq is not None} == {"ingest"}


async def test_an_after_trigger_added_later_ignores_earlier_completions(sqlite_store):
    s = Sched(sqlite_store)
    s.registry.apply(make_pipeline(s.host, "up"))
    _end(s, _new_run(s), _at("2026-01-01T00:00"))
    s.apply({"kind": "after", "pipeline": "up", "check_every": 10}, name="down")
    await s.run_until(_at("2026-01-01T00:02"))
    assert scheduled(sqlite_store, "down") == []
    _end(s, _new_run(s), _at("2026-01-01T00:00"))  # same stamp, but committed now
    await s.run_until(_at("2026-01-01T00:03"))
    assert len(scheduled(sqlite_store, "down")) == 1


async def test_a_trigger_from_before_the_numbering_starts_from_its_time_cursor(sqlite_store):
    """A trigger migrated from a store without ``cursor_seq`` fires for the completions
    after its time cursor once, then keeps a number."""
    s = Sched(sqlite_store)
    _upstream(s)
    old, new = _new_run(s), _new_run(s)
    _end(s, old, _at("2025-12-31T23:00"))
    _end(s, new, _at("2026-01-01T00:00:30"))
    with sqlite_store.engine.begin() as conn:
        conn.execute(triggers.update().where(triggers.c.name == "after").values(
            cursor_seq=None, cursor=_at("2026-01-01T00:00")))
    await s.run_until(_at("2026-01-01T00:01"))
    assert [t for t, _ in scheduled(sqlite_store, "down")] == [_at("2026-01-01T00:00:30")]
    assert s.trigger("after", "down")["cursor_seq"] is not None
    _end(s, _new_run(s), _at("2025-12-31T22:00"))
    await s.run_until(_at("2026-01-01T00:02"))
    assert len(scheduled(sqlite_store, "down")) == 2
