"""The worker pool's claim, on SQLite and PostgreSQL: runs without an owner claimed together
(never more than the free slots, oldest first, each by one worker only, with the records the
engine starts from), the one-by-one path where the store cannot return updated rows, runs of
a dead owner taken over at most every ``poll`` seconds."""

from __future__ import annotations

import threading
from datetime import timedelta

import anyio
import pytest
import sqlalchemy as sa

from orchestra_core import Orchestra
from orchestra_core._engine import Engine
from orchestra_core._scheduling.worker import RunWorker
from orchestra_core._store import Store
from orchestra_core._store.schema import pipeline_runs

from .test_scheduling import (  # noqa: F401 (fixtures)
    Sched,
    anyio_backend,
    store,
    store_url,
)

# ruff: noqa: F811 (fixtures imported from test_scheduling are parameters here)

TASKS = [{"id": "a", "integration": "noop", "integration_job": "noop_run"},
         {"id": "b", "integration": "noop", "integration_job": "noop_run", "depends_on": ["a"]}]


def queued(s: Sched, n: int, name: str = "p", **extra) -> list[str]:
    """*n* pending runs of pipeline *name*, one second apart, oldest first."""
    s.apply(name=name, tasks=TASKS, **extra)
    ids = []
    for _ in range(n):
        ids.append(s.registry.queue_run(name))
        s.clock.advance(1)
    return ids


def worker(store, s: Sched, owner: str) -> RunWorker:
    w = RunWorker(Engine(Orchestra(load_entrypoints=False), store, clock=s.clock))
    w.engine.owner = owner
    return w


def owners(store) -> dict[str, str | None]:
    with store.engine.connect() as conn:
        return dict(conn.execute(sa.select(pipeline_runs.c.id, pipeline_runs.c.owner)).all())


def test_runs_without_an_owner_are_claimed_together_oldest_first(store):
    s = Sched(store)
    ids = queued(s, 5)
    w = worker(store, s, "here:1")
    claimed = w._claim(s.clock.now(), 3)
    assert [c.run_id for c in claimed] == ids[:3]
    assert {c.why for c in claimed} == {"pending"}
    for c in claimed:  # what the engine starts from: the record as it was, the task runs
        assert c.run["id"] == c.run_id and c.run["owner"] is None
        assert c.run["state"] == "pending" and c.run["definition"]["name"] == "p"
        assert [r["task_id"] for r in c.rows] == ["a", "b"]
        assert {r["run_id"] for r in c.rows} == {c.run_id}
    mine = owners(store)
    assert [mine[i] for i in ids] == ["here:1"] * 3 + [None] * 2
    assert [c.run_id for c in w._claim(s.clock.now(), 16)] == ids[3:]
    assert w._claim(s.clock.now(), 16) == []


def test_two_workers_claiming_at_once_never_share_a_run(store_url):
    setup = Store.open(store_url)
    s = Sched(setup)
    ids = queued(s, 60)
    stores = [Store.open(store_url) for _ in range(3)]
    workers = [worker(st, s, f"host:{i}") for i, st in enumerate(stores)]
    got: list[list[str]] = [[] for _ in workers]
    start = threading.Barrier(len(workers))

    def claim(i: int) -> None:
        start.wait()
        while batch := workers[i]._claim(s.clock.now(), 4):
            got[i] += [c.run_id for c in batch]

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [r for g in got for r in g]
    assert sorted(every) == sorted(ids)  # each claimed once
    final = owners(setup)
    for i, g in enumerate(got):
        assert {final[r] for r in g} <= {f"host:{i}"}
    for st in (*stores, setup):
        st.close()


def test_max_active_runs_still_holds_runs_back(store):
    s = Sched(store)
    queued(s, 3, name="free")
    limited = queued(s, 3, name="one", max_active_runs=1)
    w = worker(store, s, "here:1")
    claimed = [c.run_id for c in w._claim(s.clock.now(), 16)]
    assert len(claimed) == 4 and limited[0] in claimed and not set(limited[1:]) & set(claimed)


def test_without_returning_rows_each_run_is_claimed_by_itself(store, monkeypatch):
    s = Sched(store)
    ids = queued(s, 4)
    w = worker(store, s, "here:1")
    monkeypatch.setattr(store.engine.dialect, "update_returning", False)  # SQLite < 3.35
    claimed = w._claim(s.clock.now(), 3)
    assert [c.run_id for c in claimed] == ids[:3]
    assert all(c.run is None and c.rows is None for c in claimed)  # the engine reads them
    assert [owners(store)[i] for i in ids] == ["here:1"] * 3 + [None]


def test_a_dead_owners_run_is_looked_for_at_most_every_poll(store):
    s = Sched(store)
    w = worker(store, s, "here:1")
    assert w._claim(s.clock.now(), 16) == []  # the look for dead owners' runs: none yet
    ids = queued(s, 1)
    with store.engine.begin() as conn:  # claimed by a process elsewhere, which then died
        conn.execute(pipeline_runs.update().values(
            owner="elsewhere:7", state="running", started_at=s.clock.now(),
            heartbeat_at=s.clock.now() - timedelta(seconds=60)))
    assert w._claim(s.clock.now(), 16) == []  # looked for within poll seconds: not yet
    s.clock.advance(w.poll)
    claimed = w._claim(s.clock.now(), 16)
    assert [(c.run_id, c.why) for c in claimed] == [
        (ids[0], "interrupted (owner elsewhere:7 is gone)")]
    assert claimed[0].run is None  # the engine reads it (and logs the owner it had)


@pytest.mark.anyio
async def test_the_pool_runs_every_queued_run_once(store):
    s = Sched(store)
    ids = queued(s, 40)
    w = worker(store, s, "here:1")
    w.slots = 4
    async with s.clock.driving(), anyio.create_task_group() as tg:
        await tg.start(w.run)
        while len(w.finished) < len(ids):
            await s.clock.sleep(0.5)
        w.stop()
    assert w.finished == dict.fromkeys(ids, "succeeded") and w.started == len(ids)
    assert {r["state"] for r in store.list_runs(limit=100)} == {"succeeded"}
