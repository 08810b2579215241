"""Opening the SQLite store file: where it may be created, opening it read-only, and saying
which file is damaged (and how to recover it) instead of a driver traceback.

- The file is created in an existing directory only: a mistyped ``--db /no/such/dir/o.db``
  is refused rather than creating directories. Only the default location (``orchestra.db``
  in ``ORCHESTRA_HOME``) gets its directory created.
- A store file (or its directory) this process may not write is opened read-only by the
  commands that only read (``runs list``, ``runs show``, ``logs``...): no migration, no WAL
  files created.
- Every statement whose error says the file is damaged ("database disk image is malformed",
  "file is not a database") raises :class:`StoreError` naming the file and the recovery; one
  writing to a file this user may not write names the file too.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from ._json import dumps

__all__ = ("damaged_message", "sqlite_engine")

_DAMAGED = ("malformed", "not a database", "file is encrypted")


def _read_only_pragmas(dbapi_conn: Any, _: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def damaged_message(path: str, reason: str) -> str:
    """What to tell a user whose store file *path* is damaged."""
    stem = Path(path).with_suffix("")
    recovered = f"{stem}.recovered.db"
    return (f"the store file {path} is damaged ({reason}). Restore it from a backup, or copy "
            f"what is still readable into a new file: sqlite3 {path} .recover | sqlite3 "
            f"{recovered} ; then use --db {recovered} (and keep the damaged file until the "
            "new one is checked)")


def _writable(path: Path) -> bool:
    if path.exists():
        return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    return True


def sqlite_engine(url: str, *, default_location: bool, read_only: bool) -> tuple[sa.Engine, bool]:
    """The engine for the SQLite store at *url*, and whether it was opened read-only.

    :param default_location: the file is the default one (its directory may be created).
    :param read_only: open the file read-only when this process may not write it.
    :raises StoreError: the directory does not exist (outside the default location).
    """
    from . import StoreError

    database = sa.engine.make_url(url).database
    path = Path(database) if database and database != ":memory:" else None
    if path is not None and not path.parent.is_dir():
        if not default_location:
            raise StoreError(f"cannot open the store {path}: the directory {path.parent} does "
                             f"not exist (create it first: mkdir -p {path.parent})")
        path.parent.mkdir(parents=True, exist_ok=True)
    opened_read_only = bool(read_only and path is not None and not _writable(path))
    if opened_read_only:
        assert path is not None
        engine = sa.create_engine(
            "sqlite://", creator=lambda: _connect_read_only(path),
            connect_args={"check_same_thread": False}, json_serializer=dumps)
        event.listen(engine, "connect", _read_only_pragmas)
    else:
        # the read-write pragmas (WAL, the durability's synchronous) are the Store's own
        engine = sa.create_engine(url, connect_args={"check_same_thread": False,
                                                     "timeout": 30}, json_serializer=dumps)
    if path is not None:
        event.listen(engine, "handle_error", _damaged_file(str(path)))
    return engine, opened_read_only


def _connect_read_only(path: Path) -> sqlite3.Connection:
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False,
                               timeout=30)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        # WAL needs its -shm file, which a directory we may not write cannot get: read the
        # file as it is (nothing else writes a file that nobody may write)
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)


def _damaged_file(path: str) -> Any:
    def handle(context: Any) -> None:
        orig = context.original_exception
        if isinstance(orig, sqlite3.DatabaseError) and any(
                marker in str(orig).lower() for marker in _DAMAGED):
            from . import StoreError

            raise StoreError(damaged_message(path, str(orig))) from orig
        if isinstance(orig, sqlite3.OperationalError) and "readonly database" in str(orig):
            from . import StoreError

            raise StoreError(f"the store file {path} is read-only for this user: only "
                             "commands that read (runs list, runs show, logs) can use it"
                             ) from orig

    return handle

