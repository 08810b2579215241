"""The engine's PostgreSQL write path (plain SQL on the psycopg connection, one round trip
per batch) writes exactly the rows the SQLAlchemy path writes, one transaction per batch,
numbers stage and run completions as it did, and the pool replaces a dead connection at
checkout without a ping per commit."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import sqlalchemy as sa

from orchestra_core._store import AssetEvent, LogLine, RunUpdate, Store, TaskUpdate
from orchestra_core._store import _postgres as pg_pool

from ._postgres import PG, skip_reason

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
NODES = [
    {"task_id": "a", "kind": "task"},
    {"task_id": "b", "kind": "task"},
    {"task_id": "c", "kind": "task"},
    {"task_id": "s1", "kind": "stage"},
    {"task_id": "s2", "kind": "stage"},
]


@pytest.fixture
def schemas(request):
    reason = skip_reason()  # fails instead when ORCHESTRA_TEST_POSTGRES_URL is set
    if reason:
        pytest.skip(reason)
    made: list[str] = []

    def make() -> str:
        name = f"t_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        made.append(name)
        return PG + f"?options=-csearch_path%3D{name}"

    yield make
    with psycopg.connect(PG, autocommit=True) as conn:
        for name in made:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


def _store(url: str, fast: bool, nodes: list[dict] = NODES) -> tuple[Store, str]:
    store = Store.open(url)
    assert store._postgres_writer is not None
    if not fast:
        store._postgres_writer = None  # the SQLAlchemy path
    run_id = store.create_run(
        name="p",
        client="c",
        definition={"name": "p"},
        source=None,
        run_type="full",
        trigger="manual",
        nodes=nodes,
    )
    return store, run_id


def _batches(run_id: str) -> list[list]:
    return [
        [
            RunUpdate(
                run_id, {"state": "running", "started_at": T0, "owner": "h:1", "heartbeat_at": T0}
            ),
            LogLine(T0, "info", "p", run_id, None, "run started (full)"),
        ],
        [
            TaskUpdate(
                run_id,
                t,
                {
                    "state": "running",
                    "attempt": 1,
                    "updated_at": T0,
                    "started_at": T0,
                    "external": None,
                    "external_id": None,
                    "next_attempt_at": None,
                },
            )
            for t in ("a", "b")
        ],
        # one transition alone: one statement
        [
            TaskUpdate(
                run_id,
                "a",
                {
                    "state": "running",
                    "attempt": 1,
                    "updated_at": T0,
                    "external_id": "42",
                    "external": {"id": "42", "data": {"url": "http://x/42", "n": [1, 2.5, None]}},
                },
            )
        ],
        [
            TaskUpdate(
                run_id,
                "b",
                {
                    "state": "up_for_retry",
                    "attempt": 1,
                    "updated_at": T0,
                    "error": "boom é \u2603",
                    "next_attempt_at": T0 + timedelta(seconds=10),
                },
            )
        ],
        # a stage ending alone: numbered
        [TaskUpdate(run_id, "s1", {"state": "succeeded", "updated_at": T0, "ended_at": T0})],
        # a task ending alone: not numbered
        [
            TaskUpdate(
                run_id,
                "a",
                {
                    "state": "succeeded",
                    "attempt": 1,
                    "updated_at": T0,
                    "ended_at": T0.replace(microsecond=0),
                    "error": None,
                    "meta": {"rows": 3},
                },
            )
        ],
        [
            TaskUpdate(
                run_id,
                "b",
                {
                    "state": "failed",
                    "attempt": 1,
                    "updated_at": T0,
                    "ended_at": T0,
                    "meta": {},
                    "external": None,
                },
            ),
            AssetEvent("db.table", T0, "p", run_id, "a"),
            LogLine(T0, "error", "p", run_id, "b", "failed: boom"),
            TaskUpdate(
                run_id,
                "c",
                {
                    "state": "skipped",
                    "attempt": 0,
                    "updated_at": T0,
                    "ended_at": T0,
                    "error": "upstream failed",
                },
            ),
            TaskUpdate(run_id, "s2", {"state": "failed", "updated_at": T0, "ended_at": T0}),
        ],
        [RunUpdate(run_id, {"state": "failed", "ended_at": T0, "error": "1 task failed"})],
    ]


def _rows(store: Store, run_id: str) -> dict[str, list[tuple]]:
    with store.engine.connect() as conn:

        def q(sql: str) -> list[tuple]:
            return [tuple(r) for r in conn.execute(sa.text(sql), {"r": run_id})]

        return {
            "task_runs": q(
                "SELECT task_id, kind, state, attempt, external_id, "
                "external::text, started_at, ended_at, next_attempt_at, error, "
                "meta::text, outcome, updated_at, end_seq FROM task_runs "
                "WHERE run_id = :r ORDER BY task_id"
            ),
            "pipeline_runs": q(
                "SELECT state, started_at, ended_at, error, owner, "
                "heartbeat_at, end_seq FROM pipeline_runs WHERE id = :r"
            ),
            "pipelines": q("SELECT name, error_message FROM pipelines"),
            "events": q(
                "SELECT time, level, pipeline, task_id, message FROM events "
                "WHERE run_id = :r ORDER BY id"
            ),
            "asset_events": q(
                "SELECT asset, time, pipeline, task_id FROM asset_events WHERE run_id = :r"
            ),
        }


def test_fast_and_sqlalchemy_paths_write_the_same_rows(schemas):
    fast, fast_run = _store(schemas(), fast=True)
    slow, slow_run = _store(schemas(), fast=False)
    for fb, sb in zip(_batches(fast_run), _batches(slow_run), strict=True):
        fast.apply(fb)
        slow.apply(sb)
    got, want = _rows(fast, fast_run), _rows(slow, slow_run)
    assert got == want
    seq = {r[0]: r[-1] for r in got["task_runs"]}
    # stages numbered in commit order, then the run; plain tasks never
    assert (seq["s1"], seq["s2"], got["pipeline_runs"][0][-1]) == (1, 2, 3)
    assert seq["a"] is seq["b"] is seq["c"] is None
    assert got["task_runs"][0][5] == (
        '{"id": "42", "data": {"url": "http://x/42", "n": [1, 2.5, null]}}'
    )
    assert got["pipelines"] == [("p", "1 task failed")]
    fast.close()
    slow.close()


def test_stages_ending_together_are_numbered_in_the_batchs_order(schemas):
    fast, fast_run = _store(schemas(), fast=True)
    slow, slow_run = _store(schemas(), fast=False)
    for store, run_id in ((fast, fast_run), (slow, slow_run)):
        store.apply(
            [
                TaskUpdate(run_id, t, {"state": "succeeded", "ended_at": T0})
                for t in ("s2", "a", "s1")
            ]
        )
    _same_numbers(fast, fast_run, slow, slow_run)


@pytest.mark.parametrize("fast", [True, False])
def test_ten_thousand_task_ends_in_one_batch(schemas, fast):
    # the SQLAlchemy path asked with a row-value IN of every pair, which PostgreSQL refuses
    # at 10,000 pairs ("stack depth limit exceeded")
    nodes = [{"task_id": f"t{i}", "kind": "task"} for i in range(10_000)]
    nodes.append({"task_id": "s", "kind": "stage"})
    store, run_id = _store(schemas(), fast, nodes)
    store.apply(
        [TaskUpdate(run_id, n["task_id"], {"state": "succeeded", "ended_at": T0}) for n in nodes]
    )
    rows = store.task_runs(run_id)
    assert {r["state"] for r in rows} == {"succeeded"}
    assert [r["end_seq"] for r in rows if r["kind"] == "stage"] == [1]
    store.close()


def test_a_batch_is_one_transaction_and_the_connection_stays_usable(schemas):
    store, run_id = _store(schemas(), fast=True)
    with pytest.raises(psycopg.Error):
        store.apply(
            [
                TaskUpdate(run_id, "a", {"state": "running", "attempt": 1}),
                LogLine(T0, "info", "p", run_id, "a", "x"),
                TaskUpdate(run_id, "b", {"state": "running", "attempt": "not a number"}),
            ]
        )
    with pytest.raises(psycopg.Error):  # one statement alone
        store.apply([TaskUpdate(run_id, "b", {"state": "running", "attempt": "nope"})])
    states = {r["task_id"]: r["state"] for r in store.task_runs(run_id)}
    assert set(states.values()) == {"pending"}
    assert store.logs(run_id=run_id) == []
    # the pooled connection went back in autocommit off, out of any transaction
    store.apply([TaskUpdate(run_id, "a", {"state": "running", "attempt": 1})])
    with store.engine.connect() as conn:
        assert conn.connection.driver_connection.autocommit is False
        conn.execute(sa.text("SELECT 1"))
        conn.rollback()
    assert store.task_runs(run_id)[0]["state"] == "running"
    with pytest.raises(TypeError, match="not a store write"):
        store.apply([("task_runs", {})])
    with pytest.raises(sa.exc.ArgumentError, match="nope"):
        store.apply([TaskUpdate(run_id, "a", {"nope": 1})])
    store.close()


def _kill_pooled_connection(store: Store) -> None:
    """End the backend of the pool's connection, as a server restart would, and wait until
    it is gone."""
    with store.engine.connect() as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        conn.rollback()
    with psycopg.connect(PG, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline
            time.sleep(0.01)


def test_a_pooled_connection_the_server_ended_is_replaced_at_checkout(schemas):
    store, run_id = _store(schemas(), fast=True)
    _kill_pooled_connection(store)
    # no ping for a connection used a moment ago, yet the dead one is not handed out
    store.apply([TaskUpdate(run_id, "a", {"state": "running", "attempt": 1})])
    assert store.task_runs(run_id)[0]["state"] == "running"
    store.close()


@pytest.mark.parametrize("idle_ping", [True, False])
def test_a_connection_idle_for_long_is_pinged(schemas, monkeypatch, idle_ping):
    store, run_id = _store(schemas(), fast=True)
    _kill_pooled_connection(store)
    # a host that vanished leaves nothing on the socket to read: only a ping tells
    monkeypatch.setattr(pg_pool, "_readable", lambda conn: False)
    monkeypatch.setattr(pg_pool, "PING_AFTER_IDLE_S", 0.0 if idle_ping else 3600.0)
    write = [TaskUpdate(run_id, "b", {"state": "running", "attempt": 1})]
    if idle_ping:
        store.apply(write)
        assert store.task_runs(run_id)[1]["state"] == "running"
    else:  # used a moment ago, not pinged: the write meets the dead connection
        with pytest.raises(psycopg.OperationalError):
            store.apply(write)
        store.apply(write)  # the dead connection was not put back in the pool
        assert store.task_runs(run_id)[1]["state"] == "running"
    store.close()


def test_writes_that_say_whether_they_are_a_stages_end(schemas):
    fast, fast_run = _store(schemas(), fast=True)
    slow, slow_run = _store(schemas(), fast=False)
    for store, run_id in ((fast, fast_run), (slow, slow_run)):
        # alone: a stage's end numbered, a task's not (no lookup either way)
        store.apply([TaskUpdate(run_id, "s2", {"state": "succeeded", "ended_at": T0}, True)])
        store.apply([TaskUpdate(run_id, "a", {"state": "succeeded", "ended_at": T0}, False)])
        store.apply(
            [
                TaskUpdate(run_id, "b", {"state": "failed", "ended_at": T0}, False),
                TaskUpdate(run_id, "s1", {"state": "failed", "ended_at": T0}, True),
            ]
        )
    _same_numbers(fast, fast_run, slow, slow_run)


@pytest.mark.parametrize("batch", ["one task", "a transaction"])
def test_apply_now_on_a_local_server_writes_at_once_or_leaves_a_locked_row_alone(schemas, batch):
    """On a server of this machine a batch commits on the calling thread (the event loop's);
    when another session holds a lock it needs, nothing is written and the caller is told
    to wait in a worker thread instead."""
    url = schemas()
    store, run_id = _store(url, fast=True)
    assert store._postgres_writer.local
    running = {"state": "running", "attempt": 1, "updated_at": T0}

    def writes(task: str) -> list:
        update = [TaskUpdate(run_id, task, dict(running), stage=False)]
        return update if batch == "one task" else [
            *update, LogLine(T0, "info", "p", run_id, task, "started")]

    assert store.apply_now(writes("a"))
    schema = url.split("search_path%3D")[1]
    with psycopg.connect(PG) as other:  # another session holds b's row
        other.execute(f"SELECT 1 FROM {schema}.task_runs WHERE run_id = %s AND task_id = 'b' "
                      "FOR UPDATE", (run_id,))
        started = time.monotonic()
        assert not store.apply_now(writes("b"))
        assert time.monotonic() - started < 2
    states = {r["task_id"]: r["state"] for r in store.task_runs(run_id)}
    assert states["a"] == "running" and states["b"] == "pending"
    store.apply(writes("b"))  # the worker thread's way: waits (here: nothing to wait for)
    assert {r["task_id"]: r["state"] for r in store.task_runs(run_id)}["b"] == "running"
    with store.engine.connect() as conn:  # the pooled session waits for locks as before
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "0"
    store.close()


def _same_numbers(fast: Store, fast_run: str, slow: Store, slow_run: str) -> None:
    """Both paths numbered the same completions: s2 first, then s1, no task."""
    got, want = (
        [(r[0], r[2], r[7], r[-1]) for r in rows["task_runs"]]  # created_at aside
        for rows in (_rows(fast, fast_run), _rows(slow, slow_run))
    )
    assert got == want
    assert {r[0]: r[-1] for r in got} == {"a": None, "b": None, "c": None, "s1": 2, "s2": 1}
    fast.close()
    slow.close()
