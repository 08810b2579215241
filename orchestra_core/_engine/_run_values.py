"""Values of the run itself in task parameters: ``${run.scheduled_at}`` (the time the run
stands for: its trigger's fire time, a backfill's fire time, or when it was created by hand,
in ISO 8601 UTC), ``${run.scheduled_date}`` (its UTC date) and ``${run.id}``.

``{run.scheduled_at}`` (without the ``$``) is read the same way; ``$${run.scheduled_at}``
stands for the literal text ``${run.scheduled_at}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ("run_values", "scheduled_text")

_RUN = re.compile(r"(\$?)(\$?)\{\s*run\.(scheduled_at|scheduled_date|id)\s*\}")


def scheduled_text(when: datetime) -> str:
    """*when* as the run's parameters and environment give it: ISO 8601 in UTC."""
    return when.astimezone(UTC).isoformat()


def run_values(parameters: Any, run_id: str, scheduled_at: datetime | None) -> Any:
    """*parameters* with every ``${run.NAME}`` replaced by the run's value."""
    values = {"id": run_id}
    if scheduled_at is not None:
        values["scheduled_at"] = scheduled_text(scheduled_at)
        values["scheduled_date"] = scheduled_at.astimezone(UTC).date().isoformat()

    def one(m: re.Match[str]) -> str:
        if m.group(1) and m.group(2):  # $${run.x}: the literal ${run.x}
            return m.group(0)[1:]
        return values.get(m.group(3), m.group(0))

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return _RUN.sub(one, value) if "run." in value else value
        if isinstance(value, Mapping):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value

    return walk(parameters)
