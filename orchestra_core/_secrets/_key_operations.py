"""Key operations (``secrets.keys``): generating a key, which key encrypts which
credential, and rotating every credential to the primary key."""

from __future__ import annotations

import sqlalchemy as sa

from .._store.schema import credentials
from ._keys import generate_key
from ._namespace import Namespace, credential_aad
from ._records import KeyUsage, RotationReport

__all__ = ("Keys",)


class Keys(Namespace):
    """Key operations (``secrets.keys``)."""

    @staticmethod
    def generate() -> str:
        """A fresh random 256-bit key, as text (nothing is stored)."""
        return generate_key()

    def usage(self) -> list[KeyUsage]:
        """Every configured key id and every key id a credential uses, with those
        credentials; configured keys first (primary first)."""
        ring = self._owner.keyring
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(credentials.c.name, credentials.c.key_id)
                                .order_by(credentials.c.name)).all()
        users: dict[str, list[str]] = {}
        for name, key_id in rows:
            users.setdefault(key_id, []).append(name)
        out = [KeyUsage(key_id=k.id, configured=True, primary=i == 0, source=k.source,
                        credentials=tuple(users.pop(k.id, ()))) for i, k in enumerate(ring.keys)]
        out += [KeyUsage(key_id=kid, configured=False, primary=False, source=None,
                         credentials=tuple(names)) for kid, names in sorted(users.items())]
        return out

    def rotate(self) -> RotationReport:
        """Re-encrypt every credential under the primary key, in one transaction.

        Every credential is decrypted first; if one cannot be (its key is not configured, or
        its data was altered) a :class:`SecretsError` names it and its key id and nothing
        changes.
        """
        ring = self._owner.keyring
        primary = ring.primary
        rotated: list[str] = []
        unchanged: list[str] = []
        with self._engine.begin() as conn:
            rows = conn.execute(sa.select(credentials).order_by(credentials.c.name)
                                .with_for_update()).mappings().all()
            updates = []
            for row in rows:
                plain = ring.decrypt(row["key_id"], row["secret"], credential_aad(row["name"]),
                                     f"credential {row['name']!r}")
                if row["key_id"] == primary.id:
                    unchanged.append(row["name"])
                    continue
                key_id, token = ring.encrypt(plain, credential_aad(row["name"]))
                updates.append({"b_name": row["name"], "key_id": key_id, "secret": token})
                rotated.append(row["name"])
            if updates:
                conn.execute(credentials.update()
                             .where(credentials.c.name == sa.bindparam("b_name"))
                             .values(key_id=sa.bindparam("key_id"),
                                     secret=sa.bindparam("secret")), updates)
        return RotationReport(key_id=primary.id, rotated=tuple(rotated),
                              unchanged=tuple(unchanged))
