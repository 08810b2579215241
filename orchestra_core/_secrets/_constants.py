"""Constants: named plain-text values shared by every pipeline (``secrets.constants``)."""

from __future__ import annotations

import sqlalchemy as sa

from .._document_limits import bad_text
from .._store.schema import constants
from ._errors import SecretsError
from ._namespace import Namespace, utc_now
from ._records import ConstantInfo, check_name, not_found

__all__ = ("Constants",)


class Constants(Namespace):
    """Named plain-text values shared by every pipeline (``secrets.constants``)."""

    def set(self, name: str, value: str, *, description: str | None = None) -> ConstantInfo:
        """Create or replace constant *name*."""
        check_name("constant", name)
        if not isinstance(value, str):
            raise SecretsError(f"constant {name!r}: the value must be text")
        why = bad_text(value) or (bad_text(description) if description else None)
        if why:
            raise SecretsError(f"constant {name!r}: the value {why}")
        now = utc_now()
        with self._engine.begin() as conn:
            found = conn.execute(sa.select(constants.c.created_at)
                                 .where(constants.c.name == name)).first()
            if found is None:
                conn.execute(constants.insert().values(
                    name=name, value=value, description=description, created_at=now,
                    updated_at=now))
            else:
                conn.execute(constants.update().where(constants.c.name == name).values(
                    value=value, description=description, updated_at=now))
        return self.get_info(name)

    def get(self, name: str) -> str:
        """The value of constant *name*."""
        return self.get_info(name).value

    def get_info(self, name: str) -> ConstantInfo:
        """Constant *name* with its description and times."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(constants).where(constants.c.name == name)) \
                .mappings().first()
        if row is None:
            raise not_found("constant", name, self._names(constants))
        return ConstantInfo(**dict(row))

    def list(self) -> list[ConstantInfo]:
        """Every constant, by name."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(constants).order_by(constants.c.name)).mappings()
            return [ConstantInfo(**dict(r)) for r in rows]

    def delete(self, name: str) -> None:
        """Delete constant *name*."""
        with self._engine.begin() as conn:
            gone = conn.execute(constants.delete().where(constants.c.name == name)).rowcount
        if not gone:
            raise not_found("constant", name, self._names(constants))
