"""Overlapping runs of one pipeline: ``max_active_runs`` and ``on_overlap``.

The scheduler calls :func:`admit` before it creates runs from a trigger's fires:

- ``allow``: every fire creates a run;
- ``skip``: a fire creates a run only while fewer than ``max_active_runs`` runs are active
  (pending or running);
- ``queue``: every fire creates a run, and the worker starts it only when fewer than
  ``max_active_runs`` runs of the pipeline execute (:func:`room_to_start`);
- ``cancel_previous``: the active runs are cancelled (pending ones at once, running ones
  through a cancel request) and the newest fire creates a run, started when they ended.

The limit is also kept on the pipeline's row (``pipelines.max_active_runs``) so that the
worker reads it without the definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .._pipeline import Overlap
from .._store._completions import number_completions
from .._store.schema import pipeline_runs, pipelines, task_runs

__all__ = ("admit", "overlap_of", "room_to_start")

_ACTIVE = ("pending", "running")


def overlap_of(definition: Mapping[str, Any]) -> tuple[Overlap, int | None]:
    """The overlap rule and the active-run limit of a stored pipeline definition."""
    limit = definition.get("max_active_runs")
    raw = definition.get("on_overlap")
    overlap = Overlap(raw) if raw else (Overlap.QUEUE if limit else Overlap.ALLOW)
    if overlap is Overlap.ALLOW:
        return overlap, None
    return overlap, int(limit or 1)


def admit(conn: sa.Connection, pipeline_id: str, definition: Mapping[str, Any],
          times: list[datetime], created: int, now: datetime) -> tuple[list[datetime], str]:
    """The fire times (of *times*, oldest first) that create runs, and a note for the
    trigger's result ('' when nothing was held back). *created* counts the runs of this
    pipeline already created in this pass."""
    overlap, limit = overlap_of(definition)
    if limit is None or not times or overlap is Overlap.QUEUE:
        return times, ""
    r = pipeline_runs.c
    active = conn.execute(sa.select(r.id, r.owner, r.started_at).where(
        r.pipeline_id == pipeline_id, r.state.in_(_ACTIVE))).all()
    if overlap is Overlap.SKIP:
        room = max(0, limit - len(active) - created)
        kept = times[len(times) - room:] if room else []
        if len(kept) == len(times):
            return kept, ""
        return kept, (f"; skipped {len(times) - len(kept)} fire(s): {len(active) + created} "
                      f"active run(s), max_active_runs {limit} (on_overlap: skip)")
    # cancel_previous
    waiting = [a.id for a in active if a.owner is None and a.started_at is None]
    running = [a.id for a in active if a.id not in waiting]
    if waiting:
        conn.execute(pipeline_runs.update().where(r.id.in_(waiting)).values(
            state="cancelled", ended_at=now, cancel_requested=True,
            error="cancelled before it started: a newer run replaced it "
                  "(on_overlap: cancel_previous)"))
        number_completions(conn, waiting, ())  # a cancelled run is a completion too
        conn.execute(task_runs.update().where(task_runs.c.run_id.in_(waiting),
                                              task_runs.c.state == "pending")
                     .values(state="cancelled", updated_at=now))
    if running:
        conn.execute(pipeline_runs.update().where(r.id.in_(running)).values(
            cancel_requested=True))
    note = (f"; cancelled {len(active)} earlier run(s) (on_overlap: cancel_previous)"
            if active else "")
    return times[-1:], note


def room_to_start(conn: sa.Connection, pipeline_id: str, run_id: str) -> bool:
    """Whether pending run *run_id* may start: its pipeline has no active-run limit, or fewer
    runs than the limit execute, counting *run_id* in order of creation."""
    limit = conn.execute(sa.select(pipelines.c.max_active_runs).where(
        pipelines.c.id == pipeline_id)).scalar()
    if not limit:
        return True
    r = pipeline_runs.c
    owned = conn.execute(
        sa.select(r.id).where(r.pipeline_id == pipeline_id, r.state.in_(_ACTIVE),
                              sa.or_(r.owner.is_not(None), r.id == run_id))
        .order_by(r.created_at, r.id).limit(int(limit))).scalars().all()
    return run_id in owned
