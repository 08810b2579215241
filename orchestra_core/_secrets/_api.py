"""The :class:`Secrets` facade: constants, credentials, connections and keys in a store."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from .._redaction import MIN_SECRET_LENGTH
from .._store.schema import connections, constants, credentials
from ._errors import SecretsError
from ._keys import KeyRing, generate_key
from ._records import (
    ConnectionInfo,
    ConstantInfo,
    CredentialInfo,
    KeyUsage,
    RotationReport,
    check_field,
    check_name,
    not_found,
)

if TYPE_CHECKING:
    from .._store import Store

__all__ = ("AUTH_SCHEMES", "TOKEN_FIELDS", "Secrets")

#: Auth schemes a connection may name (plugins may declare others in their ConnectionSpec).
AUTH_SCHEMES = ("none", "basic", "bearer", "header", "oauth")
#: Credential fields a ``bearer`` or ``header`` connection takes its token from, in order.
TOKEN_FIELDS = ("token", "api_key", "password")


def _now() -> datetime:
    return datetime.now(UTC)


def credential_aad(name: str) -> bytes:
    """The associated data binding a credential's ciphertext to its name."""
    return b"orchestra/credential/" + name.encode("utf-8")


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
        self.constants = Constants(self)
        self.credentials = Credentials(self)
        self.connections = Connections(self)
        self.keys = Keys(self)

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
        with self.store.engine.connect() as conn, conn.begin():
            return {
                "constants": {r.name: r.value for r in conn.execute(
                    sa.select(constants.c.name, constants.c.value))},
                "credentials": {r["name"]: dict(r) for r in conn.execute(
                    sa.select(credentials)).mappings()},
                "connections": {r["name"]: dict(r) for r in conn.execute(
                    sa.select(connections)).mappings()},
            }


class _Namespace:
    def __init__(self, owner: Secrets) -> None:
        self._owner = owner

    @property
    def _engine(self) -> sa.Engine:
        return self._owner.store.engine

    def _names(self, table: sa.Table) -> list[str]:
        with self._engine.connect() as conn:
            return list(conn.execute(sa.select(table.c.name)).scalars())


class Constants(_Namespace):
    """Named plain-text values shared by every pipeline (``secrets.constants``)."""

    def set(self, name: str, value: str, *, description: str | None = None) -> ConstantInfo:
        """Create or replace constant *name*."""
        check_name("constant", name)
        if not isinstance(value, str):
            raise SecretsError(f"constant {name!r}: the value must be text")
        now = _now()
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


def _info(row: Mapping[str, Any]) -> CredentialInfo:
    return CredentialInfo(name=row["name"], username=row["username"],
                          fields=tuple(row["fields"]), key_id=row["key_id"],
                          description=row["description"], created_at=row["created_at"],
                          updated_at=row["updated_at"])


class Credentials(_Namespace):
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
        plain = json.dumps(dict(secrets), sort_keys=True).encode("utf-8")
        key_id, token = self._owner.keyring.encrypt(plain, credential_aad(name))
        now = _now()
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


def _connection_info(row: Mapping[str, Any]) -> ConnectionInfo:
    return ConnectionInfo(**{k: row[k] for k in (
        "name", "integration", "base_url", "auth", "credential", "options", "description",
        "created_at", "updated_at")})


