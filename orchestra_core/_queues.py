"""Named durable work queues: push elements, claim them one at a time, finish them.

An element has a ``reference`` (your id for it), JSON ``data``, a ``status`` (``new``,
``in_progress``, ``done``, ``failed``), timestamps and who created and claimed it. Elements
are claimed oldest first, atomically: two consumers never get the same element (``SELECT ...
FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional ``UPDATE`` on SQLite)::

    queues = Queues(store)
    queues.push("invoices", {"number": 42}, reference="INV-42")
    element = queues.claim("invoices")
    ...
    queues.complete(element.id, "booked")

Inside a running ``process`` task, ``Queues.from_env()`` opens the run's store (the runner
sets ``ORCHESTRA_DB``) and records the task as the claimer. See ``docs/queues.md``.
"""

from __future__ import annotations

import enum
import getpass
import os
import socket
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from attrs import field, frozen

from ._errors import OrchestraError
from ._store import Store, utc
from ._store.schema import queue_elements

__all__ = (
    "ElementStatus",
    "QueueElement",
    "QueueError",
    "QueueSummary",
    "Queues",
    "default_identity",
    "number_in_commit_order",
)

#: Longest queue name and reference.
MAX_NAME = 200


class QueueError(OrchestraError):
    """A queue operation was refused: unknown element, wrong status, invalid name."""


class ElementStatus(enum.StrEnum):
    """Where a queue element is in its life."""

    NEW = "new"  #: pushed, waiting to be claimed
    IN_PROGRESS = "in_progress"  #: claimed by a consumer
    DONE = "done"  #: completed by its consumer
    FAILED = "failed"  #: its consumer gave up on it


