"""Hightouch sync-run statuses, what they mean to Orchestra, and a run's statistics."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

__all__ = ("RunPhase", "classify", "run_stats")


class RunPhase(enum.Enum):
    """What a ``SyncRun.status`` value means for the task waiting on the run."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    WARNING = "warning"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: Every status value the plugin understands (``SyncRunStatus`` of the v1 API, plus
#: ``pending`` and ``aborted`` that the vendor's own Airflow provider knows). Any other value
#: is an error: guessing could report a failed sync as finished.
STATUSES: Mapping[str, RunPhase] = {
    "queued": RunPhase.QUEUED,
    "pending": RunPhase.QUEUED,
    "querying": RunPhase.RUNNING,
    "processing": RunPhase.RUNNING,
    "reporting": RunPhase.RUNNING,
    "success": RunPhase.SUCCEEDED,
    "warning": RunPhase.WARNING,
    "failed": RunPhase.FAILED,
    "interrupted": RunPhase.FAILED,
    "aborted": RunPhase.FAILED,
    "cancelled": RunPhase.CANCELLED,
}


def classify(status: Any) -> RunPhase | None:
    """The :class:`RunPhase` of *status*, or ``None`` for a value the plugin does not know."""
    if not isinstance(status, str):
        return None
    return STATUSES.get(status.strip().lower())


def _count(rows: Any, key: str) -> int | None:
    if isinstance(rows, Mapping) and isinstance(rows.get(key), int | float):
        return int(rows[key])
    return None


def _rows(value: Any) -> dict[str, int] | None:
    """``{added, changed, removed, total}`` of a ``plannedRows``-like object, or ``None``."""
    if not isinstance(value, Mapping):
        return None
    counts = {
        name: _count(value, f"{name}Count") for name in ("added", "changed", "removed")
    }
    known = {name: count for name, count in counts.items() if count is not None}
    if not known:
        return None
    return {**known, "total": sum(known.values())}


def run_stats(run: Mapping[str, Any]) -> dict[str, Any]:
    """The statistics of a ``SyncRun`` payload worth keeping with the task run.

    Parsed defensively: a queued run has no row counts yet, and fields the vendor adds or
    drops do not break it (the vendor's Airflow provider once failed on such a change).
    """
    stats: dict[str, Any] = {}
    for source, target in (
        ("plannedRows", "planned_rows"),
        ("successfulRows", "successful_rows"),
        ("failedRows", "failed_rows"),
    ):
        rows = _rows(run.get(source))
        if rows is not None:
            stats[target] = rows
    for source, target in (
        ("querySize", "query_size"),
        ("completionRatio", "completion_ratio"),
    ):
        value = run.get(source)
        if isinstance(value, int | float) and not isinstance(value, bool):
            stats[target] = value
    for source, target in (
        ("createdAt", "created_at"),
        ("startedAt", "started_at"),
        ("finishedAt", "finished_at"),
    ):
        value = run.get(source)
        if isinstance(value, str) and value:
            stats[target] = value
    error = run.get("error")
    if isinstance(error, str) and error.strip():
        stats["error"] = error.strip()
    return stats
