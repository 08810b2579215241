"""The engine's write path on PostgreSQL: one round trip per batch, without SQLAlchemy's
per-statement work.

:meth:`Store.apply` is the engine's hot path. Through SQLAlchemy Core, one batch on
PostgreSQL cost a ping, a ``BEGIN``, each statement, a query asking whether an ended task is
a stage, and a ``COMMIT``: five or six round trips and their Python work. Here, on the pooled
psycopg connection (switched to autocommit for the batch, and back):

- a batch of one task transition (the commonest: a task of a chain starting or ending) is
  one statement, so its own transaction, committed (and, with the server's
  ``synchronous_commit``, durable) before the answer comes back. A stage's end (numbered,
  see ``_completions``) takes the general path; an end whose writer did not say whether
  it is a stage's (``TaskUpdate.stage`` None) is written with ``kind <> 'stage'``, and
  takes the general path when that matches nothing;
- any other batch is ``BEGIN``, its statements and ``COMMIT`` sent in one pipeline (one
  round trip); an error anywhere rolls the whole batch back;
- the completion numbering takes the advisory lock only when a stage or a run ended (one
  statement that locks when it finds an ended stage), and numbers the ended stages of the
  batch in one statement, in the batch's order, as the SQLAlchemy path's one-by-one updates
  did.

Values are converted by the bind processors SQLAlchemy uses for the same columns, so the
rows are those the SQLAlchemy path writes (``tests/test_store_writes_postgres.py`` compares
the two).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa

from . import schema
from ._completions import LOCK_KEY, MARK_SQL
from ._records import AssetEvent, LogLine, RunUpdate, TaskUpdate, Write
from ._rows import fields_row, record_row

__all__ = ("PostgresWriter",)

_LOOPBACK = ("localhost", "127.0.0.1", "::1")
#: how long a batch committed on the event loop's thread may wait for another session's lock
#: before it is handed to a worker thread instead
_NOWAIT_MS = 20
_LOCK_NOT_AVAILABLE = "55P03"

_ENDED = ("succeeded", "failed", "cancelled")
_LOCK = f"pg_advisory_xact_lock(hashtext('{LOCK_KEY}'))"
_PAIRS = "unnest(%s::text[], %s::text[]) WITH ORDINALITY AS u(r, k, o)"
#: Takes the completions lock when one of the batch's ended tasks is an ended stage.
_LOCK_IF_STAGE = (
    f"SELECT {_LOCK} FROM {_PAIRS} JOIN task_runs AS x ON x.run_id = u.r "
    "AND x.task_id = u.k WHERE x.kind = 'stage' AND x.ended_at IS NOT NULL "
    "LIMIT 1"
)
_LOCK_ALWAYS = f"SELECT {_LOCK}"
#: Numbers the batch's ended stages one past the newest completion, in the batch's order.
_NUMBER_STAGES = (
    f"UPDATE task_runs AS t SET end_seq = {MARK_SQL} + s.n FROM (SELECT x.id, "
    f"row_number() OVER (ORDER BY u.o) AS n FROM {_PAIRS} JOIN task_runs AS x "
    "ON x.run_id = u.r AND x.task_id = u.k WHERE x.kind = 'stage' AND "
    "x.ended_at IS NOT NULL) AS s WHERE t.id = s.id"
)
_NUMBER_RUN = (
    f"UPDATE pipeline_runs SET end_seq = {MARK_SQL} + 1 WHERE id = %s AND ended_at IS NOT NULL"
)
_PIPELINE_ERROR = (
    "UPDATE pipelines SET error_message = %s WHERE id = "
    "(SELECT pipeline_id FROM pipeline_runs WHERE id = %s)"
)


class PostgresWriter:
    """Applies batches of writes to the PostgreSQL database of *engine* (psycopg 3)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        dialect = engine.dialect
        self._quote = dialect.identifier_preparer.quote
        self._convert: dict[str, dict[str, Callable[[Any], Any] | None]] = {
            table.name: {c.name: c.type._cached_bind_processor(dialect) for c in table.c}
            for table in (
                schema.task_runs,
                schema.pipeline_runs,
                schema.events,
                schema.asset_events,
            )
        }
        self._task_sql: dict[tuple[tuple[str, ...], bool], str] = {}
        self._task_convert: dict[tuple[str, ...], list[Callable[[Any], Any] | None]] = {}
        self._run_sql: dict[tuple[str, ...], str] = {}
        self._events_sql = self._insert_sql(schema.events, LogLine)
        self._assets_sql = self._insert_sql(schema.asset_events, AssetEvent)

    def _insert_sql(self, table: sa.Table, record: type) -> str:
        names = record.__attrs_attrs__
        cols = ", ".join(self._quote(a.name) for a in names)
        return f"INSERT INTO {table.name} ({cols}) VALUES ({', '.join(['%s'] * len(names))})"

    @property
    def local(self) -> bool:
        """Whether the server is on this machine (a Unix socket or a loopback address): a
        batch's round trip is then as short as a local disk's sync."""
        host = self.engine.url.host
        return not host or host.startswith("/") or host in _LOOPBACK

    def apply(self, writes: Iterable[Write], *, wait: bool = True) -> bool:
        """Apply *writes* in one transaction (raises ``TypeError`` for anything else).

        With ``wait=False`` nothing waits for a lock another session holds (``lock_timeout``
        of a few milliseconds): when one would have to, nothing is written and the answer
        is ``False``."""
        tasks: dict[tuple[str, ...], list[list[Any]]] = {}
        runs: list[RunUpdate] = []
        logs: list[list[Any]] = []
        assets: list[list[Any]] = []
        ended: dict[tuple[str, str], bool | None] = {}  # in order, once each
        n_tasks = 0
        task_convert = self._task_convert
        for w in writes:
            kind = type(w)
            if kind is TaskUpdate:
                fields = w.fields  # type: ignore[union-attr]
                keys = tuple(fields)
                convert = task_convert.get(keys)
                if convert is None:
                    _check_columns(schema.task_runs, keys)
                    convert = task_convert[keys] = [self._convert["task_runs"][k] for k in keys]
                row = [
                    v if c is None else c(v) for v, c in zip(fields.values(), convert, strict=True)
                ]
                row.append(w.run_id)
                row.append(w.task_id)  # type: ignore[union-attr]
                if "ended_at" in fields and w.stage is not False:  # type: ignore[union-attr]
                    # a stage's end (or maybe one: stage None) is numbered, a task's never
                    ended[(w.run_id, w.task_id)] = w.stage  # type: ignore[union-attr]
                tasks.setdefault(keys, []).append(row)
                n_tasks += 1
            elif kind is LogLine:
                logs.append(self._record_row("events", w))
            elif kind is RunUpdate:
                _check_columns(schema.pipeline_runs, tuple(w.fields))  # type: ignore[union-attr]
                runs.append(w)  # type: ignore[arg-type]
            elif kind is AssetEvent:
                assets.append(self._record_row("asset_events", w))
            else:
                raise TypeError(f"not a store write: {w!r}")
        if not (tasks or runs or logs or assets):
            return True
        raw = self.engine.raw_connection()
        conn = raw.driver_connection
        done = False
        try:
            conn.autocommit = True
            try:
                if (wait and n_tasks == 1 and not (runs or logs or assets)
                        and True not in ended.values()):
                    ((keys, (row,)),) = tasks.items()
                    done = self._one_statement(conn, keys, row, bool(ended))
                if not done:  # not waiting: an explicit transaction, for its lock_timeout
                    self._transaction(conn, tasks, runs, logs, assets, list(ended),
                                      nowait=not wait)
                    done = True
            except Exception as exc:
                if wait or getattr(exc, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                    raise
                return False  # rolled back below: nothing written
            return True
        finally:
            try:
                if not done:
                    conn.rollback()  # the explicit transaction a failed pipeline left open
                conn.autocommit = False
            except Exception:
                raw.invalidate()  # never back to the pool
            raw.close()  # back to the pool

    def _one_statement(self, conn: Any, keys: tuple[str, ...], row: list[Any], ends: bool) -> bool:
        """Write one task's transition as a transaction of its own; ``False`` when it is the
        end of a stage (or of no row: the general path does the same to nothing)."""
        with conn.cursor() as cur:
            cur.execute(self._task_update(keys, not_stage=ends), row)
            return not ends or cur.rowcount == 1

    def _transaction(
        self,
        conn: Any,
        tasks: dict[tuple[str, ...], list[list[Any]]],
        runs: list[RunUpdate],
        logs: list[list[Any]],
        assets: list[list[Any]],
        ended: list[tuple[str, str]],
        *,
        nowait: bool = False,
    ) -> None:
        with conn.pipeline(), conn.cursor() as cur:
            cur.execute("BEGIN")
            if nowait:  # gives up on another session's lock (reset by the commit)
                cur.execute(f"SET LOCAL lock_timeout = '{_NOWAIT_MS}ms'")
            for keys, rows in tasks.items():
                if len(rows) == 1:
                    cur.execute(self._task_update(keys), rows[0])
                else:
                    cur.executemany(self._task_update(keys), rows)
            for run in runs:
                keys = tuple(run.fields)
                cur.execute(
                    self._run_update(keys),
                    [*fields_row(self._convert["pipeline_runs"], run.fields, keys), run.run_id],
                )
                if run.fields.get("state") in _ENDED:
                    # the pipeline record shows the error message of its latest run
                    cur.execute(_PIPELINE_ERROR, (run.fields.get("error"), run.run_id))
            if logs:
                cur.executemany(self._events_sql, logs)
            if assets:
                cur.executemany(self._assets_sql, assets)
            # after triggers find completions by this number (see _completions); last, so
            # that the lock is held from the numbering to the commit only
            run_ends = [r.run_id for r in runs if "ended_at" in r.fields]
            if run_ends or ended:
                pairs = ([r for r, _ in ended], [t for _, t in ended])
                cur.execute(_LOCK_ALWAYS if run_ends else _LOCK_IF_STAGE, () if run_ends else pairs)
                for run_id in run_ends:
                    cur.execute(_NUMBER_RUN, (run_id,))
                if ended:
                    cur.execute(_NUMBER_STAGES, pairs)
            cur.execute("COMMIT")

    def _record_row(self, table: str, record: Any) -> list[Any]:
        return record_row(self._convert[table], record)

    def _task_update(self, keys: tuple[str, ...], not_stage: bool = False) -> str:
        sql = self._task_sql.get((keys, not_stage))
        if sql is None:
            sets = ", ".join(f"{self._quote(k)} = %s" for k in keys)
            sql = f"UPDATE task_runs SET {sets} WHERE run_id = %s AND task_id = %s"
            if not_stage:
                sql += " AND kind <> 'stage'"
            self._task_sql[(keys, not_stage)] = sql
        return sql

    def _run_update(self, keys: tuple[str, ...]) -> str:
        sql = self._run_sql.get(keys)
        if sql is None:
            sets = ", ".join(f"{self._quote(k)} = %s" for k in keys)
            sql = self._run_sql[keys] = f"UPDATE pipeline_runs SET {sets} WHERE id = %s"
        return sql


def _check_columns(table: sa.Table, keys: tuple[str, ...]) -> None:
    unknown = [k for k in keys if k not in table.c]
    if unknown:
        raise sa.exc.ArgumentError(f"unconsumed column names: {', '.join(unknown)}")