@frozen(kw_only=True)
class QueueElement:
    """One element of a queue, as stored.

    :ivar id: the element's number (unique in the store, increasing in push order).
    :ivar queue: the queue's name.
    :ivar reference: the pusher's id for the element (an invoice number, a file name), if any.
    :ivar data: the JSON payload.
    :ivar status: see :class:`ElementStatus`.
    :ivar message: what the consumer said when it completed or failed the element.
    """

    id: int
    queue: str
    status: ElementStatus
    created_at: datetime
    reference: str | None = None
    data: Any = None
    message: str | None = None
    claimed_at: datetime | None = None
    finished_at: datetime | None = None
    created_by: str | None = None
    claimed_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (times in ISO 8601)."""
        out: dict[str, Any] = {}
        for name in ("id", "queue", "reference", "status", "data", "message", "created_at",
                     "claimed_at", "finished_at", "created_by", "claimed_by"):
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else (
                value.value if isinstance(value, enum.Enum) else value)
        return out


@frozen(kw_only=True)
class QueueSummary:
    """How many elements a queue holds in each status."""

    queue: str
    counts: Mapping[str, int] = field(factory=dict)

    @property
    def total(self) -> int:
        """Elements in every status."""
        return sum(self.counts.values())


def default_identity() -> str:
    """Who is acting: the task when called inside a ``process`` task (``ORCHESTRA_RUN_ID``
    and ``ORCHESTRA_TASK_ID`` set by the runner), else ``user@host``."""
    run_id = os.environ.get("ORCHESTRA_RUN_ID")
    task_id = os.environ.get("ORCHESTRA_TASK_ID")
    if run_id and task_id:
        pipeline = os.environ.get("ORCHESTRA_PIPELINE", "?")
        return f"task {pipeline}/{task_id} (run {run_id})"[:MAX_NAME]
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment (containers)
        user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"[:MAX_NAME]




def number_in_commit_order(conn: sa.Connection, name: str) -> None:
    """Number this transaction's new elements of queue *name* (``seq``) after every element
    committed before, as the last step before the commit: on PostgreSQL under a lock per
    queue held until the commit (so numbers follow commit order); SQLite has one writer at a
    time anyway. Queue triggers count elements by this number, never by time stamps."""
    q = queue_elements.c
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                     {"key": f"orchestra.queue:{name}"})
    base = conn.execute(sa.select(sa.func.coalesce(sa.func.max(q.seq), 0))
                        .where(q.queue == name)).scalar() or 0
    mine = (sa.select(q.id, (sa.func.row_number().over(order_by=q.id) + base).label("n"))
            .where(q.queue == name, q.seq.is_(None)).subquery())
    conn.execute(queue_elements.update().where(q.id == mine.c.id).values(seq=mine.c.n))


def _element(row: Mapping[str, Any]) -> QueueElement:
    return QueueElement(
        id=row["id"], queue=row["queue"], status=ElementStatus(row["status"]),
        created_at=utc(row["created_at"]), reference=row["reference"], data=row["data"],
        message=row["message"], claimed_at=utc(row["claimed_at"]),
        finished_at=utc(row["finished_at"]), created_by=row["created_by"],
        claimed_by=row["claimed_by"])


def _check_name(name: Any, what: str = "queue name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise QueueError(f"a {what} must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME:
        raise QueueError(f"a {what} is at most {MAX_NAME} characters, got {len(name)}")
    return name


class Queues:
    """The queues of one store. Methods are synchronous and thread-safe.

    :param store: the :class:`~orchestra_core.Store`.
    :param identity: recorded as ``created_by``/``claimed_by`` when a call gives none
        (default: :func:`default_identity`).
    :param clock: gives the timestamps (``now()``); the system clock by default, a
        :class:`~orchestra_core.testing.FakeClock` in tests.
    """

    def __init__(self, store: Store, *, identity: str | None = None, clock: Any = None) -> None:
        self.store = store
        self.identity = identity or default_identity()
        self.clock = clock

    @classmethod
    def from_env(cls, db: str | None = None) -> Queues:
        """The queues of the store named by *db* or ``ORCHESTRA_DB`` (which the ``process``
        runner sets for the processes it starts), acting as :func:`default_identity`.

        Inside a run (``ORCHESTRA_RUN_ID`` set) the store is known to be up to date, so its
        schema is not checked again: the process starts faster."""
        return cls(Store.open(db, migrate=not os.environ.get("ORCHESTRA_RUN_ID")))

    def close(self) -> None:
        """Release the store's connections."""
        self.store.close()

    def __enter__(self) -> Queues:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self) -> datetime:
        return self.clock.now() if self.clock is not None else datetime.now(UTC)

    # -- writing -------------------------------------------------------------------------------

    def push(self, name: str, data: Any = None, *, reference: str | None = None,
             created_by: str | None = None) -> QueueElement:
        """Add one element to queue *name* (created on first use); return it."""
        return self.push_many(name, [(data, reference)], created_by=created_by)[0]

    def push_many(self, name: str, items: Iterable[tuple[Any, str | None]], *,
                  created_by: str | None = None) -> list[QueueElement]:
        """Add ``(data, reference)`` elements to queue *name* in one transaction, in order."""
        _check_name(name)
        now = self._now()
        rows = []
        for data, reference in items:
            if reference is not None:
                _check_name(reference, "reference")
            rows.append(dict(queue=name, reference=reference, data=data, status="new",
                             created_at=now, created_by=created_by or self.identity))
        if not rows:
            return []
        out = []
        with self.store.engine.begin() as conn:
            for row in rows:  # one by one: every backend returns the new id
                new_id = conn.execute(queue_elements.insert().values(**row)).inserted_primary_key[0]
                out.append(QueueElement(id=new_id, queue=name, status=ElementStatus.NEW,
                                        created_at=now, reference=row["reference"],
                                        data=row["data"], created_by=row["created_by"]))
            number_in_commit_order(conn, name)
        return out

    def claim(self, name: str, *, claimed_by: str | None = None) -> QueueElement | None:
        """Take the oldest ``new`` element of queue *name* and mark it ``in_progress``;
        ``None`` when there is none. Atomic: concurrent claimers never get the same one."""
        _check_name(name)
        who = claimed_by or self.identity
        now = self._now()
        if self.store.engine.dialect.name == "postgresql":
            return self._claim_locked(name, who, now)
        return self._claim_conditional(name, who, now)

    def _claim_locked(self, name: str, who: str, now: datetime) -> QueueElement | None:
        with self.store.engine.begin() as conn:
            pick = (sa.select(queue_elements.c.id)
                    .where(queue_elements.c.queue == name, queue_elements.c.status == "new")
                    .order_by(queue_elements.c.id).limit(1)
                    .with_for_update(skip_locked=True))
            element_id = conn.execute(pick).scalar()
            if element_id is None:
                return None
            conn.execute(queue_elements.update().where(queue_elements.c.id == element_id)
                         .values(status="in_progress", claimed_at=now, claimed_by=who))
            row = conn.execute(sa.select(queue_elements)
                               .where(queue_elements.c.id == element_id)).mappings().one()
        return _element(row)

    def _claim_conditional(self, name: str, who: str, now: datetime) -> QueueElement | None:
        while True:
            with self.store.engine.begin() as conn:
                element_id = conn.execute(
                    sa.select(queue_elements.c.id)
                    .where(queue_elements.c.queue == name, queue_elements.c.status == "new")
                    .order_by(queue_elements.c.id).limit(1)).scalar()
                if element_id is None:
                    return None
                taken = conn.execute(
                    queue_elements.update()
                    .where(queue_elements.c.id == element_id, queue_elements.c.status == "new")
                    .values(status="in_progress", claimed_at=now, claimed_by=who)).rowcount
                if taken == 1:
                    row = conn.execute(sa.select(queue_elements)
                                       .where(queue_elements.c.id == element_id)).mappings().one()
                    return _element(row)
            # another consumer took it between our read and our update: try the next one

    def complete(self, element_id: int, message: str | None = None) -> QueueElement:
        """Mark the ``in_progress`` element *element_id* ``done``."""
        return self._finish(element_id, ElementStatus.DONE, message)

    def fail(self, element_id: int, message: str | None = None) -> QueueElement:
        """Mark the ``in_progress`` element *element_id* ``failed``, saying why in *message*."""
        return self._finish(element_id, ElementStatus.FAILED, message)

    def _finish(self, element_id: int, status: ElementStatus,
                message: str | None) -> QueueElement:
        with self.store.engine.begin() as conn:
            changed = conn.execute(
                queue_elements.update()
                .where(queue_elements.c.id == element_id,
                       queue_elements.c.status == ElementStatus.IN_PROGRESS.value)
                .values(status=status.value, message=message,
                        finished_at=self._now())).rowcount
            row = conn.execute(sa.select(queue_elements)
                               .where(queue_elements.c.id == element_id)).mappings().first()
        if row is None:
            raise QueueError(f"no queue element with id {element_id}")
        if changed != 1:
            verb = "complete" if status is ElementStatus.DONE else "fail"
            raise QueueError(f"cannot {verb} element {element_id} of queue {row['queue']!r}: it "
                             f"is {row['status']}, not in_progress (claim it first)")
        return _element(row)

    # -- reading -------------------------------------------------------------------------------

    def get(self, element_id: int) -> QueueElement:
        """The element *element_id*; :class:`QueueError` if there is none."""
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(queue_elements)
                               .where(queue_elements.c.id == element_id)).mappings().first()
        if row is None:
            raise QueueError(f"no queue element with id {element_id}")
        return _element(row)

    def list(self, name: str | None = None, *, status: ElementStatus | str | None = None,
             reference: str | None = None, limit: int = 100) -> list[QueueElement]:
        """Elements of queue *name* (every queue when ``None``), oldest first, filtered by
        *status* and *reference*, at most *limit*."""
        query = sa.select(queue_elements).order_by(queue_elements.c.id).limit(limit)
        if name is not None:
            query = query.where(queue_elements.c.queue == name)
        if status is not None:
            try:
                status = ElementStatus(status)
            except ValueError:
                raise QueueError(f"unknown status {status!r}; one of "
                                 f"{', '.join(s.value for s in ElementStatus)}") from None
            query = query.where(queue_elements.c.status == status.value)
        if reference is not None:
            query = query.where(queue_elements.c.reference == reference)
        with self.store.engine.connect() as conn:
            return [_element(r) for r in conn.execute(query).mappings()]

    def summary(self) -> list[QueueSummary]:
        """Every queue with its element count per status, by name."""
        query = (sa.select(queue_elements.c.queue, queue_elements.c.status, sa.func.count())
                 .group_by(queue_elements.c.queue, queue_elements.c.status))
        counts: dict[str, dict[str, int]] = {}
        with self.store.engine.connect() as conn:
            for queue, status, n in conn.execute(query):
                counts.setdefault(queue, {s.value: 0 for s in ElementStatus})[status] = n
        return [QueueSummary(queue=q, counts=c) for q, c in sorted(counts.items())]
