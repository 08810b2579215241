"""Opening a store through SQLAlchemy: PostgreSQL, and the SQLite URLs the plain path does not
take (in memory, a URI, a file this process may only read); and migrating any store with
Alembic. Driver errors become :class:`StoreError` naming the store (password hidden)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa

from ._errors import StoreError
from ._json import dumps
from ._private import create_private, hide_password
from ._schema_version import ensure_schema

__all__ = ("driver_url", "migrate", "open_engine")


@contextlib.contextmanager
def _as_store_error(url: str) -> Iterator[None]:
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(hide_password(url, f"cannot open the store at {hide_password(url)}: "
                         f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}")) from exc


def driver_url(url: str) -> str:
    """*url* naming its driver: ``postgresql://`` is PostgreSQL through psycopg 3."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def open_engine(url: str, *, migrate: bool, read_only: bool,
                default_location: bool) -> tuple[sa.Engine, bool]:
    """The engine on the store at *url* (see :func:`driver_url`), and whether to migrate
    it (not when a SQLite file was opened read-only)."""
    with _as_store_error(url):
        if url.startswith("sqlite"):
            from ._sqlite import sqlite_engine

            engine, read_only = sqlite_engine(url, default_location=default_location,
                                              read_only=read_only)
            path = sa.engine.make_url(url).database
            if path and path != ":memory:" and not read_only:
                create_private(path)  # 0600, like the key file
            return engine, migrate and not read_only
        if url.startswith("postgresql+psycopg://"):
            from ._postgres import postgres_engine

            return postgres_engine(url, json_serializer=dumps), migrate  # pings when in doubt
        return sa.create_engine(url, pool_pre_ping=True, json_serializer=dumps), migrate


def migrate(engine: sa.Engine, url: str) -> None:
    """Bring the schema of *engine*'s database to the head revision (see ``ensure_schema``)."""
    with _as_store_error(url):
        ensure_schema(engine)
