"""The conditions of queue, after and changes triggers, read in the scheduler's transaction.

- **queue**: elements are counted by the number the store gives them when their push
  commits (``queue_elements.seq``, in commit order), never by time stamps: elements pushed
  in a long transaction, or from a machine whose clock is behind, are counted when they
  become visible. The trigger keeps the last number it counted (``triggers.cursor_seq``).
- **after**: one run per upstream completion, in commit order (two completions while no
  scheduler ran give two runs); completions are found by the number the store gives them
  when they commit (``end_seq``, see ``_store/_completions.py``), never by end times, and
  the trigger keeps the last number it saw (``triggers.cursor_seq``). Each run's scheduled
  time is the completion's end time.
- **changes**: asset updates since the pipeline last ran.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .._store import utc
from .._store.schema import (
    asset_events,
    clients,
    pipeline_runs,
    pipelines,
    queue_elements,
    task_runs,
)
from .._triggers.model import AfterTrigger, ChangesTrigger, QueueTrigger

__all__ = ("after_completions", "changes_since", "queue_count")

#: Most runs one after trigger creates in one pass (the rest come in the next passes).
MAX_AFTER_RUNS = 100


def _like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def queue_count(conn: sa.Connection, trigger: QueueTrigger, row: dict[str, Any]
                ) -> tuple[bool, str, int | None]:
    """``(fire?, result, new cursor)`` of a queue trigger: fire when at least
    ``min_elements`` new elements committed after the last one it counted."""
    if row["last_run_id"]:
        state = conn.execute(sa.select(pipeline_runs.c.state).where(
            pipeline_runs.c.id == row["last_run_id"])).scalar()
        if state in ("pending", "running"):
            return False, f"waiting for its run {row['last_run_id']} to finish", None
    q = queue_elements.c
    query = sa.select(sa.func.count(), sa.func.max(q.seq)).where(
        q.queue == trigger.queue, q.status == "new", q.seq.is_not(None))
    if row.get("cursor_seq") is not None:
        query = query.where(q.seq > row["cursor_seq"])
    count, last = conn.execute(query).first() or (0, None)
    count = int(count or 0)
    if count >= trigger.min_elements:
        return True, f"fired: {count} new element(s) in queue {trigger.queue!r}", last
    return False, (f"{count} new element(s) in queue {trigger.queue!r}, waiting for "
                   f"{trigger.min_elements}"), None


def after_completions(conn: sa.Connection, trigger: AfterTrigger, row: dict[str, Any]
                      ) -> tuple[list[datetime], str, int | None]:
    """The end times of the upstream completions numbered after the trigger's cursor, in
    commit order (one run each), the result text and the new cursor (the last number)."""
    client = trigger.client or row["client"]
    upstream = conn.execute(sa.select(pipelines.c.id).join(
        clients, clients.c.id == pipelines.c.client_id).where(
        pipelines.c.name == trigger.pipeline, clients.c.name == client)).scalar()
    if upstream is None:
        return [], f"pipeline {trigger.pipeline!r} has not run yet", None
    r = pipeline_runs.c
    if trigger.stage:
        ended, seq = task_runs.c.ended_at, task_runs.c.end_seq
        query = (sa.select(ended, seq)
                 .select_from(task_runs.join(pipeline_runs, r.id == task_runs.c.run_id))
                 .where(r.pipeline_id == upstream, task_runs.c.kind == "stage",
                        task_runs.c.task_id == trigger.stage,
                        task_runs.c.outcome.in_(trigger.outcome)))
        what = f"stage {trigger.stage!r} of {trigger.pipeline!r}"
    else:
        ended, seq = r.ended_at, r.end_seq
        query = sa.select(ended, seq).where(r.pipeline_id == upstream,
                                            r.state.in_(trigger.outcome))
        what = f"pipeline {trigger.pipeline!r}"
    query = query.where(ended.is_not(None), seq.is_not(None))
    if row.get("cursor_seq") is not None:
        query = query.where(seq > row["cursor_seq"])
    elif row["cursor"] is not None:  # a trigger from before the numbering: its time cursor
        query = query.where(ended > utc(row["cursor"]))
    found = conn.execute(query.order_by(seq).limit(MAX_AFTER_RUNS)).all()
    if not found:
        return [], f"waiting for {what} to end {'/'.join(trigger.outcome)}", None
    times = [utc(t) for t, _ in found]
    return times, (f"fired: {what} ended {'/'.join(trigger.outcome)}"
                   + (f" ({len(times)} times)" if len(times) > 1 else "")), found[-1][1]


def changes_since(conn: sa.Connection, trigger: ChangesTrigger, row: dict[str, Any],
                  due: datetime | None, now: datetime) -> tuple[bool, str]:
    """``(fire?, result)`` of a changes trigger: asset updates since the pipeline last ran
    (within ``offset`` before *due* for a scheduled check)."""
    e = asset_events.c
    last_run = conn.execute(sa.select(sa.func.max(pipeline_runs.c.created_at)).where(
        pipeline_runs.c.pipeline_id == row["pipeline_id"])).scalar()
    query = sa.select(sa.func.count()).select_from(asset_events).where(
        sa.or_(e.pipeline.is_(None), e.pipeline != row["pipeline"]), e.time <= now)
    if trigger.assets:
        query = query.where(sa.or_(*(e.asset.like(_like(p), escape="\\")
                                     for p in trigger.assets)))
    if trigger.pipeline:
        query = query.where(e.pipeline == trigger.pipeline)
    if last_run is not None:
        query = query.where(e.time > utc(last_run))
    if trigger.offset is not None and due is not None:
        query = query.where(e.time >= due - timedelta(seconds=trigger.offset))
    count = conn.execute(query).scalar() or 0
    if count:
        return True, f"fired: {count} asset update(s) since the pipeline last ran"
    return False, "no asset updates since the pipeline last ran"
