"""The stored notification list (what ``orchestra notifications`` shows).

The built-in ``stored`` notification channel appends to it; see ``docs/alerts.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from attrs import field, frozen

from ._models import Notification
from ._redaction import Redactor
from ._store import Store, utc
from ._store.schema import notifications

__all__ = ("NotificationLog", "StoredNotification")


@frozen(kw_only=True)
class StoredNotification:
    """A notification as kept in the store, with its number."""

    id: int
    kind: str
    pipeline: str
    message: str
    created_at: datetime
    run_id: str | None = None
    data: Mapping[str, Any] = field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (time in ISO 8601)."""
        return {"id": self.id, "created_at": self.created_at.isoformat(), "kind": self.kind,
                "pipeline": self.pipeline, "run_id": self.run_id, "message": self.message,
                "data": dict(self.data)}




class NotificationLog:
    """Notifications kept in a store, newest first. Synchronous and thread-safe.

    :param store: the store.
    :param redactor: the :class:`~orchestra_core.Redactor` (a host's) whose secrets
        :meth:`add` masks; without it, notifications are stored as given (the alerter masks
        them with its host's redactor before any channel sees them).
    """

    def __init__(self, store: Store, *, redactor: Redactor | None = None) -> None:
        self.store = store
        self.redactor = redactor if redactor is not None else Redactor()

    def add(self, notification: Notification) -> int:
        """Store *notification* (secrets masked); return its number."""
        with self.store.engine.begin() as conn:
            result = conn.execute(notifications.insert().values(
                created_at=notification.created_at, kind=notification.kind,
                pipeline=notification.pipeline, run_id=notification.run_id,
                message=self.redactor.mask(notification.message),
                data=self.redactor.mask_obj(dict(notification.data))))
            return int(result.inserted_primary_key[0])

    def list(self, *, pipeline: str | None = None, run_id: str | None = None,
             kind: str | None = None, since: datetime | None = None,
             limit: int = 50) -> list[StoredNotification]:
        """Stored notifications, newest first, filtered; ``run_id`` may be a prefix."""
        query = (sa.select(notifications)
                 .order_by(notifications.c.created_at.desc(), notifications.c.id.desc())
                 .limit(limit))
        if pipeline:
            query = query.where(notifications.c.pipeline == pipeline)
        if run_id:
            query = query.where(notifications.c.run_id.startswith(run_id))
        if kind:
            query = query.where(notifications.c.kind == kind)
        if since:
            query = query.where(notifications.c.created_at >= since)
        with self.store.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [StoredNotification(id=r["id"], kind=r["kind"], pipeline=r["pipeline"],
                                   message=r["message"], created_at=utc(r["created_at"]),
                                   run_id=r["run_id"], data=r["data"] or {}) for r in rows]
