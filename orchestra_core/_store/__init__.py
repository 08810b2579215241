"""The durable state store: SQLAlchemy Core on an embedded SQLite file (WAL) or PostgreSQL.

:meth:`Store.open` creates the database on first use and brings its schema up to date with
Alembic migrations, so an upgrade never loses data. The engine writes through
:meth:`Store.apply`, one transaction per batch of transitions.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from .._errors import OrchestraError
from . import schema
from ._completions import number_completions
from ._json import RawJSON, dumps
from ._postgres import postgres_engine
from ._postgres_writes import PostgresWriter
from ._private import create_private, hide_password
from ._records import AssetEvent, LogLine, RunUpdate, TaskUpdate, Write
from ._schema_version import ensure_schema
from ._sqlite import sqlite_engine
from ._sqlite_writes import BUSY_TIMEOUT_MS, SQLiteWriter
from .schema import clients, events, pipeline_runs, pipelines, task_runs

__all__ = ("AssetEvent", "LogLine", "RunUpdate", "Store", "StoreError", "TaskUpdate", "Write",
           "default_url", "utc")


class StoreError(OrchestraError):
    """The store cannot be opened or does not hold what was asked for."""


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


#: The ``durability`` settings of a SQLite store and the ``synchronous`` pragma of each.
DURABILITY = {"full": "FULL", "normal": "NORMAL"}


def utc(value: datetime | None) -> datetime | None:
    """A timestamp read from the store as an aware UTC datetime (SQLite hands back naive
    ones, PostgreSQL aware ones); ``None`` stays ``None``."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


