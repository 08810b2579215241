"""The durable state store: an embedded SQLite file (WAL) or PostgreSQL.

:meth:`Store.open` creates the database on first use and brings its schema up to date with
Alembic migrations, so an upgrade never loses data. The engine writes through
:meth:`Store.apply`, one transaction per batch of transitions.

A SQLite file's run path (opening it, creating a run, reading it back, the engine's
commits) is plain ``sqlite3``; SQLAlchemy Core, and its start-up cost, is loaded the first
time something needs :attr:`Store.engine` (PostgreSQL always does; so do the API, the
scheduler and the listings).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import StoreError
from ._json import RawJSON
from ._private import create_private
from ._records import AssetEvent, LogLine, RunUpdate, TaskUpdate, Write
from ._schema_file import sqlite_at_head
from ._sqlite_file import DURABILITY, SQLiteFile, prepare_path, store_pragmas, writable
from ._sqlite_runs import SQLiteRuns
from ._sqlite_writes import SQLiteWriter

if TYPE_CHECKING:
    import sqlalchemy as sa

    from ._postgres_writes import PostgresWriter
    from ._sa_runs import SQLAlchemyRuns

__all__ = ("AssetEvent", "LogLine", "RunUpdate", "Store", "StoreError", "TaskUpdate", "Write",
           "default_url", "utc")


def default_url(db: str | None = None) -> str:
    """The store URL: *db* (a URL or a file path), ``ORCHESTRA_DB``, or
    ``orchestra.db`` in ``ORCHESTRA_HOME`` (default: the working directory)."""
    value = db or os.environ.get("ORCHESTRA_DB")
    if value and "://" in value:
        return value
    if not value:
        home = Path(os.environ.get("ORCHESTRA_HOME", "."))
        value = str(home / "orchestra.db")
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def utc(value: datetime | None) -> datetime | None:
    """A timestamp read from the store as an aware UTC datetime (SQLite hands back naive
    ones, PostgreSQL aware ones); ``None`` stays ``None``."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _sqlite_file_path(url: str) -> str | None:
    """The file of a plain ``sqlite:///PATH`` URL (``None``: in memory, a URI, options:
    SQLAlchemy opens it)."""
    if not url.startswith("sqlite:///") or "?" in url:
        return None
    path = url[len("sqlite:///"):]
    return path if path and path != ":memory:" and not path.startswith("file:") else None


