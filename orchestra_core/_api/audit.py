"""The audit log: one row per change made through the API or the CLI, never updated or
deleted. Each row says who (a token's name, or ``local:<user>`` on the command line), through
what (``api`` or ``cli``), for which client, what (an action such as ``pipeline.apply``) on
what target, when, and the record before and after (secrets never included)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .._store import utc

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ("AuditLog", "to_csv")

COLUMNS = ("id", "time", "actor", "via", "client", "action", "target", "before", "after")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str)) if value is not None else None


class AuditLog:
    """The audit log in a :class:`~orchestra_core.Store`. *redactor* (optional) masks
    known secrets in what is recorded."""

    def __init__(self, store: Any, redactor: Any = None) -> None:
        self.store = store
        self.redactor = redactor

    def record(self, *, actor: str, via: str, action: str, target: str | None = None,
               client: str | None = None, before: Any = None, after: Any = None,
               conn: sa.Connection | None = None) -> int:
        """Append one row; return its id. With *conn*, inside that transaction."""
        before, after = _jsonable(before), _jsonable(after)
        if self.redactor is not None:
            before, after = self.redactor.mask_obj(before), self.redactor.mask_obj(after)
        values = dict(time=datetime.now(UTC), actor=actor[:200], via=via, client=client,
                      action=action[:100], target=(target or "")[:500] or None,
                      before=before, after=after)
        if conn is None:
            return self.store.insert_row("audit_log", values)
        from .._store.schema import audit_log

        return int(conn.execute(audit_log.insert().values(**values)).inserted_primary_key[0])

    def list(self, *, client: str | None = None, actor: str | None = None,
             action: str | None = None, target: str | None = None,
             since: datetime | None = None, until: datetime | None = None,
             before_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Rows newest first, filtered; ``action`` matches a prefix (``pipeline.``),
        *before_id* pages back from a row id."""
        import sqlalchemy as sa

        from .._store.schema import audit_log

        c = audit_log.c
        query = sa.select(audit_log).order_by(c.id.desc()).limit(limit)
        if client is not None:
            query = query.where(c.client == client)
        if actor:
            query = query.where(c.actor == actor)
        if action:
            query = query.where(c.action.startswith(action, autoescape=True))
        if target:
            query = query.where(c.target == target)
        if since:
            query = query.where(c.time >= since)
        if until:
            query = query.where(c.time <= until)
        if before_id is not None:
            query = query.where(c.id < before_id)
        with self.store.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        for r in rows:
            r["time"] = utc(r["time"]).isoformat()
        return rows


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    """*rows* (from :meth:`AuditLog.list`) as CSV with a header; before/after as JSON."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([json.dumps(r[k], sort_keys=True) if k in ("before", "after")
                         and r[k] is not None else ("" if r[k] is None else r[k])
                         for k in COLUMNS])
    return out.getvalue()
