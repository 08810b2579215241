"""Backfill: one run of a registered pipeline per fire time of its scheduled triggers in a
past window, each carrying its scheduled time, at most ``concurrency`` at once.

``orchestra pipelines backfill NAME --from 2026-03-01 --to 2026-03-08`` drives it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import anyio

from .._errors import OrchestraError
from .._triggers.model import ChangesTrigger, CronTrigger, IntervalTrigger, SingleTrigger
from .._triggers.times import next_fire
from .registry import PipelineRegistry, TriggerNotFound
from .trigger_rows import trigger_from_row

__all__ = ("MAX_BACKFILL", "backfill", "backfill_times")

#: Most runs one backfill creates.
MAX_BACKFILL = 10_000


def backfill_times(registry: PipelineRegistry, name: str, client: str, start: datetime,
                   end: datetime, *, trigger: str | None = None) -> list[tuple[datetime, str]]:
    """``(fire time, trigger id)`` of every fire of pipeline *name*'s scheduled triggers (or
    of its trigger *trigger*) from *start* to *end* inclusive, oldest first; triggers firing
    at the same moment give one time."""
    if end < start:
        raise OrchestraError(f"--to ({end:%Y-%m-%d %H:%M}) is before --from "
                             f"({start:%Y-%m-%d %H:%M})")
    rows = registry.list_triggers(pipeline=name, client=client)
    if not rows:
        registry.get(name, client)  # raises for an unknown pipeline
    found = [trigger_from_row(r) for r in rows if trigger is None or r["name"] == trigger]
    if trigger is not None and not found:
        raise TriggerNotFound(f"pipeline {name!r} has no trigger {trigger!r}; its triggers: "
                              + (", ".join(r["name"] for r in rows) or "none"))
    timed = [t for t in found if isinstance(t, CronTrigger | IntervalTrigger | SingleTrigger)
             or (isinstance(t, ChangesTrigger) and t.cron)]
    if not timed:
        raise OrchestraError(f"pipeline {name!r} has no scheduled trigger (cron, interval, "
                             "single) to backfill")
    times: dict[datetime, str] = {}
    for trig in timed:
        after = start - timedelta(microseconds=1)
        while True:
            at = next_fire(trig, after)
            if at is None or at > end:
                break
            times.setdefault(at, trig.id or trig.kind)
            if len(times) > MAX_BACKFILL:
                raise OrchestraError(f"more than {MAX_BACKFILL:,} fire times from {start} to "
                                     f"{end}: backfill a shorter window")
            after = at
    return sorted(times.items())


async def backfill(engine: Any, registry: PipelineRegistry, name: str, start: datetime,
                   end: datetime, *, client: str = "default", trigger: str | None = None,
                   concurrency: int = 1, run_type: str = "full",
                   on_created: Callable[[str, datetime], None] | None = None) -> list[Any]:
    """Run pipeline *name* once per fire time from *start* to *end* (see
    :func:`backfill_times`) on *engine*, at most *concurrency* runs at once, oldest first;
    each run's scheduled time is its fire time. Returns the :class:`RunResult` objects in
    the order of the times."""
    if concurrency < 1:
        raise OrchestraError(f"concurrency must be at least 1, got {concurrency}")
    times = backfill_times(registry, name, client, start, end, trigger=trigger)
    pipeline = registry.pipeline(name, client)
    results: dict[int, Any] = {}
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(i: int, when: datetime, trigger_id: str) -> None:
        async with limiter:
            results[i] = await engine.run(
                pipeline, run_type=run_type, trigger=f"backfill:{trigger_id}"[:64],
                scheduled_at=when,
                on_created=(lambda run_id: on_created(run_id, when)) if on_created else None)

    async with anyio.create_task_group() as tg:
        for i, (when, trigger_id) in enumerate(times):
            tg.start_soon(one, i, when, trigger_id)
            await anyio.sleep(0)  # start in order: the oldest time takes the first slot
    return [results[i] for i in sorted(results)]
