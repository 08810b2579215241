"""Connections: named, typed configurations of an integration, checked against its
ConnectionSpec (``secrets.connections``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from .._store.schema import connections
from ._errors import SecretsError
from ._namespace import Namespace, utc_now
from ._records import ConnectionInfo, check_name, not_found

__all__ = ("AUTH_SCHEMES", "TOKEN_FIELDS", "Connections")


#: Auth schemes a connection may name (plugins may declare others in their ConnectionSpec).
AUTH_SCHEMES = ("none", "basic", "bearer", "header", "oauth")
#: Credential fields a ``bearer`` or ``header`` connection takes its token from, in order.
TOKEN_FIELDS = ("token", "api_key", "password")


def _connection_info(row: Mapping[str, Any]) -> ConnectionInfo:
    return ConnectionInfo(**{k: row[k] for k in (
        "name", "integration", "base_url", "auth", "credential", "options", "description",
        "created_at", "updated_at")})


class Connections(Namespace):
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
        now = utc_now()
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