class Connections(_Namespace):
    """Named, typed configurations of an integration (``secrets.connections``)."""

    def add(self, name: str, *, integration: str, base_url: str | None = None,
            auth: str | None = None, credential: str | None = None,
            options: Mapping[str, Any] | None = None, description: str | None = None,
            replace: bool = False) -> ConnectionInfo:
        """Store connection *name* for *integration* (``replace=True`` overwrites one that
        exists). Checked against the integration's ConnectionSpec when the facade has a
        host: required options, and the credential's fields."""
        check_name("connection", name)
        options = dict(options or {})
        spec, integration = self._integration(integration)
        need = spec.connection if spec is not None else None
        if base_url is not None:
            parts = urlsplit(base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise SecretsError(f"connection {name!r}: base URL must be an http:// or "
                                   f"https:// URL, got {base_url!r}")
        allowed = set(AUTH_SCHEMES) | ({need.auth} if need is not None and need.auth else set())
        if auth is not None and auth not in allowed:
            raise SecretsError(f"connection {name!r}: unknown auth scheme {auth!r}; use one of "
                               f"{', '.join(sorted(allowed))}")
        if need is not None:
            missing = [o for o in need.options if o not in options]
            if missing:
                raise SecretsError(
                    f"connection {name!r}: a {integration} connection needs the option"
                    f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        fields: set[str] = set()
        if credential is not None:
            cred = self._owner.credentials.get(credential)
            fields = set(cred.fields) | ({"username"} if cred.username else set())
        wanted = list(need.secrets) if need is not None else []
        effective_auth = auth or (need.auth if need is not None else None)
        generic = not wanted  # the integration names no fields: the auth scheme decides
        if generic and effective_auth == "basic":
            wanted += [f for f in ("username", "password") if f not in wanted]
        if wanted and not set(wanted) <= fields:
            missing = [f for f in wanted if f not in fields]
            if credential is None:
                raise SecretsError(
                    f"connection {name!r}: a {integration} connection"
                    + (f" with {effective_auth} auth" if effective_auth == "basic" else "")
                    + f" needs a credential with the fields {', '.join(wanted)}: give one")
            raise SecretsError(
                f"connection {name!r}: credential {credential!r} lacks the field"
                f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} (it has "
                f"{', '.join(sorted(fields)) or 'none'})")
        if generic and effective_auth in ("bearer", "header") and \
                not fields & set(TOKEN_FIELDS):
            raise SecretsError(
                f"connection {name!r}: {effective_auth} auth needs a credential with one of "
                f"the fields {', '.join(TOKEN_FIELDS)}"
                + (f" (credential {credential!r} has {', '.join(sorted(fields))})"
                   if credential else ""))
        now = _now()
        values = dict(integration=integration, base_url=base_url, auth=auth,
                      credential=credential, options=options, description=description,
                      updated_at=now)
        with self._engine.begin() as conn:
            found = conn.execute(sa.select(connections.c.name)
                                 .where(connections.c.name == name)).first()
            if found is not None and not replace:
                raise SecretsError(f"connection {name!r} already exists (replace it with "
                                   "--replace, or delete it first)")
            if found is None:
                conn.execute(connections.insert().values(name=name, created_at=now, **values))
            else:
                conn.execute(connections.update().where(connections.c.name == name)
                             .values(**values))
        return self.get(name)

    def _integration(self, integration: str) -> tuple[Any, str]:
        host = self._owner.host
        if host is None:
            return None, integration.lower()
        spec = host.integrations.find(integration)
        if spec is None:
            from .._config import suggest

            names = host.integrations.names()
            raise SecretsError(f"unknown integration {integration!r}"
                               + suggest(integration, names)
                               + f"; installed integrations: {', '.join(names)}")
        return spec, spec.name

    def get(self, name: str) -> ConnectionInfo:
        """Connection *name*."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(connections).where(connections.c.name == name)) \
                .mappings().first()
        if row is None:
            raise not_found("connection", name, self._names(connections))
        return _connection_info(row)

    def list(self, *, integration: str | None = None) -> list[ConnectionInfo]:
        """Every connection (of *integration*), by name."""
        query = sa.select(connections).order_by(connections.c.name)
        if integration is not None:
            query = query.where(connections.c.integration == integration.lower())
        with self._engine.connect() as conn:
            return [_connection_info(r) for r in conn.execute(query).mappings()]

    def delete(self, name: str) -> None:
        """Delete connection *name* (its credential stays)."""
        with self._engine.begin() as conn:
            gone = conn.execute(connections.delete().where(connections.c.name == name)).rowcount
        if not gone:
            raise not_found("connection", name, self._names(connections))


class Keys(_Namespace):
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
