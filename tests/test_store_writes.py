"""The engine's SQLite write path (plain SQL on the DBAPI connection) writes exactly the rows
the SQLAlchemy path writes, in one transaction per batch."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from orchestra_core._store import AssetEvent, LogLine, RunUpdate, Store, TaskUpdate

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _store(path, fast: bool) -> tuple[Store, str]:
    store = Store.open(str(path))
    if not fast:
        store._sqlite_writer = None  # the SQLAlchemy path (the one PostgreSQL takes)
    run_id = store.create_run(name="p", client="c", definition={"name": "p"}, source=None,
                              run_type="full", trigger="manual",
                              nodes=[{"task_id": t, "kind": "task"} for t in ("a", "b", "c")])
    return store, run_id


def _batches(run_id: str) -> list[list]:
    return [
        [RunUpdate(run_id, {"state": "running", "started_at": T0, "owner": "h:1",
                            "heartbeat_at": T0}),
         LogLine(T0, "info", "p", run_id, None, "run started (full)")],
        [TaskUpdate(run_id, t, {"state": "running", "attempt": 1, "updated_at": T0,
                                "started_at": T0, "external": None, "external_id": None,
                                "next_attempt_at": None}) for t in ("a", "b")],
        [TaskUpdate(run_id, "a", {"state": "running", "attempt": 1, "updated_at": T0,
                                  "external_id": "42", "external": {"id": "42", "data": {
                                      "url": "http://x/42", "n": [1, 2.5, None]}}}),
         TaskUpdate(run_id, "b", {"state": "up_for_retry", "attempt": 1, "updated_at": T0,
                                  "error": "boom é \u2603", "next_attempt_at":
                                  T0 + timedelta(seconds=10)})],
        [TaskUpdate(run_id, "a", {"state": "succeeded", "attempt": 1, "updated_at": T0,
                                  "ended_at": T0.replace(microsecond=0), "error": None,
                                  "meta": {"rows": 3}}),
         TaskUpdate(run_id, "b", {"state": "failed", "attempt": 1, "updated_at": T0,
                                  "ended_at": T0, "meta": {}, "external": None}),
         AssetEvent("db.table", T0, "p", run_id, "a"),
         LogLine(T0, "error", "p", run_id, "b", "failed: boom"),
         TaskUpdate(run_id, "c", {"state": "skipped", "attempt": 0, "updated_at": T0,
                                  "ended_at": T0, "error": "upstream failed"})],
        [RunUpdate(run_id, {"state": "failed", "ended_at": T0, "error": "1 task failed"})],
    ]


def _rows(path, run_id: str) -> dict[str, list[tuple]]:
    db = sqlite3.connect(str(path))
    try:
        return {
            "task_runs": db.execute(
                "SELECT task_id, kind, state, attempt, external_id, external, started_at, "
                "ended_at, next_attempt_at, error, meta, outcome, updated_at FROM task_runs "
                "WHERE run_id = ? ORDER BY task_id", (run_id,)).fetchall(),
            "pipeline_runs": db.execute(
                "SELECT state, started_at, ended_at, error, owner, heartbeat_at "
                "FROM pipeline_runs WHERE id = ?", (run_id,)).fetchall(),
            "pipelines": db.execute("SELECT name, error_message FROM pipelines").fetchall(),
            "events": db.execute("SELECT time, level, pipeline, task_id, message FROM events "
                                 "WHERE run_id = ? ORDER BY id", (run_id,)).fetchall(),
            "asset_events": db.execute("SELECT asset, time, pipeline, task_id FROM "
                                       "asset_events WHERE run_id = ?", (run_id,)).fetchall(),
        }
    finally:
        db.close()


def test_fast_and_sqlalchemy_paths_write_the_same_rows(tmp_path):
    fast, fast_run = _store(tmp_path / "fast.db", fast=True)
    slow, slow_run = _store(tmp_path / "slow.db", fast=False)
    for fb, sb in zip(_batches(fast_run), _batches(slow_run), strict=True):
        fast.apply(fb)
        slow.apply(sb)
    got, want = _rows(tmp_path / "fast.db", fast_run), _rows(tmp_path / "slow.db", slow_run)
    assert got == want
    assert got["task_runs"][0][5] == ('{"id": "42", "data": {"url": "http://x/42", '
                                      '"n": [1, 2.5, null]}}')
    assert got["pipelines"] == [("p", "1 task failed")]
    # and the store reads them back as the SQLAlchemy path's
    assert fast.task_runs(fast_run)[0]["started_at"] == T0.replace(tzinfo=None)
    assert fast.task_runs(fast_run)[0]["external"]["data"]["n"] == [1, 2.5, None]
    fast.close()
    slow.close()


def test_a_batch_is_one_transaction(tmp_path):
    store, run_id = _store(tmp_path / "o.db", fast=True)
    with pytest.raises(sqlite3.Error):
        store.apply([TaskUpdate(run_id, "a", {"state": "running", "attempt": 1}),
                     TaskUpdate(run_id, "b", {"state": "running", "attempt": object()})])
    states = {r["task_id"]: r["state"] for r in store.task_runs(run_id)}
    assert states == {"a": "pending", "b": "pending", "c": "pending"}
    with pytest.raises(TypeError, match="not a store write"):
        store.apply([("task_runs", {})])
    store.close()


def test_an_unknown_column_is_refused(tmp_path):
    from orchestra_core import StoreError

    store, run_id = _store(tmp_path / "o.db", fast=True)
    with pytest.raises(StoreError, match=r"unknown column.* of task_runs: nope"):
        store.apply([TaskUpdate(run_id, "a", {"nope": 1})])
    store.close()


def _locked_by_another(path) -> sqlite3.Connection:
    other = sqlite3.connect(str(path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock
    return other


def test_apply_now_writes_at_once_or_not_at_all(tmp_path):
    store, run_id = _store(tmp_path / "o.db", fast=True)
    assert store.apply_now([TaskUpdate(run_id, "a", {"state": "running", "attempt": 1})])
    other = _locked_by_another(tmp_path / "o.db")
    assert not store.apply_now([TaskUpdate(run_id, "b", {"state": "running", "attempt": 1})])
    other.execute("ROLLBACK")
    other.close()
    states = {r["task_id"]: r["state"] for r in store.task_runs(run_id)}
    assert states == {"a": "running", "b": "pending", "c": "pending"}
    # the connection went back to the pool with its normal patience for the lock
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
    store.close()


def test_the_committer_waits_in_a_thread_while_another_writer_holds_the_lock(tmp_path):
    """The event loop goes on while a batch waits for another connection's write lock; the
    batch commits once the lock is released."""
    import anyio

    from orchestra_core._committer import Committer
    from orchestra_core._redaction import Redactor

    store, run_id = _store(tmp_path / "o.db", fast=True)
    other = _locked_by_another(tmp_path / "o.db")
    ticks = 0

    async def main() -> None:
        nonlocal ticks
        committer = Committer(store, None, Redactor())
        async with anyio.create_task_group() as tg:
            tg.start_soon(committer.run)
            written = anyio.Event()

            async def write() -> None:
                await committer.write(TaskUpdate(run_id, "a", {"state": "running",
                                                               "attempt": 1}))
                written.set()

            tg.start_soon(write)
            while ticks < 20:  # the loop is not blocked by the waiting batch
                await anyio.sleep(0.005)
                ticks += 1
            assert not written.is_set()
            other.execute("ROLLBACK")
            await written.wait()
            committer.close()

    anyio.run(main)
    other.close()
    assert ticks == 20
    assert store.task_runs(run_id)[0]["state"] == "running"
    store.close()


@pytest.mark.parametrize("fast", [True, False])
def test_a_stage_end_is_numbered_whether_or_not_the_writer_says_it_is_a_stage(tmp_path, fast):
    store = Store.open(str(tmp_path / "o.db"))
    if not fast:
        store._sqlite_writer = None
    run_id = store.create_run(name="p", client="c", definition={"name": "p"}, source=None,
                              run_type="full", trigger="manual",
                              nodes=[{"task_id": "t", "kind": "task"},
                                     {"task_id": "s1", "kind": "stage"},
                                     {"task_id": "s2", "kind": "stage"}])
    ended = {"state": "succeeded", "attempt": 1, "updated_at": T0, "ended_at": T0}
    store.apply([TaskUpdate(run_id, "t", dict(ended), stage=False),
                 TaskUpdate(run_id, "s1", dict(ended), stage=True),
                 TaskUpdate(run_id, "s2", dict(ended))])
    seq = {r["task_id"]: r["end_seq"] for r in store.task_runs(run_id)}
    assert seq["t"] is None
    assert sorted([seq["s1"], seq["s2"]]) == [1, 2]
    store.close()
