"""The :class:`Secrets` facade: constants, credentials, connections and keys in a store."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ._keys import KeyRing
from ._namespace import credential_aad

if TYPE_CHECKING:
    from .._store import Store
    from ._connections import Connections
    from ._constants import Constants
    from ._credentials import Credentials
    from ._key_operations import Keys

__all__ = ("Secrets",)


class Secrets:
    """Constants, credentials and connections kept in a :class:`~orchestra_core.Store`.

    The operations mirror the ``orchestra constants``, ``credentials``, ``connections`` and
    ``keys`` commands::

        secrets = orchestra.secrets(db="orchestra.db")      # or Secrets(store, host=...)
        secrets.constants.set("region", "eu-west-1")
        secrets.credentials.set("fivetran", secrets={"api_key": k, "api_secret": s})
        secrets.connections.add("fivetran-prod", integration="fivetran",
                                credential="fivetran")
        secrets.keys.rotate()

    No method returns a decrypted value: only running tasks receive them (as
    ``ctx.connection`` or through ``${credentials.NAME.FIELD}`` in their parameters).

    :param store: the store.
    :param host: the :class:`~orchestra_core.Orchestra` whose integrations connections are
        checked against (their names and what their ConnectionSpec requires); without it,
        any integration name is accepted.
    :param keys: the :class:`KeyRing`; by default loaded when first needed with
        :meth:`KeyRing.load` (``ORCHESTRA_SECRET_KEY`` and the key file).
    :param key_file: the key file :meth:`KeyRing.load` reads, instead of the default one.
    """

    def __init__(self, store: Store, *, host: Any = None, keys: KeyRing | None = None,
                 key_file: str | None = None) -> None:
        self.store = store
        self.host = host
        self._keys = keys
        self._key_file = key_file
        self._owns_store = False

    # the namespaces load their modules (and SQLAlchemy) when first used: a run only
    # reads a snapshot (see _snapshot)

    @cached_property
    def constants(self) -> Constants:
        """Named plain-text values (``orchestra constants``)."""
        from ._constants import Constants

        return Constants(self)

    @cached_property
    def credentials(self) -> Credentials:
        """Encrypted secret fields (``orchestra credentials``)."""
        from ._credentials import Credentials

        return Credentials(self)

    @cached_property
    def connections(self) -> Connections:
        """Named connections to systems (``orchestra connections``)."""
        from ._connections import Connections

        return Connections(self)

    @cached_property
    def keys(self) -> Keys:
        """The encryption keys (``orchestra keys``)."""
        from ._key_operations import Keys

        return Keys(self)

    @classmethod
    def open(cls, db: str | None = None, **kwargs: Any) -> Secrets:
        """Open the store at *db* (see :meth:`Store.open`); :meth:`close` releases it."""
        from .._store import Store

        secrets = cls(Store.open(db), **kwargs)
        secrets._owns_store = True
        return secrets

    def close(self) -> None:
        """Release the store if :meth:`open` opened it."""
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Secrets:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def keyring(self) -> KeyRing:
        """The key ring (loaded on first use)."""
        if self._keys is None:
            self._keys = KeyRing.load(key_file=self._key_file)
        return self._keys

    # -- internal: decrypting, for running tasks only ----------------------------------------

    def _decrypt(self, row: Mapping[str, Any], what: str | None = None) -> dict[str, str]:
        """The decrypted secret fields of credential *row*."""
        name = row["name"]
        plain = self.keyring.decrypt(row["key_id"], row["secret"], credential_aad(name),
                                     what or f"credential {name!r}")
        return dict(json.loads(plain))

    def _snapshot(self) -> dict[str, dict[str, Any]]:
        """Every constant, credential row and connection row, read in one transaction."""
        rows = self.store.read_tables({"constants": ("name", "value"), "credentials": None,
                                       "connections": None})
        return {"constants": {r["name"]: r["value"] for r in rows["constants"]},
                "credentials": {r["name"]: r for r in rows["credentials"]},
                "connections": {r["name"]: r for r in rows["connections"]}}
