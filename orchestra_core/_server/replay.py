"""Replay protection of webhooks that survives a restart.

Every event id a verified delivery carries is recorded in the store (``webhook_deliveries``)
for :data:`REPLAY_WINDOW`; a delivery whose event ids were all recorded within that window is
a replay and is ignored (answered 200, so the vendor stops retrying). Where the vendor signs a
timestamp (the handler sets :attr:`~orchestra_core.WebhookEvent.signed_at`: Fivetran's
``created``, dbt Cloud's ``timestamp``), a delivery signed longer ago than the window, or more
than :data:`FUTURE_SKEW` ahead, is refused (400): its id may have been forgotten already, so
only its age can tell it is a replay. The window outlasts the vendors' retries (Fivetran
retries for 24 hours, dbt Cloud 5 times), so no genuine redelivery is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .._committer import in_thread
from .._models import WebhookEvent
from .._store.schema import webhook_deliveries

__all__ = ("FUTURE_SKEW", "REPLAY_WINDOW", "DeliveryLog", "record_new", "stale_reason")

#: How long a delivery's event ids are remembered, and the oldest signed timestamp accepted.
REPLAY_WINDOW = timedelta(days=3)
#: How far in the future a signed timestamp may be (clock skew between vendor and server).
FUTURE_SKEW = timedelta(minutes=5)
#: Seconds between two purges of ids older than the window.
PURGE_EVERY = 600.0


def stale_reason(events: Sequence[WebhookEvent], now: datetime,
                 window: timedelta = REPLAY_WINDOW) -> str | None:
    """Why a delivery of *events* is refused by its signed timestamp, or ``None``."""
    for event in events:
        signed = event.signed_at
        if signed is None:
            continue
        if signed.tzinfo is None:
            return "the signed timestamp has no time zone"
        if signed < now - window:
            return (f"the delivery was signed at {signed.isoformat()}, more than "
                    f"{window.total_seconds() / 3600:g} hours ago (a replay?)")
        if signed > now + FUTURE_SKEW:
            return f"the delivery was signed at {signed.isoformat()}, in the future"
    return None


class DeliveryLog:
    """Records event ids in the store; one per app (it remembers when it last purged)."""

    def __init__(self, window: timedelta = REPLAY_WINDOW) -> None:
        self.window = window
        self._purged_at: datetime | None = None

    def record_new(self, store: Any, events: Sequence[WebhookEvent],
                   now: datetime) -> list[bool]:
        """For each of *events*, whether its id is new (recorded now) rather than seen within
        the window. Blocking: call it in a thread."""
        table = webhook_deliveries
        oldest = now - self.window
        fresh: list[bool] = []
        with store.engine.begin() as conn:
            if self._purged_at is None or (now - self._purged_at).total_seconds() > PURGE_EVERY:
                conn.execute(table.delete().where(table.c.received_at < oldest))
                self._purged_at = now
            for event in events:
                key = event.event_id[:300]
                seen = conn.execute(sa.select(table.c.received_at).where(
                    table.c.event_id == key)).scalar()
                if seen is not None and _aware(seen) >= oldest:
                    fresh.append(False)
                    continue
                if seen is not None:  # recorded before the window: a new delivery
                    conn.execute(table.update().where(table.c.event_id == key)
                                 .values(received_at=now, integration=event.integration))
                else:
                    insert = _insert(conn.dialect.name).values(
                        event_id=key, integration=event.integration, received_at=now)
                    done = conn.execute(insert.on_conflict_do_nothing(
                        index_elements=["event_id"]))
                    if done.rowcount == 0:  # another server recorded it meanwhile
                        fresh.append(False)
                        continue
                fresh.append(True)
        return fresh


async def record_new(log: DeliveryLog, engine: Any, events: Sequence[WebhookEvent],
                     now: datetime) -> list[bool]:
    """:meth:`DeliveryLog.record_new` on *engine*'s store, in a worker thread (telling a fake
    engine clock that work is in flight, so it does not move time meanwhile)."""
    return await in_thread(getattr(engine, "clock", None), log.record_new, engine.store,
                          events, now)


def _insert(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(webhook_deliveries)


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
