"""Client isolation: every lookup the routes make is limited to the caller's client, so
another client's pipeline or run is answered as not found."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..._store import utc
from ..._store.schema import clients, pipeline_runs, pipelines
from ..problems import ApiError

__all__ = ("aware", "find_run", "iso", "run_summary", "runs_query")


def iso(value: Any) -> str | None:
    """A stored timestamp as ISO 8601 UTC (``None`` stays ``None``)."""
    return utc(value).isoformat() if value is not None else None


def aware(record: dict[str, Any]) -> dict[str, Any]:
    """*record* (a library ``to_dict()``) with its ``*_at`` times in ISO 8601 UTC (SQLite
    hands back times without a zone)."""
    from datetime import datetime

    for key, value in record.items():
        if key.endswith("_at") and isinstance(value, str):
            record[key] = iso(datetime.fromisoformat(value))
    return record


def runs_query() -> Any:
    """Runs joined with their pipeline's name and client."""
    r = pipeline_runs.c
    return (sa.select(r.id, r.state, r.run_type, r.trigger, r.created_at, r.started_at,
                      r.ended_at, r.error, pipelines.c.name.label("pipeline"),
                      clients.c.name.label("client"))
            .join(pipelines, pipelines.c.id == r.pipeline_id)
            .join(clients, clients.c.id == pipelines.c.client_id))


def run_summary(row: Any) -> dict[str, Any]:
    """The ``RunSummary`` of a row of :func:`runs_query`."""
    return {"id": row["id"], "pipeline": row["pipeline"], "client": row["client"],
            "state": row["state"], "run_type": row["run_type"], "trigger": row["trigger"],
            "trigger_kind": row["trigger"].partition(":")[0], "created_at": iso(row["created_at"]),
            "started_at": iso(row["started_at"]), "ended_at": iso(row["ended_at"]),
            "error": row["error"]}


def find_run(store: Any, client: str, run_id: str) -> dict[str, Any]:
    """The run *run_id* (an id or a unique prefix of at least 8 characters) of *client*."""
    query = runs_query().where(clients.c.name == client)
    if len(run_id) >= 36:
        query = query.where(pipeline_runs.c.id == run_id)
    elif len(run_id) >= 8:
        query = query.where(pipeline_runs.c.id.startswith(run_id, autoescape=True))
    else:
        raise ApiError(404, f"no run {run_id!r} (give its id, or at least 8 characters of it)")
    with store.engine.connect() as conn:
        rows = conn.execute(query.limit(2)).mappings().all()
    if not rows:
        raise ApiError(404, f"no run {run_id!r}")
    if len(rows) > 1:
        raise ApiError(409, f"run id prefix {run_id!r} is ambiguous")
    return dict(rows[0])
