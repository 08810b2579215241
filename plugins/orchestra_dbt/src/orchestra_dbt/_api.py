"""Facts about the dbt Cloud Administrative API shared by the runner, the webhook handler and
the simulator: run status codes, their meaning, the timestamp format, the default host."""

from __future__ import annotations

from typing import Any

from orchestra_core import JobState, parse_timestamp

__all__ = (
    "CANCELLED",
    "DEFAULT_BASE_URL",
    "ERROR",
    "IN_PROGRESS",
    "QUEUED",
    "RUNNING",
    "STARTING",
    "SUCCESS",
    "TERMINAL",
    "humanized",
    "parse_time",
)

#: The US multi-tenant access URL; cell-based, regional and single-tenant accounts have their
#: own (``https://ab123.us1.dbt.com``, ``https://emea.dbt.com``, ...).
DEFAULT_BASE_URL = "https://cloud.getdbt.com"

QUEUED, STARTING, RUNNING = 1, 2, 3
SUCCESS, ERROR, CANCELLED = 10, 20, 30

#: Statuses of a run still in progress.
IN_PROGRESS = frozenset({QUEUED, STARTING, RUNNING})
#: Terminal statuses and the outcome each means.
TERMINAL = {SUCCESS: JobState.SUCCEEDED, ERROR: JobState.FAILED, CANCELLED: JobState.CANCELLED}

_HUMANIZED = {QUEUED: "Queued", STARTING: "Starting", RUNNING: "Running", SUCCESS: "Success",
              ERROR: "Error", CANCELLED: "Cancelled"}


def humanized(status: Any) -> str:
    """dbt Cloud's ``status_humanized`` for *status* (``Unknown`` for other values)."""
    return _HUMANIZED.get(status, "Unknown") if isinstance(status, int) else "Unknown"


#: A dbt Cloud timestamp (``2026-01-31 19:28:07.123456+00:00``, or ISO-8601 with ``T`` and
#: ``Z`` as webhooks write it, nanoseconds included) as an aware datetime; ``None`` when
#: absent or unreadable.
parse_time = parse_timestamp
