"""Bringing a store's schema up to date: cheap when it already is, safe when many processes
open a never-used store at once.

Opening a store reads the schema version with one query; Alembic is imported and run only
when that version is not :data:`HEAD_REVISION` (a new, empty database is created from
``schema.py`` and stamped with the head revision: what the migrations build, checked by a
test). The migration itself runs under a lock (a
file lock beside a SQLite file, an advisory lock on PostgreSQL), and the version is read
again once the lock is held, so of several processes starting together exactly one creates
the tables and the others find them made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from ._schema_file import END, HEAD_REVISION, SQLITE_SCHEMA, STAMP, file_lock, split_statements

__all__ = ("HEAD_REVISION", "SQLITE_SCHEMA", "create_at_head", "current_revision",
           "ensure_schema", "schema_ddl", "sqlite_schema", "upgrade", "write_sqlite_schema")

#: The PostgreSQL advisory lock key held while migrating (any constant; "orch" in ASCII).
_PG_LOCK_KEY = 0x6F726368

MIGRATIONS = Path(__file__).parent / "migrations"


def current_revision(conn: sa.Connection) -> str | None:
    """The schema revision recorded in the store, or ``None`` for a store never migrated."""
    inspector_sql = (
        "SELECT name FROM sqlite_master WHERE type='table' AND name='alembic_version'"
        if conn.dialect.name == "sqlite"
        else "SELECT to_regclass('alembic_version')::text")
    if conn.execute(sa.text(inspector_sql)).scalar() is None:
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(conn: sa.Connection) -> None:
    """Apply every pending migration on *conn* (Alembic ``upgrade head``)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def ensure_schema(engine: sa.Engine) -> None:
    """Bring the schema of *engine*'s database to :data:`HEAD_REVISION`; one query when it is
    there already."""
    with engine.connect() as conn:
        if current_revision(conn) == HEAD_REVISION:
            return
    with _migration_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        revision = current_revision(conn)  # another process may have migrated meanwhile
        if revision is None and not _has_tables(conn):
            create_at_head(conn)
        elif revision != HEAD_REVISION:
            upgrade(conn)


def _has_tables(conn: sa.Connection) -> bool:
    return bool(sa.inspect(conn).get_table_names())


def create_at_head(conn: sa.Connection) -> None:
    """Create the tables of a new, empty database from ``schema.py`` and record
    :data:`HEAD_REVISION`, as Alembic's ``upgrade head`` would leave them (a test checks
    that the two agree) without loading Alembic.

    On SQLite the whole schema is one transaction: the driver begins none for DDL (each
    ``CREATE`` would be committed, and synced, on its own), so it is begun here; a process
    killed meanwhile leaves an empty file, never half a schema."""
    from .schema import metadata

    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN")  # committed (or rolled back) with the caller's one
        for statement in sqlite_schema():
            conn.exec_driver_sql(statement)
    else:
        metadata.create_all(conn)
    for statement in STAMP:
        conn.exec_driver_sql(statement)


def sqlite_schema() -> list[str]:
    """The statements of :data:`SQLITE_SCHEMA`: ``schema_ddl`` of the SQLite dialect."""
    return split_statements()


def write_sqlite_schema() -> None:
    """(Re)write :data:`SQLITE_SCHEMA` from ``schema.py``."""
    statements = schema_ddl(sa.create_engine("sqlite://").dialect)
    SQLITE_SCHEMA.write_text("".join(s + END for s in statements), encoding="utf-8")


def schema_ddl(dialect: sa.Dialect) -> list[str]:
    """The ``CREATE TABLE`` and ``CREATE INDEX`` statements of ``schema.py`` in *dialect*,
    tables in dependency order, each followed by its indexes: what ``metadata.create_all``
    emits on an empty database, without its per-table existence checks."""
    from sqlalchemy.schema import CreateIndex, CreateTable

    from .schema import metadata

    statements = []
    for table in metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)))
        statements.extend(str(CreateIndex(index).compile(dialect=dialect))
                          for index in sorted(table.indexes, key=lambda i: i.name or ""))
    return statements


@contextlib.contextmanager
def _migration_lock(engine: sa.Engine) -> Iterator[None]:
    """Hold an exclusive file lock beside a SQLite database file (PostgreSQL locks inside
    the transaction instead; an in-memory database needs none)."""
    with file_lock(engine.url.database if engine.dialect.name == "sqlite" else None):
        yield
