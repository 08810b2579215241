"""A SQLite store's schema without SQLAlchemy: the version recorded in the file, a new file's
tables created from ``sqlite_schema.sql``, and the lock held while a schema is made.

Opening a store at :data:`HEAD_REVISION` costs one query; an empty file gets the whole schema
in one transaction (a process killed meanwhile leaves an empty file, never half a schema).
Anything else (an older schema to migrate) is for Alembic, in ``_schema_version``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

__all__ = (
    "HEAD_REVISION",
    "SQLITE_SCHEMA",
    "STAMP",
    "file_lock",
    "split_statements",
    "sqlite_at_head",
    "sqlite_revision",
)

#: The newest Alembic revision in ``migrations/versions``. A migration added there must
#: update this constant too (``tests/test_store_open.py`` checks that they agree): a store
#: at this revision is opened without loading Alembic.
HEAD_REVISION = "aftercursor"

#: ``schema.py``'s SQLite DDL, written once so that a new store compiles nothing;
#: ``tests/test_store_open.py`` checks it is up to date (after changing schema.py,
#: regenerate it with ``_schema_version.write_sqlite_schema``).
SQLITE_SCHEMA = Path(__file__).with_name("sqlite_schema.sql")

#: Ends every statement of :data:`SQLITE_SCHEMA`.
END = "\n;\n"

#: The statements recording :data:`HEAD_REVISION` in a new store, as Alembic records it.
STAMP = ("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
         "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))",
         f"INSERT INTO alembic_version (version_num) VALUES ('{HEAD_REVISION}')")


def split_statements() -> list[str]:
    """The statements of :data:`SQLITE_SCHEMA`, tables in dependency order."""
    return SQLITE_SCHEMA.read_text(encoding="utf-8").split(END)[:-1]


def sqlite_revision(db: sqlite3.Connection) -> str | None:
    """The schema revision recorded in the SQLite database *db* (``None``: none)."""
    if db.execute("SELECT name FROM sqlite_master WHERE type='table' AND "
                  "name='alembic_version'").fetchone() is None:
        return None
    row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def sqlite_at_head(db: sqlite3.Connection, path: str) -> bool:
    """Whether the database *db* (file *path*) is at :data:`HEAD_REVISION`, creating the
    schema of an empty one first (under :func:`file_lock`, so that of processes opening a
    new store together exactly one creates it). ``False``: it needs a migration. *db* is in
    autocommit mode (``isolation_level=None``)."""
    if sqlite_revision(db) == HEAD_REVISION:
        return True
    with file_lock(path):
        revision = sqlite_revision(db)  # another process may have made it meanwhile
        if revision is not None or db.execute(
                "SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]:
            return revision == HEAD_REVISION
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in (*split_statements(), *STAMP):
                db.execute(statement)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return True


@contextlib.contextmanager
def file_lock(path: str | None) -> Iterator[None]:
    """Hold an exclusive lock on ``PATH.lock`` beside the SQLite file *path* (none for an
    in-memory database)."""
    if not path or path == ":memory:" or path.startswith("file:"):
        yield
        return
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _lock(fd)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt
        import time
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:  # LK_LOCK gives up after about 10 s: keep waiting
                time.sleep(0.05)
    fcntl.flock(fd, fcntl.LOCK_EX)