class Store:
    """A connection to the state store. Thread-safe; methods are synchronous (the engine
    calls them from a worker thread)."""

    def __init__(self, engine: sa.Engine, durability: str = "full") -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)
        #: ``full`` or ``normal`` (SQLite); see :meth:`open`
        self.durability = durability
        self._sqlite_writer = SQLiteWriter(engine) if engine.dialect.name == "sqlite" else None
        #: the engine's write path on PostgreSQL through psycopg 3 (``None``: SQLAlchemy's)
        self._postgres_writer = (PostgresWriter(engine) if engine.dialect.name == "postgresql"
                                 and engine.dialect.driver == "psycopg" else None)

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
        try:
            if url.startswith("sqlite"):
                engine, read_only = sqlite_engine(
                    url, default_location=not (db or os.environ.get("ORCHESTRA_DB")),
                    read_only=read_only)
                migrate = migrate and not read_only
                path = sa.engine.make_url(url).database
                if path and path != ":memory:" and not read_only:
                    create_private(path)  # 0600, like the key file
            else:
                if url.startswith("postgresql://"):
                    url = "postgresql+psycopg://" + url[len("postgresql://"):]
                if url.startswith("postgresql+psycopg://"):
                    # pings only when in doubt (see there)
                    engine = postgres_engine(url, json_serializer=dumps)
                else:
                    engine = sa.create_engine(url, pool_pre_ping=True, json_serializer=dumps)
            store = cls(engine, durability)
            if engine.dialect.name == "sqlite" and not read_only:
                event.listen(engine, "connect", store._sqlite_pragmas)
            if migrate:
                ensure_schema(engine)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(hide_password(url, f"cannot open the store at {hide_password(url)}: "
                             f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}")) from exc
        return store

    def migrate(self) -> None:
        """Apply every pending migration (Alembic ``upgrade head``), under a lock so that
        processes opening a new store together create its tables once."""
        ensure_schema(self.engine)

    def set_durability(self, durability: str) -> None:
        """Switch a SQLite store to *durability* (``full`` or ``normal``, see :meth:`open`)
        for the connections made from now on."""
        if durability not in DURABILITY:
            raise StoreError(f"durability must be one of {', '.join(DURABILITY)}, "
                             f"not {durability!r}")
        if durability != self.durability:
            self.durability = durability
            if self._sqlite_writer is not None:
                self._sqlite_writer.close()
            self.engine.dispose()  # pooled connections carry the old setting

    def _sqlite_pragmas(self, dbapi_conn: Any, _: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={DURABILITY[self.durability]}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()

    def close(self) -> None:
        """Release every connection."""
        if self._sqlite_writer is not None:
            self._sqlite_writer.close()
        self.engine.dispose()

    # -- pipelines and runs --------------------------------------------------------------------

    def ensure_pipeline(self, conn: sa.Connection, name: str, client: str, definition: dict,
                        source: str | None, stored: RawJSON | None = None) -> str:
        """The id of pipeline *name* of *client*, creating or updating its record (*stored*:
        *definition* already serialized)."""
        now = _now()
        client_id = conn.execute(sa.select(clients.c.id).where(clients.c.name == client)).scalar()
        if client_id is None:
            client_id = str(uuid.uuid4())
            conn.execute(clients.insert().values(id=client_id, name=client, created_at=now))
        row = conn.execute(sa.select(pipelines.c.id).where(
            pipelines.c.client_id == client_id, pipelines.c.name == name)).scalar()
        values = dict(definition=RawJSON.of(definition) if stored is None else stored,
                      source=source, tags=list(definition.get("tags", [])),
                      num_tasks=len(definition.get("tasks", [])), updated_at=now)
        # the definition is passed as an execution parameter, never embedded in a statement
        # with .values(): SQLAlchemy's statement cache would keep it alive for good
        if row is None:
            row = str(uuid.uuid4())
            conn.execute(pipelines.insert(), dict(
                id=row, client_id=client_id, name=name, created_at=now, status="active",
                active=True, **values))
        else:
            conn.execute(pipelines.update().where(pipelines.c.id == row), values)
        return row

    def create_run(self, *, name: str, client: str, definition: dict, source: str | None,
                   run_type: str, trigger: str, nodes: Iterable[Mapping[str, Any]],
                   owner: str | None = None, scheduled_at: datetime | None = None) -> str:
        """Record a new pipeline run and a pending task run per node; return the run id.
        *scheduled_at* is the time it was due (default: now). *nodes* is read once per try
        (a retry after a conflict reads it again): a view that makes each row as it is read
        keeps a large pipeline's rows from being held at once."""
        for tries_left in (2, 1, 0):
            try:
                return self._create_run(name, client, definition, source, run_type, trigger,
                                        nodes, owner, scheduled_at)
            except sa.exc.IntegrityError:
                # another process created the same client or pipeline record meanwhile:
                # the next try finds it
                if not tries_left:
                    raise
        raise AssertionError("unreachable")

    def _create_run(self, name: str, client: str, definition: dict, source: str | None,
                    run_type: str, trigger: str, nodes: Iterable[Mapping[str, Any]],
                    owner: str | None, scheduled_at: datetime | None = None) -> str:
        run_id = str(uuid.uuid4())
        now = _now()
        with self.engine.begin() as conn:
            stored = RawJSON.of(definition)  # once, for both rows
            pipeline_id = self.ensure_pipeline(conn, name, client, definition, source, stored)
            conn.execute(pipeline_runs.insert(), dict(  # a parameter: see ensure_pipeline
                id=run_id, pipeline_id=pipeline_id, run_type=run_type, trigger=trigger,
                state="pending", definition=stored, created_at=now, cancel_requested=False,
                owner=owner, scheduled_at=scheduled_at or now))
            if self._sqlite_writer is not None:  # plain executemany, rows made as it reads
                self._sqlite_writer.insert_pending(conn, run_id, nodes, now)
            elif nodes := list(nodes):
                conn.execute(task_runs.insert(), [dict(
                    run_id=run_id, task_id=n["task_id"], kind=n["kind"],
                    integration=n.get("integration"), job=n.get("job"), state="pending",
                    attempt=0, updated_at=now) for n in nodes])
        return run_id

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
            return
        if self._postgres_writer is not None:
            self._postgres_writer.apply(writes)
            return
        groups: dict[tuple, list[dict]] = {}
        inserts: list[dict] = []
        assets: list[dict] = []
        run_updates: list[tuple[str, dict]] = []
        ended_tasks: list[tuple[str, str]] = []
        for w in writes:
            if type(w) is TaskUpdate:
                if "ended_at" in w.fields and w.stage is not False:
                    ended_tasks.append((w.run_id, w.task_id))
                groups.setdefault(tuple(sorted(w.fields)), []).append(
                    {**{f"v_{k}": v for k, v in w.fields.items()}, "b_run": w.run_id,
                     "b_task": w.task_id})
            elif type(w) is RunUpdate:
                run_updates.append((w.run_id, w.fields))
            elif type(w) is AssetEvent:
                assets.append(w.row())
            elif type(w) is LogLine:
                inserts.append(w.row())
            else:
                raise TypeError(f"not a store write: {w!r}")
        with self.engine.begin() as conn:
            for keys, params in groups.items():
                stmt = task_runs.update().where(
                    task_runs.c.run_id == sa.bindparam("b_run"),
                    task_runs.c.task_id == sa.bindparam("b_task"),
                ).values({k: sa.bindparam(f"v_{k}") for k in keys})
                conn.execute(stmt, params)
            for run_id, fields in run_updates:
                conn.execute(pipeline_runs.update().where(pipeline_runs.c.id == run_id)
                             .values(**fields))
                if fields.get("state") in ("succeeded", "failed", "cancelled"):
                    # the pipeline record shows the error message of its latest run
                    conn.execute(pipelines.update().where(pipelines.c.id == sa.select(
                        pipeline_runs.c.pipeline_id).where(pipeline_runs.c.id == run_id)
                        .scalar_subquery()).values(error_message=fields.get("error")))
            if inserts:
                conn.execute(events.insert(), inserts)
            if assets:
                conn.execute(schema.asset_events.insert(), assets)
            number_completions(conn, [r for r, f in run_updates if "ended_at" in f],
                               ended_tasks)

    def request_cancel(self, run_id: str) -> str:
        """Ask the process running *run_id* to cancel it; return the run's state."""
        run = self.get_run(run_id)
        if run["state"] in ("succeeded", "failed", "cancelled"):
            return run["state"]
        with self.engine.begin() as conn:
            conn.execute(pipeline_runs.update().where(pipeline_runs.c.id == run_id)
                         .values(cancel_requested=True))
        return run["state"]

    def cancel_requested(self, run_id: str) -> bool:
        """Whether someone asked to cancel *run_id*."""
        with self.engine.connect() as conn:
            return bool(conn.execute(sa.select(pipeline_runs.c.cancel_requested)
                                     .where(pipeline_runs.c.id == run_id)).scalar())

    def get_run(self, run_id: str) -> dict[str, Any]:
        """The run record (with its pipeline's name and client), by id or unique id prefix."""
        if not run_id or not run_id.strip():
            raise StoreError("a run id (or a unique prefix of one) is required")
        with self.engine.connect() as conn:
            query = (sa.select(pipeline_runs, pipelines.c.name.label("pipeline"),
                               clients.c.name.label("client"))
                     .join(pipelines, pipelines.c.id == pipeline_runs.c.pipeline_id)
                     .join(clients, clients.c.id == pipelines.c.client_id))
            rows = conn.execute(query.where(pipeline_runs.c.id.startswith(run_id))).mappings()
            found = [dict(r) for r in rows]
        if not found:
            raise StoreError(f"no run with id {run_id!r}")
        if len(found) > 1:
            raise StoreError(f"run id prefix {run_id!r} is ambiguous ({len(found)} runs)")
        return found[0]

    def task_runs(self, run_id: str) -> list[dict[str, Any]]:
        """Every task run (and stage) of *run_id*, in creation order."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(task_runs).where(task_runs.c.run_id == run_id)
                                .order_by(task_runs.c.id)).mappings()
            return [dict(r) for r in rows]

    def get_pipeline(self, name: str, client: str = "default") -> dict[str, Any]:
        """The stored record of pipeline *name* of *client*."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(pipelines).join(
                clients, clients.c.id == pipelines.c.client_id).where(
                pipelines.c.name == name, clients.c.name == client)).mappings().first()
        if row is None:
            raise StoreError(f"no pipeline {name!r} for client {client!r}")
        return dict(row)

    def list_runs(self, *, pipeline: str | None = None, state: str | None = None,
                  limit: int = 50) -> list[dict[str, Any]]:
        """Recent runs, newest first."""
        query = (sa.select(pipeline_runs.c.id, pipeline_runs.c.state, pipeline_runs.c.run_type,
                           pipeline_runs.c.trigger, pipeline_runs.c.created_at,
                           pipeline_runs.c.started_at, pipeline_runs.c.ended_at,
                           pipeline_runs.c.error, pipeline_runs.c.scheduled_at,
                           pipelines.c.name.label("pipeline"))
                 .join(pipelines, pipelines.c.id == pipeline_runs.c.pipeline_id)
                 .order_by(pipeline_runs.c.created_at.desc()).limit(limit))
        if pipeline:
            query = query.where(pipelines.c.name == pipeline)
        if state:
            query = query.where(pipeline_runs.c.state == state)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def logs(self, *, since: datetime | None = None, until: datetime | None = None,
             level: str | None = None, pipeline: str | None = None, run_id: str | None = None,
             task: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Log events in time order, filtered (``level`` is a minimum level)."""
        query = sa.select(events).order_by(events.c.time, events.c.id).limit(limit)
        if since:
            query = query.where(events.c.time >= since)
        if until:
            query = query.where(events.c.time <= until)
        if level:
            query = query.where(events.c.level.in_(LEVELS[LEVELS.index(level):]))
        if pipeline:
            query = query.where(events.c.pipeline == pipeline)
        if run_id:
            query = query.where(events.c.run_id == run_id)
        if task:
            query = query.where(events.c.task_id == task)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]


#: Log levels, lowest first.
LEVELS = ["debug", "info", "warning", "error"]

_ = schema
