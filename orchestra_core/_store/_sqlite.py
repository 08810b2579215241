"""The SQLAlchemy engine of a SQLite store file, with the rules of ``_sqlite_file``: the file
is created in an existing directory only (the default location's is created); a file this
process may not write is opened read-only by the commands that only read (``runs list``,
``runs show``, ``logs``...: no migration, no WAL files created); an error saying the file is
damaged or read-only raises :class:`StoreError` naming the file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from ._json import dumps
from ._sqlite_file import BUSY_TIMEOUT_MS, prepare_path, store_error, writable

__all__ = ("sqlite_engine",)


def _read_only_pragmas(dbapi_conn: Any, _: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


def sqlite_engine(url: str, *, default_location: bool, read_only: bool) -> tuple[sa.Engine, bool]:
    """The engine for the SQLite store at *url*, and whether it was opened read-only.

    :param default_location: the file is the default one (its directory may be created).
    :param read_only: open the file read-only when this process may not write it.
    :raises StoreError: the directory does not exist (outside the default location).
    """
    database = sa.engine.make_url(url).database
    path = Path(database) if database and database != ":memory:" else None
    if path is not None:
        prepare_path(path, default_location=default_location)
    opened_read_only = bool(read_only and path is not None and not writable(path))
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
        error = store_error(path, context.original_exception)
        if error is not None:
            raise error from context.original_exception

    return handle
