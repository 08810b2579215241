"""What ``orchestra orchestrations list`` shows (the seed's Destinations page): each
orchestration's destination, template, run mode, last run, status and rows delivered."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .._store.schema import clients, notifications, pipeline_runs, pipelines, task_runs

__all__ = ("added_notifications", "orchestrations")


def _run_mode(definition: dict[str, Any]) -> str:
    triggers = definition.get("triggers") or []
    kinds = [t.get("kind") or t.get("type") for t in triggers if isinstance(t, dict)]
    return ", ".join(k for k in kinds if k) or "manual"


def orchestrations(store: Any, client: str | None = None) -> list[dict[str, Any]]:
    """One row per orchestration task of every pipeline (of *client*) that ran one, its
    latest run."""
    query = (sa.select(task_runs.c.task_id, task_runs.c.state, task_runs.c.meta,
                       task_runs.c.ended_at, task_runs.c.error, pipeline_runs.c.id,
                       pipeline_runs.c.created_at, pipeline_runs.c.definition,
                       pipelines.c.name)
             .join(pipeline_runs, pipeline_runs.c.id == task_runs.c.run_id)
             .join(pipelines, pipelines.c.id == pipeline_runs.c.pipeline_id)
             .where(task_runs.c.integration == "orchestration")
             .order_by(pipeline_runs.c.created_at.desc()))
    if client is not None:
        query = (query.join(clients, clients.c.id == pipelines.c.client_id)
                 .where(clients.c.name == client))
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    with store.engine.connect() as conn:
        for r in conn.execute(query).mappings():
            key = (r["name"], r["task_id"])
            if key in seen:
                continue
            definition = r["definition"] or {}
            task = next((t for t in definition.get("tasks", [])
                         if t.get("id") == r["task_id"]), {})
            params = task.get("parameters") or {}
            dest = params.get("destination")
            template = params.get("template", params.get("data_template"))
            meta = r["meta"] or {}
            seen[key] = {
                "pipeline": r["name"], "orchestration": params.get("name") or r["task_id"],
                "destination": dest if isinstance(dest, str) else
                (dest or {}).get("type", "-") + " (inline)",
                "template": template if isinstance(template, str) else
                ("inline" if template else "default"),
                "run_mode": _run_mode(definition), "last_run": r["id"],
                "last_run_at": r["created_at"], "status": r["state"],
                "rows": meta.get("rows"), "location": meta.get("location"),
            }
    return list(seen.values())


def _orchestration_tasks(definition: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in (definition or {}).get("tasks", [])
            if isinstance(t, dict) and t.get("integration") == "orchestration"}


def added_notifications(conn: Any, pipeline: str, old: dict[str, Any] | None,
                        new: dict[str, Any], now: Any) -> int:
    """Store an ``orchestration.added`` notification (in *conn*'s transaction) for every
    orchestration task of *new* that *old* did not have; return how many."""
    before = _orchestration_tasks(old)
    added = [t for i, t in _orchestration_tasks(new).items() if i not in before]
    for t in added:
        params = t.get("parameters") or {}
        dest = params.get("destination")
        where = dest if isinstance(dest, str) else (dest or {}).get("type", "?")
        conn.execute(notifications.insert().values(
            created_at=now, kind="orchestration.added", pipeline=pipeline, run_id=None,
            message=f"orchestration {params.get('name') or t['id']!r} added to pipeline "
            f"{pipeline!r}: delivers to {where!r}",
            data={"task_id": t["id"], "destination": where}))
    return len(added)
