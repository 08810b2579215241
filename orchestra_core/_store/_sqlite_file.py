"""A SQLite store file through the standard ``sqlite3`` module: the connections the store's
run path uses (open, create a run, read it back, the writer's commits) without loading
SQLAlchemy.

Every connection gets the store's pragmas (WAL, the durability's ``synchronous``, foreign
keys, a ``busy_timeout``) and runs in autocommit mode, transactions begun explicitly
(``BEGIN IMMEDIATE`` for writes, so a writer waits for the lock up front instead of failing
half-way). Idle connections are kept for the next call. A damaged file or one this user may
not write raises :class:`StoreError` naming the file (see :func:`store_error`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._errors import StoreError

__all__ = ("BUSY_TIMEOUT_MS", "DURABILITY", "SQLiteFile", "damaged_message", "prepare_path",
           "store_error", "store_pragmas", "writable")

#: how long a connection waits for another one's write lock (``PRAGMA busy_timeout``)
BUSY_TIMEOUT_MS = 10_000

#: The ``durability`` settings of a SQLite store and the ``synchronous`` pragma of each.
DURABILITY = {"full": "FULL", "normal": "NORMAL"}

_DAMAGED = ("malformed", "not a database", "file is encrypted")

#: idle connections kept per file
_KEEP = 4


def damaged_message(path: str, reason: str) -> str:
    """What to tell a user whose store file *path* is damaged."""
    stem = Path(path).with_suffix("")
    recovered = f"{stem}.recovered.db"
    return (f"the store file {path} is damaged ({reason}). Restore it from a backup, or copy "
            f"what is still readable into a new file: sqlite3 {path} .recover | sqlite3 "
            f"{recovered} ; then use --db {recovered} (and keep the damaged file until the "
            "new one is checked)")


def store_error(path: str, exc: BaseException) -> StoreError | None:
    """The :class:`StoreError` to raise for the driver error *exc* on file *path*: a damaged
    file, or one this user may not write; ``None`` for any other error."""
    if isinstance(exc, sqlite3.DatabaseError) and any(
            marker in str(exc).lower() for marker in _DAMAGED):
        return StoreError(damaged_message(path, str(exc)))
    if isinstance(exc, sqlite3.OperationalError) and "readonly database" in str(exc):
        return StoreError(f"the store file {path} is read-only for this user: only commands "
                          "that read (runs list, runs show, logs) can use it")
    return None


def writable(path: Path) -> bool:
    """Whether this process may write the store file *path* (and its WAL beside it)."""
    if path.exists():
        return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    return True


def prepare_path(path: Path, *, default_location: bool) -> None:
    """Check that the directory of the store file *path* exists, creating it only for the
    default location (a mistyped ``--db /no/such/dir/o.db`` is refused)."""
    if not path.parent.is_dir():
        if not default_location:
            raise StoreError(f"cannot open the store {path}: the directory {path.parent} does "
                             f"not exist (create it first: mkdir -p {path.parent})")
        path.parent.mkdir(parents=True, exist_ok=True)


def store_pragmas(db: Any, durability: str) -> None:
    """Give the DBAPI connection *db* the store's pragmas: WAL (see :func:`_wal`), the
    ``synchronous`` of *durability*, foreign keys, ``BUSY_TIMEOUT_MS``."""
    _wal(db)
    cur = db.cursor()
    cur.execute(f"PRAGMA synchronous={DURABILITY[durability]}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


def _wal(db: Any) -> None:
    """Put the database of *db* in WAL mode. Switching a new file to WAL takes a lock that
    SQLite does not wait for (no busy handler): a process opening a new store while another
    creates its schema tries again, for up to ``BUSY_TIMEOUT_MS``."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.001
    while True:
        try:
            db.cursor().execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


class SQLiteFile:
    """Connections to the SQLite store file *path* at *durability* (``full``, ``normal``).
    Thread-safe: each call takes a connection of its own."""

    def __init__(self, path: str, durability: str = "full") -> None:
        self.path = path
        self.durability = durability
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def connect(self) -> sqlite3.Connection:
        """A new connection with the store's pragmas, in autocommit mode."""
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                 isolation_level=None, check_same_thread=False)
            store_pragmas(db, self.durability)
        except sqlite3.Error as exc:
            raise self.error(exc) from exc
        return db

    def error(self, exc: BaseException) -> BaseException:
        """*exc* as the store reports it (see :func:`store_error`)."""
        return store_error(self.path, exc) or exc

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection (kept for the next call afterwards); driver errors that say the
        file is damaged or read-only become :class:`StoreError`."""
        with self._lock:
            db = self._idle.pop() if self._idle else None
        if db is None:
            db = self.connect()
        try:
            yield db
        except sqlite3.Error as exc:
            self._discard(db)
            raise self.error(exc) from exc
        except BaseException:
            self._discard(db)
            raise
        if db.in_transaction:  # a caller that neither committed nor rolled back
            db.execute("ROLLBACK")
        with self._lock:
            if len(self._idle) < _KEEP:
                self._idle.append(db)
                return
        db.close()

    @contextlib.contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection in a transaction (``BEGIN IMMEDIATE`` for a *write*), committed at
        the end or rolled back on an error."""
        with self.connection() as db:
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _discard(self, db: sqlite3.Connection) -> None:
        with contextlib.suppress(sqlite3.Error):
            if db.in_transaction:
                db.execute("ROLLBACK")
        db.close()

    def close(self) -> None:
        """Close the idle connections (those made later get the current durability)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for db in idle:
            db.close()
