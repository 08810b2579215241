"""Queues through the Python API, on SQLite and PostgreSQL: push, list, claim, complete, fail,
and atomic claims under many concurrent claimers."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from orchestra_core._queues import ElementStatus, QueueError, Queues
from orchestra_core._store import Store
from orchestra_core.testing import FakeClock

from ._postgres import PG, skip_reason


def _pg_reason() -> str | None:
    """Why to skip the PostgreSQL tests, or ``None``; fails when PostgreSQL is expected."""
    return skip_reason()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = Store.open(str(tmp_path / "o.db"))
    else:
        reason = _pg_reason()
        if reason:
            pytest.skip(reason)
        import sqlalchemy as sa

        schema = f"t_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(PG.replace("postgresql://", "postgresql+psycopg://"))
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        s = Store.open(PG + f"?options=-csearch_path%3D{schema}")

        def drop() -> None:
            with admin.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()

        request.addfinalizer(drop)
    yield s
    s.close()


def test_push_claim_complete_fail_in_order(store):
    clock = FakeClock()
    q = Queues(store, identity="tester", clock=clock)
    a = q.push("invoices", {"n": 1}, reference="INV-1")
    clock.advance(1)
    b = q.push("invoices", {"n": 2}, reference="INV-2")
    q.push("other", [1, 2, 3])
    assert (a.status, a.created_by, a.created_at) == (ElementStatus.NEW, "tester", clock.now()
                                                       - timedelta(seconds=1))
    assert [e.reference for e in q.list("invoices")] == ["INV-1", "INV-2"]

    clock.advance(5)
    first = q.claim("invoices", claimed_by="worker-1")
    assert (first.id, first.status, first.claimed_by, first.claimed_at) == (
        a.id, ElementStatus.IN_PROGRESS, "worker-1", clock.now())
    second = q.claim("invoices")
    assert second.id == b.id and second.claimed_by == "tester"
    assert q.claim("invoices") is None

    clock.advance(2)
    done = q.complete(first.id, "booked")
    assert (done.status, done.message, done.finished_at) == (ElementStatus.DONE, "booked",
                                                             clock.now())
    failed = q.fail(second.id, "customer unknown")
    assert (failed.status, failed.message) == (ElementStatus.FAILED, "customer unknown")
    assert q.get(a.id).data == {"n": 1}
    assert [e.id for e in q.list("invoices", status="failed")] == [b.id]
    assert [e.id for e in q.list(reference="INV-1")] == [a.id]
    counts = {s.queue: dict(s.counts) for s in q.summary()}
    assert counts == {"invoices": {"new": 0, "in_progress": 0, "done": 1, "failed": 1},
                      "other": {"new": 1, "in_progress": 0, "done": 0, "failed": 0}}


def test_finishing_an_element_that_is_not_in_progress_is_refused(store):
    q = Queues(store)
    e = q.push("jobs", {})
    with pytest.raises(QueueError, match=r"cannot complete element \d+ of queue 'jobs': it is "
                       r"new, not in_progress \(claim it first\)"):
        q.complete(e.id)
    assert q.get(e.id).status is ElementStatus.NEW  # nothing changed
    q.claim("jobs")
    q.complete(e.id)
    with pytest.raises(QueueError, match="it is done, not in_progress"):
        q.fail(e.id, "too late")
    with pytest.raises(QueueError, match="no queue element with id 999"):
        q.complete(999)
    with pytest.raises(QueueError, match="queue name must be a non-empty string"):
        q.push("", {})
    with pytest.raises(QueueError, match="unknown status 'open'"):
        q.list("jobs", status="open")


def test_concurrent_claimers_never_get_the_same_element(store):
    q = Queues(store)
    pushed = q.push_many("work", [({"i": i}, f"ref-{i}") for i in range(200)])
    claimed: dict[int, list[int]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def consumer(n: int) -> None:
        mine = claimed.setdefault(n, [])
        own = Queues(store, identity=f"consumer-{n}")
        try:
            start.wait()
            while (element := own.claim("work")) is not None:
                assert element.claimed_by == f"consumer-{n}"
                mine.append(element.id)
                own.complete(element.id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=consumer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    every = [i for ids in claimed.values() for i in ids]
    assert len(every) == len(set(every)) == 200  # each element claimed exactly once
    assert sorted(every) == [e.id for e in pushed]
    assert all(e.status is ElementStatus.DONE for e in q.list("work", limit=1000))


def test_from_env_opens_the_store_named_by_orchestra_db(tmp_path, monkeypatch):
    db = tmp_path / "env.db"
    Queues(Store.open(str(db))).push("q", {"hello": "world"})
    monkeypatch.setenv("ORCHESTRA_DB", str(db))
    monkeypatch.setenv("ORCHESTRA_RUN_ID", "run-1")
    monkeypatch.setenv("ORCHESTRA_TASK_ID", "consume")
    monkeypatch.setenv("ORCHESTRA_PIPELINE", "nightly")
    with Queues.from_env() as q:
        element = q.claim("q")
    assert element.data == {"hello": "world"}
    assert element.claimed_by == "task nightly/consume (run run-1)"


def test_elements_keep_utc_times(store):
    q = Queues(store)
    before = datetime.now(UTC)
    e = q.push("t", None)
    assert q.get(e.id).created_at.tzinfo is not None
    assert q.get(e.id).created_at >= before - timedelta(seconds=1)
    assert q.get(e.id).data is None
