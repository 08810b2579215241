"""Credentials: named secrets, encrypted at rest (``secrets.credentials``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from .._document_limits import bad_text
from .._redaction import MIN_SECRET_LENGTH
from .._store.schema import connections, credentials
from ._errors import SecretsError
from ._namespace import Namespace, credential_aad, utc_now
from ._records import CredentialInfo, check_field, check_name, not_found

__all__ = ("Credentials",)


def _info(row: Mapping[str, Any]) -> CredentialInfo:
    return CredentialInfo(name=row["name"], username=row["username"],
                          fields=tuple(row["fields"]), key_id=row["key_id"],
                          description=row["description"], created_at=row["created_at"],
                          updated_at=row["updated_at"])


class Credentials(Namespace):
    """Named secrets, encrypted at rest (``secrets.credentials``). Listings show field names
    and key ids, never values."""

    def set(self, name: str, *, secrets: Mapping[str, str], username: str | None = None,
            description: str | None = None) -> CredentialInfo:
        """Create or replace credential *name*: its secret fields (e.g. ``{"password": ...}``
        or ``{"api_key": ..., "api_secret": ...}``) are encrypted under the primary key."""
        check_name("credential", name)
        if not secrets:
            raise SecretsError(f"credential {name!r} needs at least one secret field")
        for field_name, value in secrets.items():
            check_field(field_name)
            if field_name == "username":
                raise SecretsError(f"credential {name!r}: 'username' is not a secret field; "
                                   "give it as the username")
            if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
                raise SecretsError(
                    f"credential {name!r}: field {field_name!r} must be at least "
                    f"{MIN_SECRET_LENGTH} characters (shorter values cannot be masked in logs)")
            why = bad_text(value)
            if why:  # e.g. bytes that are not UTF-8, read from a terminal or a pipe
                raise SecretsError(f"credential {name!r}: field {field_name!r} {why}")
        for what, text in (("username", username), ("description", description)):
            why = bad_text(text) if text else None
            if why:
                raise SecretsError(f"credential {name!r}: the {what} {why}")
        plain = json.dumps(dict(secrets), sort_keys=True).encode("utf-8")
        key_id, token = self._owner.keyring.encrypt(plain, credential_aad(name))
        now = utc_now()
        values = dict(username=username, fields=sorted(secrets), key_id=key_id, secret=token,
                      description=description, updated_at=now)
        with self._engine.begin() as conn:
            found = conn.execute(sa.select(credentials.c.name)
                                 .where(credentials.c.name == name)).first()
            if found is None:
                conn.execute(credentials.insert().values(name=name, created_at=now, **values))
            else:
                conn.execute(credentials.update().where(credentials.c.name == name)
                             .values(**values))
        return self.get(name)

    def get(self, name: str) -> CredentialInfo:
        """Credential *name* as listings show it (no values)."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(credentials).where(credentials.c.name == name)) \
                .mappings().first()
        if row is None:
            raise not_found("credential", name, self._names(credentials))
        return _info(row)

    def list(self) -> list[CredentialInfo]:
        """Every credential, by name (no values)."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(credentials).order_by(credentials.c.name)).mappings()
            return [_info(r) for r in rows]

    def delete(self, name: str) -> None:
        """Delete credential *name*; refused while a connection uses it."""
        with self._engine.begin() as conn:
            users = list(conn.execute(sa.select(connections.c.name).where(
                connections.c.credential == name).order_by(connections.c.name)).scalars())
            if users:
                raise SecretsError(
                    f"credential {name!r} is used by connection{'s' if len(users) > 1 else ''} "
                    f"{', '.join(users)}: delete or change {'them' if len(users) > 1 else 'it'} "
                    "first")
            gone = conn.execute(credentials.delete().where(credentials.c.name == name)).rowcount
        if not gone:
            raise not_found("credential", name, self._names(credentials))
