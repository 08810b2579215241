"""The store's run path on a SQLite file in plain SQL: creating a run, reading it and its
task runs back, the cancel flag, and the few rows other parts read or add on the way
(secrets, the audit log). The same operations in SQLAlchemy Core, for PostgreSQL, are in
``_sa_runs``; both return the same values (``tests/test_store_paths.py`` compares them).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ._json import RawJSON
from ._sqlite_columns import check_columns, datetime_text, reader, writers
from ._sqlite_file import SQLiteFile
from ._sqlite_writes import SQLiteWriter

__all__ = ("SQLiteRuns",)

_RUN = ("SELECT pipeline_runs.*, pipelines.name AS pipeline, clients.name AS client "
        "FROM pipeline_runs JOIN pipelines ON pipelines.id = pipeline_runs.pipeline_id "
        "JOIN clients ON clients.id = pipelines.client_id ")

#: above every character of a run id: ``id >= prefix AND id < prefix || _TOP`` finds the
#: ids starting with a prefix through the primary key's index
_TOP = "\U0010ffff"


def _dicts(cur: sqlite3.Cursor, table: str) -> list[dict[str, Any]]:
    """The rows of *cur* as dicts, values read as their *table*'s columns say."""
    names = [d[0] for d in cur.description]
    convert = reader(table)
    fns = [convert.get(n) for n in names]
    return [{n: (v if f is None else f(v))
             for n, v, f in zip(names, row, fns, strict=True)} for row in cur]


class SQLiteRuns:
    """The run path's operations on *file* (see the module's docstring)."""

    #: what a conflicting insert raises (another process created the same record)
    CONFLICT: type[Exception] = sqlite3.IntegrityError

    def __init__(self, file: SQLiteFile) -> None:
        self.file = file

    def create_run(self, *, run_id: str, now: datetime, name: str, client: str,
                   definition: Mapping[str, Any], stored: RawJSON, source: str | None,
                   run_type: str, trigger: str, nodes: Iterable[Mapping[str, Any]],
                   owner: str | None, scheduled_at: datetime | None) -> None:
        """Record the run, its pipeline (created or updated) and a pending task run per
        node, in one transaction."""
        stamp = datetime_text(now)
        with self.file.transaction() as db:
            cur = db.cursor()
            row = cur.execute("SELECT id FROM clients WHERE name = ?", (client,)).fetchone()
            if row is None:
                client_id = str(uuid.uuid4())
                cur.execute("INSERT INTO clients (id, name, created_at) VALUES (?, ?, ?)",
                            (client_id, client, stamp))
            else:
                client_id = row[0]
            tags = writers("pipelines")["tags"](list(definition.get("tags", [])))
            num_tasks = len(definition.get("tasks", []))
            row = cur.execute("SELECT id FROM pipelines WHERE client_id = ? AND name = ?",
                              (client_id, name)).fetchone()
            if row is None:
                pipeline_id = str(uuid.uuid4())
                cur.execute(
                    "INSERT INTO pipelines (id, client_id, name, tags, created_at, updated_at, "
                    "definition, source, num_tasks, status, active) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', 1)",
                    (pipeline_id, client_id, name, tags, stamp, stamp, stored, source,
                     num_tasks))
            else:
                pipeline_id = row[0]
                cur.execute("UPDATE pipelines SET definition = ?, source = ?, tags = ?, "
                            "num_tasks = ?, updated_at = ? WHERE id = ?",
                            (stored, source, tags, num_tasks, stamp, pipeline_id))
            cur.execute(
                'INSERT INTO pipeline_runs (id, pipeline_id, run_type, "trigger", state, '
                "definition, created_at, cancel_requested, owner, scheduled_at) "
                "VALUES (?, ?, ?, ?, 'pending', ?, ?, 0, ?, ?)",
                (run_id, pipeline_id, run_type, trigger, stored, stamp, owner,
                 datetime_text(scheduled_at) if scheduled_at is not None else stamp))
            SQLiteWriter.insert_pending(cur, run_id, nodes, now)
            cur.close()

    def find_runs(self, prefix: str) -> list[dict[str, Any]]:
        """The runs whose id starts with *prefix*, with their pipeline's name and client."""
        with self.file.connection() as db:
            cur = db.execute(_RUN + "WHERE pipeline_runs.id >= ? AND pipeline_runs.id < ?",
                             (prefix, prefix + _TOP))
            return _dicts(cur, "pipeline_runs")

    def task_runs(self, run_id: str) -> list[dict[str, Any]]:
        """Every task run of *run_id*, in creation order."""
        with self.file.connection() as db:
            return _dicts(db.execute("SELECT * FROM task_runs WHERE run_id = ? ORDER BY id",
                                     (run_id,)), "task_runs")

    def cancel_requested(self, run_id: str) -> bool:
        """Whether someone asked to cancel *run_id*."""
        with self.file.connection() as db:
            row = db.execute("SELECT cancel_requested FROM pipeline_runs WHERE id = ?",
                             (run_id,)).fetchone()
        return bool(row and row[0])

    def set_cancel_requested(self, run_id: str) -> None:
        """Ask the process running *run_id* to cancel it."""
        with self.file.transaction() as db:
            db.execute("UPDATE pipeline_runs SET cancel_requested = 1 WHERE id = ?", (run_id,))

    def read_tables(self, tables: Mapping[str, Sequence[str] | None]
                    ) -> dict[str, list[dict[str, Any]]]:
        """Every row of each table of *tables* (only the columns given, ``None``: all), read
        in one transaction."""
        out = {}
        with self.file.transaction(write=False) as db:
            for table, columns in tables.items():
                if columns is not None:
                    check_columns(table, tuple(columns))
                cols = "*" if columns is None else ", ".join(f'"{c}"' for c in columns)
                out[table] = _dicts(db.execute(f"SELECT {cols} FROM {table}"), table)
        return out

    def insert(self, table: str, values: Mapping[str, Any]) -> int:
        """Add one row to *table*; its integer key (``rowid``)."""
        keys = tuple(values)
        check_columns(table, keys)
        convert = writers(table)
        row = [values[k] if convert[k] is None else convert[k](values[k]) for k in keys]
        columns = ", ".join(f'"{k}"' for k in keys)
        with self.file.transaction() as db:
            cur = db.execute(f"INSERT INTO {table} ({columns}) "
                             f"VALUES ({', '.join('?' * len(keys))})", row)
            return int(cur.lastrowid or 0)
