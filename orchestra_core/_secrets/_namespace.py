"""What the ``secrets.X`` namespaces share: their base class (the store's engine, the names
in a table), the clock of their timestamps and the associated data binding a credential's
ciphertext to its name."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa

    from ._api import Secrets

__all__ = ("Namespace", "credential_aad", "utc_now")


def utc_now() -> datetime:
    """The current time, in UTC (``created_at``/``updated_at``)."""
    return datetime.now(UTC)


def credential_aad(name: str) -> bytes:
    """The associated data binding a credential's ciphertext to its name."""
    return b"orchestra/credential/" + name.encode("utf-8")


class Namespace:
    """The base of a :class:`Secrets` namespace: a view of one area of the store."""

    def __init__(self, owner: Secrets) -> None:
        self._owner = owner

    @property
    def _engine(self) -> sa.Engine:
        return self._owner.store.engine

    def _names(self, table: sa.Table) -> list[str]:
        import sqlalchemy as sa

        with self._engine.connect() as conn:
            return list(conn.execute(sa.select(table.c.name)).scalars())
