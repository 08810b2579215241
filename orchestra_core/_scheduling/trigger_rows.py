"""Stored triggers: the trigger a row describes, when a trigger first fires, syncing a
pipeline's file triggers with its definition, and its schedule columns."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa

from .._pipeline import Pipeline
from .._serialize import trigger_from_definition
from .._store._completions import completion_mark
from .._store.schema import triggers
from .._triggers.model import (
    FrequencyType,
    IntervalTrigger,
    SingleTrigger,
    Trigger,
    assign_ids,
    trigger_to_raw,
)
from .._triggers.times import next_fire, parse_at, zone

__all__ = ("first_fire", "schedule_columns", "start_seq", "sync_file_triggers",
           "trigger_from_row")

_FREQUENCY_CODES = {FrequencyType.MINUTES: 1, FrequencyType.HOURS: 2, FrequencyType.DAYS: 3,
                    FrequencyType.WEEKS: 4}


def trigger_from_row(row: Mapping[str, Any]) -> Trigger:
    """The :class:`Trigger` a stored trigger row describes."""
    return _trigger_from_spec(json.dumps(row["spec"], sort_keys=True), row["name"])


@functools.lru_cache(maxsize=65536)
def _trigger_from_spec(spec: str, name: str) -> Trigger:
    return attrs.evolve(trigger_from_definition(json.loads(spec)), id=name)


def first_fire(trigger: Trigger, now: datetime) -> datetime | None:
    """When a newly registered (or re-activated) *trigger* is first due: its next scheduled
    time, *now* for condition triggers (checked at once), a single trigger's time even when
    it has passed (its misfire policy then decides)."""
    if getattr(trigger, "cron", None) is None and hasattr(trigger, "check_every"):
        return now
    if isinstance(trigger, SingleTrigger):  # already past: fired late or skipped (misfire)
        return parse_at(trigger.at, zone(trigger.timezone))
    return next_fire(trigger, now)


def start_seq(conn: sa.Connection, kind: str) -> int | None:
    """The ``cursor_seq`` of a trigger of *kind* created (or re-activated) now: an after
    trigger fires for completions committed from now on; a queue trigger counts every
    ``new`` element (``None``)."""
    return completion_mark(conn) if kind == "after" else None


def sync_file_triggers(conn: sa.Connection, pipeline_id: str, pipeline: Pipeline,
                       active: bool, now: datetime) -> tuple[tuple[str, ...], ...]:
    """Create, update and remove the stored file triggers of *pipeline* to match its
    definition (in *conn*'s transaction); return the ids ``(added, changed, removed)``.
    Triggers added by hand are left alone."""
    rows = {r["name"]: r for r in conn.execute(
        sa.select(triggers).where(triggers.c.pipeline_id == pipeline_id)).mappings()}
    added, changed = [], []
    wanted = assign_ids(pipeline.triggers)
    for trigger in wanted:
        spec = trigger_to_raw(trigger)
        spec.pop("id", None)
        row = rows.get(trigger.id or "")
        nxt = first_fire(trigger, now) if active else None
        if row is None:
            conn.execute(triggers.insert().values(
                id=str(uuid.uuid4()), pipeline_id=pipeline_id, name=trigger.id,
                kind=trigger.kind, spec=spec, origin="file", active=active,
                next_fire_at=nxt, cursor=now, created_at=now, updated_at=now,
                cursor_seq=start_seq(conn, trigger.kind)))
            added.append(trigger.id)
        elif row["spec"] != spec or row["origin"] != "file":
            restart = ({"cursor": now, "cursor_seq": start_seq(conn, trigger.kind)}
                       if row["kind"] != trigger.kind else {})  # the cursor counted else
            conn.execute(triggers.update().where(triggers.c.id == row["id"]).values(
                kind=trigger.kind, spec=spec, origin="file", next_fire_at=nxt,
                updated_at=now, **restart))
            changed.append(trigger.id)
    names = {t.id for t in wanted}
    removed = [n for n, r in rows.items() if r["origin"] == "file" and n not in names]
    if removed:
        conn.execute(triggers.delete().where(triggers.c.pipeline_id == pipeline_id,
                                             triggers.c.name.in_(removed)))
    return tuple(added), tuple(changed), tuple(removed)


def schedule_columns(pipeline: Pipeline) -> dict[str, Any]:
    """The seed-003 schedule columns of the pipeline record, from its interval trigger, and
    its active-run limit."""
    interval = next((t for t in pipeline.triggers if isinstance(t, IntervalTrigger)), None)
    timed = any(t.kind in ("cron", "interval", "single") for t in pipeline.triggers)
    if interval is None:
        return {"schedule_type": 1 if timed else 0, "frequency": None, "frequency_type": None,
                "start_time": None, "max_active_runs": pipeline.active_limit}
    return {"max_active_runs": pipeline.active_limit,
            "schedule_type": 1, "frequency": interval.frequency,
            "frequency_type": _FREQUENCY_CODES[interval.frequency_type],
            "start_time": interval.start_time[:32]}
