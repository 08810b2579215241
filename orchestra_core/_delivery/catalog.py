"""Stored destinations and data templates (named, reused by many orchestrations), and the
checkpoints of deliveries in progress."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import anyio
import sqlalchemy as sa
from attrs import frozen

from .._config import suggest
from .._errors import ConfigError, OrchestraError
from .._models import Problem
from .._store.schema import data_templates, delivery_checkpoints, destinations

__all__ = ("Checkpoints", "DestinationInfo", "Destinations", "Templates")

#: Destination types shipped as separate packages: what to install for each.
PACKAGES = {"sftp": "orchestra-sftp", "s3": "orchestra-s3"}


class DeliveryError(OrchestraError):
    """A stored destination or template is missing or invalid."""


@frozen(kw_only=True)
class DestinationInfo:
    """A stored destination: its type, options, credential and concurrency limit."""

    name: str
    type: str
    options: Mapping[str, Any]
    credential: str | None = None
    concurrency: int = 1
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {"name": self.name, "type": self.type, "options": dict(self.options),
                "credential": self.credential, "concurrency": self.concurrency,
                "description": self.description}


def check_destination(host: Any, dtype: str, options: Mapping[str, Any], path: str) -> Any:
    """*options* structured with the model of type *dtype*; a :class:`ConfigError` listing
    every problem (unknown type naming the package to install, "did you mean")."""
    from .._config import structure

    found = host.destinations.find(dtype)
    if found is None:
        names = [d.name for d in host.destinations]
        hint = f"; install {PACKAGES[dtype.lower()]}" if dtype.lower() in PACKAGES else ""
        raise ConfigError([Problem(path=f"{path}.type", code="unknown-destination-type",
                                   message=f"unknown destination type {dtype!r}{hint}"
                                   f"{suggest(dtype, names)}; installed types: "
                                   f"{', '.join(names)}")])
    if found.options is None:
        return None
    obj, problems = structure(dict(options), found.options, f"{path}.options", noun="option",
                              converter=host.converter)
    if problems:
        raise ConfigError(problems)
    return obj


class Destinations:
    """Named destinations in a store (``orchestra destinations``)."""

    def __init__(self, store: Any, host: Any = None) -> None:
        self.store = store
        self.host = host

    def add(self, name: str, *, type: str, options: Mapping[str, Any],
            credential: str | None = None, concurrency: int = 1,
            description: str | None = None, replace: bool = False) -> DestinationInfo:
        """Store destination *name*; its options are checked against the type's model."""
        from .._secrets._records import check_name

        check_name("destination", name)
        if self.host is not None:
            check_destination(self.host, type, options, f"destination {name}")
            type = self.host.destinations.find(type).name
        if concurrency < 1:
            raise DeliveryError(f"destination {name!r}: concurrency must be at least 1")
        now = datetime.now(UTC)
        values = dict(type=type, options=dict(options), credential=credential,
                      concurrency=concurrency, description=description, updated_at=now)
        with self.store.engine.begin() as conn:
            if credential is not None:
                from .._store.schema import credentials

                if conn.execute(sa.select(credentials.c.name)
                                .where(credentials.c.name == credential)).first() is None:
                    raise DeliveryError(f"destination {name!r}: no credential named "
                                        f"{credential!r} (add it with orchestra credentials "
                                        "set)")
            found = conn.execute(sa.select(destinations.c.name)
                                 .where(destinations.c.name == name)).first()
            if found is not None and not replace:
                raise DeliveryError(f"destination {name!r} already exists (use --replace)")
            if found is None:
                conn.execute(destinations.insert().values(name=name, created_at=now, **values))
            else:
                conn.execute(destinations.update().where(destinations.c.name == name)
                             .values(**values))
        return self.get(name)

    def get(self, name: str) -> DestinationInfo:
        """Destination *name*."""
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(destinations).where(destinations.c.name == name)) \
                .mappings().first()
            if row is None:
                names = list(conn.execute(sa.select(destinations.c.name)).scalars())
                raise DeliveryError(f"no destination named {name!r}{suggest(name, names)}; "
                                    f"stored destinations: {', '.join(sorted(names)) or 'none'}")
        return _info(row)

    def list(self) -> list[DestinationInfo]:
        """Every destination, by name."""
        with self.store.engine.connect() as conn:
            return [_info(r) for r in conn.execute(
                sa.select(destinations).order_by(destinations.c.name)).mappings()]

    def delete(self, name: str) -> None:
        """Delete destination *name*."""
        self.get(name)
        with self.store.engine.begin() as conn:
            conn.execute(destinations.delete().where(destinations.c.name == name))


def _info(row: Mapping[str, Any]) -> DestinationInfo:
    return DestinationInfo(name=row["name"], type=row["type"], options=row["options"] or {},
                           credential=row["credential"], concurrency=row["concurrency"],
                           description=row["description"])


class Templates:
    """Named data templates in a store."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def set(self, name: str, definition: Mapping[str, Any],
            description: str | None = None) -> None:
        """Create or replace template *name* (checked against the template model)."""
        from .._config import structure
        from .templates import TemplateSpec, normalize_template

        spec, problems = structure(normalize_template(dict(definition)), TemplateSpec,
                                   f"template {name}")
        if problems:
            raise ConfigError(problems)
        assert spec is not None
        bad = spec.problems()
        if bad:
            raise ConfigError([Problem(path=f"template {name}.{f}", message=m,
                                       code="invalid-value") for f, m in bad])
        now = datetime.now(UTC)
        with self.store.engine.begin() as conn:
            conn.execute(data_templates.delete().where(data_templates.c.name == name))
            conn.execute(data_templates.insert().values(
                name=name, definition=dict(definition), description=description,
                created_at=now, updated_at=now))

    def get(self, name: str) -> dict[str, Any]:
        """The definition of template *name*."""
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(data_templates.c.definition)
                               .where(data_templates.c.name == name)).first()
            if row is None:
                names = list(conn.execute(sa.select(data_templates.c.name)).scalars())
                raise DeliveryError(f"no data template named {name!r}{suggest(name, names)}")
        return dict(row[0])

    def names(self) -> list[str]:
        """Every template name."""
        with self.store.engine.connect() as conn:
            return sorted(conn.execute(sa.select(data_templates.c.name)).scalars())


class Checkpoints:
    """The :class:`~orchestra_core.DeliveryCheckpoints` of delivery *key* in *store*."""

    def __init__(self, store: Any, key: str) -> None:
        self.store = store
        self.key = key
        self._done: set[str] | None = None

    def _load(self) -> set[str]:
        with self.store.engine.connect() as conn:
            return set(conn.execute(sa.select(delivery_checkpoints.c.part).where(
                delivery_checkpoints.c.delivery == self.key)).scalars())

    async def done(self, key: str) -> bool:
        """Whether part *key* was delivered before."""
        if self._done is None:
            self._done = await anyio.to_thread.run_sync(self._load)
        return key in self._done

    async def mark(self, key: str, *, rows: int = 0, size: int = 0,
                   checksum: str | None = None) -> None:
        """Record part *key* as delivered (committed before this returns)."""
        def write() -> None:
            with self.store.engine.begin() as conn:
                conn.execute(delivery_checkpoints.insert().values(
                    delivery=self.key, part=key, rows=rows, bytes=size, checksum=checksum,
                    created_at=datetime.now(UTC)))
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(write)
        if self._done is not None:
            self._done.add(key)