class Store:
    """A connection to the state store. Thread-safe; methods are synchronous (the engine
    calls them from a worker thread).

    :param engine: a SQLAlchemy engine on the database (or, with *sqlite*, ``None``).
    :param durability: see :meth:`open`.
    :param sqlite: a SQLite file opened with plain ``sqlite3`` (:meth:`open` makes it):
        the engine is then made the first time :attr:`engine` is read.
    """

    def __init__(self, engine: sa.Engine | None = None, durability: str = "full", *,
                 sqlite: SQLiteFile | None = None) -> None:
        if (engine is None) == (sqlite is None):
            raise TypeError("Store takes a SQLAlchemy engine or a SQLite file")
        #: ``full`` or ``normal`` (SQLite); see :meth:`open`
        self.durability = durability
        self._engine = engine
        self._engine_lock = threading.Lock()
        self._file = sqlite
        self._sa_runs: SQLAlchemyRuns | None = None
        self._postgres_writer: PostgresWriter | None = None
        self._sqlite_writer: SQLiteWriter | None = None
        if sqlite is not None:
            self.url = f"sqlite:///{sqlite.path}"
            self._runs: SQLiteRuns | SQLAlchemyRuns = SQLiteRuns(sqlite)
            self._sqlite_writer = SQLiteWriter(sqlite.connect)
            return
        assert engine is not None
        self.url = engine.url.render_as_string(hide_password=True)
        self._runs = self._sqlalchemy_runs()
        if engine.dialect.name == "sqlite":
            self._sqlite_writer = SQLiteWriter(engine.raw_connection)
        elif engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
            # the engine's write path on PostgreSQL through psycopg 3
            from ._postgres_writes import PostgresWriter

            self._postgres_writer = PostgresWriter(engine)

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine on the store's database (made on first use for a SQLite
        file opened by :meth:`open`)."""
        if self._engine is None:
            with self._engine_lock:  # one engine, whichever thread asks first
                if self._engine is None:
                    from sqlalchemy import event

                    from ._sqlite import sqlite_engine

                    engine, _ = sqlite_engine(self.url, default_location=False,
                                              read_only=False)
                    event.listen(engine, "connect", self._sqlite_pragmas)
                    self._engine = engine
        return self._engine

    @property
    def password(self) -> str | None:
        """The password in the store's URL (a PostgreSQL one), to mask wherever it could be
        shown; ``None`` for none."""
        if self._file is not None:
            return None
        password = self.engine.url.password
        return None if password is None else str(password)

    def _sqlalchemy_runs(self) -> SQLAlchemyRuns:
        if self._sa_runs is None:
            from ._sa_runs import SQLAlchemyRuns

            self._sa_runs = SQLAlchemyRuns(self.engine)
        return self._sa_runs

    @classmethod
    def open(cls, db: str | None = None, *, migrate: bool = True,
             durability: str | None = None, read_only: bool = False) -> Store:
        """Open (creating and migrating when needed) the store at *db*; see :func:`default_url`.

        A SQLite file is created only in an existing directory (the default location's is
        created). With *read_only*, a SQLite file this process may not write is opened
        read-only, without migrating (for commands that only read).

        *durability* (SQLite; default ``ORCHESTRA_DURABILITY``, else ``full``): ``full``
        syncs every commit to the disk (WAL, ``synchronous=FULL``): neither a killed process
        nor a power cut loses a committed transition. ``normal`` (WAL,
        ``synchronous=NORMAL``) commits faster: a killed process still loses nothing, but a
        power cut or an operating-system crash may lose the last commits. PostgreSQL's
        durability is the server's own (``synchronous_commit``)."""
        url = default_url(db)
        durability = durability or os.environ.get("ORCHESTRA_DURABILITY") or "full"
        if durability not in DURABILITY:
            raise StoreError(f"durability must be one of {', '.join(DURABILITY)}, "
                             f"not {durability!r}")
        default_location = not (db or os.environ.get("ORCHESTRA_DB"))
        path = _sqlite_file_path(url)
        if path is not None and not (read_only and not writable(Path(path))):
            prepare_path(Path(path), default_location=default_location)
            store = cls(durability=durability, sqlite=SQLiteFile(path, durability))
            try:
                create_private(path)  # 0600, like the key file
                if migrate:
                    store.migrate()
            except sqlite3.Error as exc:
                store.close()
                raise StoreError(f"cannot open the store at {url}: {exc.__class__.__name__}: "
                                 f"{str(exc).splitlines()[0]}") from exc
            return store
        from ._sa_open import driver_url, open_engine

        url = driver_url(url)
        engine, migrate = open_engine(url, migrate=migrate,
                                      read_only=read_only, default_location=default_location)
        store = cls(engine, durability)
        if engine.dialect.name == "sqlite" and migrate:  # not opened read-only
            from sqlalchemy import event

            event.listen(engine, "connect", store._sqlite_pragmas)
        if migrate:
            store._migrate_engine(url)
        return store

    def migrate(self) -> None:
        """Apply every pending migration (Alembic ``upgrade head``), under a lock so that
        processes opening a new store together create its tables once."""
        if self._file is not None:
            with self._file.connection() as db:
                if sqlite_at_head(db, self._file.path):
                    return
        self._migrate_engine(self.url)

    def _migrate_engine(self, url: str) -> None:
        from ._sa_open import migrate

        migrate(self.engine, url)

    def set_durability(self, durability: str) -> None:
        """Switch a SQLite store to *durability* (``full`` or ``normal``, see :meth:`open`)
        for the connections made from now on."""
        if durability not in DURABILITY:
            raise StoreError(f"durability must be one of {', '.join(DURABILITY)}, "
                             f"not {durability!r}")
        if durability != self.durability:
            self.durability = durability
            self.close()  # their connections carry the old setting

    def _sqlite_pragmas(self, dbapi_conn: Any, _: Any) -> None:
        store_pragmas(dbapi_conn, self.durability)

    def close(self) -> None:
        """Release every connection (a later call makes new ones)."""
        if self._sqlite_writer is not None:
            self._sqlite_writer.close()
        if self._file is not None:
            self._file.durability = self.durability
            self._file.close()
        if self._engine is not None:
            self._engine.dispose()

    # -- pipelines and runs --------------------------------------------------------------------

    def ensure_pipeline(self, conn: sa.Connection, name: str, client: str, definition: dict,
                        source: str | None, stored: RawJSON | None = None) -> str:
        """The id of pipeline *name* of *client* in the transaction of *conn* (a SQLAlchemy
        connection), creating or updating its record (*stored*: *definition* already
        serialized)."""
        from ._sa_runs import ensure_pipeline

        return ensure_pipeline(conn, name, client, definition, source, _now(), stored)

    def create_run(self, *, name: str, client: str, definition: dict, source: str | None,
                   run_type: str, trigger: str, nodes: Iterable[Mapping[str, Any]],
                   owner: str | None = None, scheduled_at: datetime | None = None) -> str:
        """Record a new pipeline run and a pending task run per node; return the run id.
        *scheduled_at* is the time it was due (default: now). *nodes* is read once per try
        (a retry after a conflict reads it again): a view that makes each row as it is read
        keeps a large pipeline's rows from being held at once."""
        stored = RawJSON.of(definition)  # once, for both rows
        for tries_left in (2, 1, 0):
            run_id = str(uuid.uuid4())
            try:
                self._runs.create_run(
                    run_id=run_id, now=_now(), name=name, client=client, definition=definition,
                    stored=stored, source=source, run_type=run_type, trigger=trigger,
                    nodes=nodes, owner=owner, scheduled_at=scheduled_at)
                return run_id
            except self._runs.CONFLICT:
                # another process created the same client or pipeline record meanwhile:
                # the next try finds it
                if not tries_left:
                    raise
        raise AssertionError("unreachable")

    def apply_now(self, writes: Sequence[Write]) -> bool:
        """Apply *writes* on the calling thread if that takes no waiting but for the disk: on
        SQLite when no other connection holds the write lock; on a PostgreSQL server on this
        machine (a Unix socket or a loopback address) when no other session holds a lock the
        batch needs. ``False`` (nothing written) when it would have to wait (or the server
        is elsewhere: a network's round trip); the caller then calls :meth:`apply` from a
        worker thread. The engine's committer calls it on the event loop's thread, where a
        commit costs least."""
        if self._sqlite_writer is not None:
            return self._sqlite_writer.apply(writes, wait=False)
        if self._postgres_writer is not None and self._postgres_writer.local:
            return self._postgres_writer.apply(writes, wait=False)
        return False

    def apply(self, writes: Iterable[Write]) -> None:
        """Apply a batch of writes in one transaction (grouped into executemany calls)."""
        if self._sqlite_writer is not None:
            self._sqlite_writer.apply(writes)
        elif self._postgres_writer is not None:
            self._postgres_writer.apply(writes)
        else:
            self._sqlalchemy_runs().apply(writes)

    def request_cancel(self, run_id: str) -> str:
        """Ask the process running *run_id* to cancel it; return the run's state."""
        run = self.get_run(run_id)
        if run["state"] in ("succeeded", "failed", "cancelled"):
            return run["state"]
        self._runs.set_cancel_requested(run_id)
        return run["state"]

    def cancel_requested(self, run_id: str) -> bool:
        """Whether someone asked to cancel *run_id*."""
        return self._runs.cancel_requested(run_id)

    def get_run(self, run_id: str) -> dict[str, Any]:
        """The run record (with its pipeline's name and client), by id or unique id prefix."""
        if not run_id or not run_id.strip():
            raise StoreError("a run id (or a unique prefix of one) is required")
        found = self._runs.find_runs(run_id)
        if not found:
            raise StoreError(f"no run with id {run_id!r}")
        if len(found) > 1:
            raise StoreError(f"run id prefix {run_id!r} is ambiguous ({len(found)} runs)")
        return found[0]

    def task_runs(self, run_id: str) -> list[dict[str, Any]]:
        """Every task run (and stage) of *run_id*, in creation order."""
        return self._runs.task_runs(run_id)

    def read_tables(self, tables: Mapping[str, Sequence[str] | None]
                    ) -> dict[str, list[dict[str, Any]]]:
        """Every row of each of *tables* (``{table: columns}``, ``None``: every column),
        read in one transaction."""
        return self._runs.read_tables(tables)

    def insert_row(self, table: str, values: Mapping[str, Any]) -> int:
        """Add one row of *values* to *table* in a transaction of its own; its integer key
        (0 for a table without one)."""
        return self._runs.insert(table, values)

    def get_pipeline(self, name: str, client: str = "default") -> dict[str, Any]:
        """The stored record of pipeline *name* of *client*."""
        row = self._sqlalchemy_runs().get_pipeline(name, client)
        if row is None:
            raise StoreError(f"no pipeline {name!r} for client {client!r}")
        return row

    def list_runs(self, *, pipeline: str | None = None, state: str | None = None,
                  limit: int = 50) -> list[dict[str, Any]]:
        """Recent runs, newest first."""
        return self._sqlalchemy_runs().list_runs(pipeline=pipeline, state=state, limit=limit)

    def logs(self, *, since: datetime | None = None, until: datetime | None = None,
             level: str | None = None, pipeline: str | None = None, run_id: str | None = None,
             task: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Log events in time order, filtered (``level`` is a minimum level)."""
        if level is not None and level not in LEVELS:
            raise StoreError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
        return self._sqlalchemy_runs().logs(
            since=since, until=until, levels=LEVELS[LEVELS.index(level):] if level else None,
            pipeline=pipeline, run_id=run_id, task=task, limit=limit)


#: Log levels, lowest first.
LEVELS = ["debug", "info", "warning", "error"]
