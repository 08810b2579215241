"""The engine's write path on SQLite, without SQLAlchemy's per-statement work.

:meth:`Store.apply` is the engine's hot path: every transition of every task goes through it.
On SQLite it runs here: plain SQL strings (built once per set of columns) executed with
``executemany`` on the writer's own DBAPI connection, values converted as SQLAlchemy's
SQLite dialect converts them (``_sqlite_columns``), so the rows are byte for byte what the
SQLAlchemy path writes (``tests/test_store_writes.py`` compares the two). One transaction
per batch, committed before it returns.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from ._completions import RUN_QMARK, STAGE_QMARK
from ._records import AssetEvent, LogLine, RunUpdate, TaskUpdate, Write
from ._rows import fields_row, record_row
from ._sqlite_columns import Converter, check_columns, datetime_text, writers
from ._sqlite_file import BUSY_TIMEOUT_MS

__all__ = ("SQLiteWriter",)

_ENDED = ("succeeded", "failed", "cancelled")
_INSERT_PENDING = ("INSERT INTO task_runs (run_id, task_id, kind, integration, job, state, "
                   "attempt, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?)")


class SQLiteWriter:
    """Applies batches of writes to the SQLite database of *engine*."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        #: makes the writer's connection (a DBAPI connection to the store's file)
        self._connect = connect
        self._convert = {table: writers(table) for table in (
            "task_runs", "pipeline_runs", "events", "asset_events")}
        self._task_sql: dict[tuple[str, ...], str] = {}
        self._task_convert: dict[tuple[str, ...], list[Converter]] = {}
        self._run_sql: dict[tuple[str, ...], str] = {}
        self._events_sql = self._insert_sql("events", LogLine)
        self._assets_sql = self._insert_sql("asset_events", AssetEvent)
        #: the writer's own connection (made once, so that a commit pays no checkout, no
        #: reset, no pragma), used by one batch at a time
        self._raw: Any = None
        self._lock = threading.Lock()

    def _connection(self) -> Any:
        if self._raw is None:
            raw = self._connect()
            raw.cursor().execute("PRAGMA busy_timeout=0")  # waits only where asked (_begin)
            self._raw = raw
        return self._raw

    def close(self) -> None:
        """Close the writer's connection (the next batch makes a new one)."""
        with self._lock:
            if self._raw is not None:
                raw, self._raw = self._raw, None
                raw.cursor().execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                raw.close()

    @staticmethod
    def _insert_sql(table: str, record: type) -> str:
        names = record.__attrs_attrs__
        cols = ", ".join(a.name for a in names)
        return f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(names))})"

    def apply(self, writes: Iterable[Write], *, wait: bool = True) -> bool:
        """Apply *writes* in one transaction (raises ``TypeError`` for anything else).

        With ``wait=False`` the transaction is not started when another connection holds the
        write lock (nothing is written): ``False``. Otherwise it waits for the lock (the
        connection's ``busy_timeout``) and returns ``True`` once committed."""
        # task updates grouped by their columns; their rows are converted as executemany
        # reads them (a batch of 10,000 transitions never holds 10,000 converted rows)
        tasks: dict[tuple[str, ...], list[TaskUpdate]] = {}
        runs: list[RunUpdate] = []
        logs: list[list[Any]] = []
        assets: list[list[Any]] = []
        ended: list[tuple[str, str]] = []
        for w in writes:
            kind = type(w)
            if kind is TaskUpdate:
                fields = w.fields  # type: ignore[union-attr]
                if "ended_at" in fields and w.stage is not False:  # type: ignore[union-attr]
                    ended.append((w.run_id, w.task_id))  # type: ignore[union-attr]
                keys = tuple(fields)
                group = tasks.get(keys)
                if group is None:
                    tasks[keys] = [w]  # type: ignore[list-item]
                else:
                    group.append(w)  # type: ignore[arg-type]
            elif kind is LogLine:
                logs.append(self._record_row("events", w))
            elif kind is RunUpdate:
                runs.append(w)  # type: ignore[arg-type]
            elif kind is AssetEvent:
                assets.append(self._record_row("asset_events", w))
            else:
                raise TypeError(f"not a store write: {w!r}")
        if not self._lock.acquire(blocking=wait):  # another thread's batch is committing
            return False
        try:
            raw = self._connection()
            cur = raw.cursor()
            if not _begin(cur, wait):
                cur.close()
                return False
            for keys, updates in tasks.items():
                cur.executemany(self._task_update(keys), self._task_rows(keys, updates))
            for run in runs:
                self._run_update(cur, run)
            if logs:
                cur.executemany(self._events_sql, logs)
            if assets:
                cur.executemany(self._assets_sql, assets)
            # after triggers find completions by this number (see _completions)
            if ended:
                cur.executemany(STAGE_QMARK, ended)
            run_ends = [(r.run_id,) for r in runs if "ended_at" in r.fields]
            if run_ends:
                cur.executemany(RUN_QMARK, run_ends)
            cur.close()
            raw.commit()
        except BaseException:
            if self._raw is not None:
                try:
                    self._raw.rollback()
                except Exception:  # a broken connection: the next batch makes a new one
                    self._raw.close()
                    self._raw = None
            raise
        finally:
            self._lock.release()
        return True

    @staticmethod
    def insert_pending(cur: Any, run_id: str, nodes: Iterable[Mapping[str, Any]],
                       now: datetime) -> None:
        """Insert a ``pending`` task run per node of a new run with the DBAPI cursor *cur*
        (in its transaction)."""
        stamp = datetime_text(now)
        cur.executemany(_INSERT_PENDING, (
            (run_id, n["task_id"], n["kind"], n.get("integration"), n.get("job"), stamp)
            for n in nodes))

    def _task_rows(self, keys: tuple[str, ...],
                   updates: list[TaskUpdate]) -> Iterator[list[Any]]:
        convert = self._task_convert.get(keys)
        if convert is None:
            convert = self._task_convert[keys] = [self._convert["task_runs"].get(k)
                                                  for k in keys]
        for w in updates:
            row = [v if c is None else c(v)
                   for v, c in zip(w.fields.values(), convert, strict=True)]
            row.append(w.run_id)
            row.append(w.task_id)
            yield row

    def _record_row(self, table: str, record: Any) -> list[Any]:
        return record_row(self._convert[table], record)

    def _task_update(self, keys: tuple[str, ...]) -> str:
        sql = self._task_sql.get(keys)
        if sql is None:
            check_columns("task_runs", keys)
            sets = ", ".join(f"{k} = ?" for k in keys)
            sql = self._task_sql[keys] = (f"UPDATE task_runs SET {sets} "
                                          "WHERE run_id = ? AND task_id = ?")
        return sql

    def _run_update(self, cur: Any, run: RunUpdate) -> None:
        keys = tuple(run.fields)
        sql = self._run_sql.get(keys)
        if sql is None:
            check_columns("pipeline_runs", keys)
            sets = ", ".join(f"{k} = ?" for k in keys)
            sql = self._run_sql[keys] = f"UPDATE pipeline_runs SET {sets} WHERE id = ?"
        values = fields_row(self._convert["pipeline_runs"], run.fields, keys)
        cur.execute(sql, [*values, run.run_id])
        if run.fields.get("state") in _ENDED:
            # the pipeline record shows the error message of its latest run
            cur.execute("UPDATE pipelines SET error_message = ? WHERE id = (SELECT "
                        "pipeline_id FROM pipeline_runs WHERE id = ?)",
                        (run.fields.get("error"), run.run_id))


def _begin(cur: Any, wait: bool) -> bool:
    """Start a write transaction: at once if no other connection holds the write lock;
    else ``False``, or (*wait*) after waiting up to ``BUSY_TIMEOUT_MS`` for it."""
    try:
        cur.execute("BEGIN IMMEDIATE")
        return True
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        if not wait:
            return False
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        cur.execute("BEGIN IMMEDIATE")
    finally:
        cur.execute("PRAGMA busy_timeout=0")
    return True
