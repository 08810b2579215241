"""Pending runs: the rows a run starts with, inserted for a worker to execute."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .._store.schema import pipeline_runs, task_runs

__all__ = ("PendingRun", "insert_pending_runs", "run_nodes")


def run_nodes(definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The task-run rows (tasks and stages) a run of *definition* starts with."""
    nodes = [{"task_id": t["id"], "kind": "task", "integration": t.get("integration"),
              "job": t.get("integration_job")} for t in definition.get("tasks", [])]
    nodes += [{"task_id": s["id"], "kind": "stage", "integration": None, "job": None}
              for s in definition.get("stages", [])]
    return nodes


#: A pending run to insert: ``(pipeline_id, definition, run_type, trigger label, scheduled
#: time or None)``.
PendingRun = tuple[str, Mapping[str, Any], str, str, datetime | None]


def insert_pending_runs(conn: sa.Connection, runs: list[PendingRun],
                        now: datetime) -> list[str]:
    """Insert pending runs and their task runs in *conn*'s transaction; return their ids.
    A run without a scheduled time is scheduled at *now*."""
    ids, run_rows, task_rows = [], [], []
    cache: dict[int, list[dict[str, Any]]] = {}  # by definition object, alive in *runs*
    for pipeline_id, definition, run_type, label, scheduled_at in runs:
        run_id = str(uuid.uuid4())
        ids.append(run_id)
        run_rows.append(dict(id=run_id, pipeline_id=pipeline_id, run_type=run_type,
                             trigger=label[:64], state="pending", definition=definition,
                             created_at=now, cancel_requested=False, owner=None,
                             scheduled_at=scheduled_at or now))
        key = id(definition)
        if key not in cache:
            cache[key] = run_nodes(definition)
        task_rows += [dict(run_id=run_id, state="pending", attempt=0, updated_at=now, **n)
                      for n in cache[key]]
    if run_rows:
        conn.execute(pipeline_runs.insert(), run_rows)
    if task_rows:
        conn.execute(task_runs.insert(), task_rows)
    return ids
