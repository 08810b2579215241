"""The store's run path in SQLAlchemy Core: what ``_sqlite_runs`` does on a SQLite file, for
PostgreSQL (and SQLite URLs the plain path does not open: in memory, read-only, with
options). Both return the same values (``tests/test_store_paths.py`` compares them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ._completions import number_completions
from ._json import RawJSON, dumps
from ._records import AssetEvent, LogLine, RunUpdate, TaskUpdate, Write
from .schema import asset_events, clients, events, pipeline_runs, pipelines, task_runs

__all__ = ("SQLAlchemyRuns", "ensure_pipeline")


def ensure_pipeline(conn: sa.Connection, name: str, client: str, definition: Mapping,
                    source: str | None, now: datetime, stored: RawJSON | None = None) -> str:
    """The id of pipeline *name* of *client*, creating or updating its record (*stored*:
    *definition* already serialized)."""
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


def _where(query: sa.Select, *conditions: Any) -> sa.Select:
    """*query* filtered by each of *conditions* that is an SQL condition (``filter and
    column == filter`` leaves a filter the caller did not give falsy: no condition)."""
    return query.where(*(c for c in conditions if isinstance(c, sa.ColumnElement)))


class SQLAlchemyRuns:
    """The run path's operations on the SQLAlchemy *engine*."""

    #: what a conflicting insert raises (another process created the same record)
    CONFLICT: type[Exception] = sa.exc.IntegrityError

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        # an engine made elsewhere (``Store(engine)``) may serialize JSON its own way: it
        # gets the definition itself, not the store's serialized text
        self._raw_json = getattr(engine.dialect, "_json_serializer", None) is dumps

    def create_run(self, *, run_id: str, now: datetime, name: str, client: str,
                   definition: Mapping[str, Any], stored: RawJSON, source: str | None,
                   run_type: str, trigger: str, nodes: Iterable[Mapping[str, Any]],
                   owner: str | None, scheduled_at: datetime | None) -> None:
        """Record the run, its pipeline (created or updated) and a pending task run per
        node, in one transaction."""
        if not self._raw_json:
            stored = definition  # type: ignore[assignment]
        with self.engine.begin() as conn:
            pipeline_id = ensure_pipeline(conn, name, client, definition, source, now, stored)
            conn.execute(pipeline_runs.insert(), dict(  # a parameter: see ensure_pipeline
                id=run_id, pipeline_id=pipeline_id, run_type=run_type, trigger=trigger,
                state="pending", definition=stored, created_at=now, cancel_requested=False,
                owner=owner, scheduled_at=scheduled_at or now))
            if conn.dialect.name == "sqlite":  # plain executemany, rows made as it reads
                from ._sqlite_writes import SQLiteWriter

                cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                try:
                    SQLiteWriter.insert_pending(cur, run_id, nodes, now)
                finally:
                    cur.close()
            elif nodes := list(nodes):
                conn.execute(task_runs.insert(), [dict(
                    run_id=run_id, task_id=n["task_id"], kind=n["kind"],
                    integration=n.get("integration"), job=n.get("job"), state="pending",
                    attempt=0, updated_at=now) for n in nodes])

    def find_runs(self, prefix: str) -> list[dict[str, Any]]:
        """The runs whose id starts with *prefix*, with their pipeline's name and client."""
        query = (sa.select(pipeline_runs, pipelines.c.name.label("pipeline"),
                           clients.c.name.label("client"))
                 .join(pipelines, pipelines.c.id == pipeline_runs.c.pipeline_id)
                 .join(clients, clients.c.id == pipelines.c.client_id)
                 .where(pipeline_runs.c.id.startswith(prefix, autoescape=True)))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def task_runs(self, run_id: str) -> list[dict[str, Any]]:
        """Every task run of *run_id*, in creation order."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(task_runs).where(task_runs.c.run_id == run_id)
                                .order_by(task_runs.c.id)).mappings()
            return [dict(r) for r in rows]

    def cancel_requested(self, run_id: str) -> bool:
        """Whether someone asked to cancel *run_id*."""
        with self.engine.connect() as conn:
            return bool(conn.execute(sa.select(pipeline_runs.c.cancel_requested)
                                     .where(pipeline_runs.c.id == run_id)).scalar())

    def set_cancel_requested(self, run_id: str) -> None:
        """Ask the process running *run_id* to cancel it."""
        with self.engine.begin() as conn:
            conn.execute(pipeline_runs.update().where(pipeline_runs.c.id == run_id)
                         .values(cancel_requested=True))

    def read_tables(self, tables: Mapping[str, Sequence[str] | None]
                    ) -> dict[str, list[dict[str, Any]]]:
        """Every row of each table of *tables* (only the columns given, ``None``: all), read
        in one transaction."""
        from . import schema

        out = {}
        with self.engine.connect() as conn, conn.begin():
            for name, columns in tables.items():
                table = getattr(schema, name)
                query = sa.select(table) if columns is None else sa.select(
                    *(table.c[c] for c in columns))
                out[name] = [dict(r) for r in conn.execute(query).mappings()]
        return out

    def insert(self, table: str, values: Mapping[str, Any]) -> int:
        """Add one row to *table*; its integer key."""
        from . import schema

        with self.engine.begin() as conn:
            result = conn.execute(getattr(schema, table).insert().values(**values))
            key = result.inserted_primary_key
            return int(key[0]) if key and key[0] is not None else 0

    def apply(self, writes: Iterable[Write]) -> None:
        """Apply a batch of writes in one transaction (grouped into executemany calls)."""
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
                conn.execute(asset_events.insert(), assets)
            number_completions(conn, [r for r, f in run_updates if "ended_at" in f],
                               ended_tasks)

    def get_pipeline(self, name: str, client: str) -> dict[str, Any] | None:
        """The stored record of pipeline *name* of *client* (``None``: none)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(pipelines).join(
                clients, clients.c.id == pipelines.c.client_id).where(
                pipelines.c.name == name, clients.c.name == client)).mappings().first()
        return None if row is None else dict(row)

    def list_runs(self, *, pipeline: str | None, state: str | None,
                  limit: int) -> list[dict[str, Any]]:
        """Recent runs, newest first."""
        query = (sa.select(pipeline_runs.c.id, pipeline_runs.c.state, pipeline_runs.c.run_type,
                           pipeline_runs.c.trigger, pipeline_runs.c.created_at,
                           pipeline_runs.c.started_at, pipeline_runs.c.ended_at,
                           pipeline_runs.c.error, pipeline_runs.c.scheduled_at,
                           pipelines.c.name.label("pipeline"))
                 .join(pipelines, pipelines.c.id == pipeline_runs.c.pipeline_id)
                 .order_by(pipeline_runs.c.created_at.desc()).limit(limit))
        query = _where(query, pipeline and pipelines.c.name == pipeline,
                       state and pipeline_runs.c.state == state)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def logs(self, *, since: datetime | None, until: datetime | None,
             levels: Sequence[str] | None, pipeline: str | None, run_id: str | None,
             task: str | None, limit: int) -> list[dict[str, Any]]:
        """Log events in time order, filtered."""
        query = _where(sa.select(events).order_by(events.c.time, events.c.id).limit(limit),
                       since and events.c.time >= since, until and events.c.time <= until,
                       levels and events.c.level.in_(levels),
                       pipeline and events.c.pipeline == pipeline,
                       run_id and events.c.run_id == run_id, task and events.c.task_id == task)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]
