"""Workflow rules of a task beside its attempts: duration thresholds, named resources.

Duration thresholds per task (seed 001: "notify when a courier takes too long").

A task with ``alert_after: 45m`` raises the ``task.runtime_exceeded`` alert (to
``alerts.on_task_runtime_exceeded``, default ``stored``) once it has been running that long,
counted from its first start in this run (retries included; after a resume, from the start
stored with the task). The task is not stopped. Each alert fires once per run and task.

The watcher reads the walk's states and sleeps on the engine's clock, so a ``FakeClock`` test
runs it without real time passing; it never touches the engine's hot path.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import anyio

from .._alerts import TASK_RUNTIME_EXCEEDED
from .._committer import in_thread
from .._store import utc
from ._states import TERMINAL, TaskState

if TYPE_CHECKING:
    from .._pipeline import Task
    from .._resources import ResourceLease
    from ._execution import Execution

__all__ = ("resource_lease", "watch_task_runtimes")

#: Longest pause between looks at a task that has not started yet (seconds).
START_POLL = 1.0
_STARTED = frozenset({TaskState.RUNNING, TaskState.UP_FOR_RETRY})


async def watch_task_runtimes(exe: Execution, scope: anyio.CancelScope) -> None:
    """Watch every task of the run that has ``alert_after`` until the run ends."""
    tasks = [t for t in exe.pipeline.tasks if t.alert_after]
    if not tasks:
        return
    with scope:
        async with anyio.create_task_group() as tg:
            for task in tasks:
                tg.start_soon(_watch, exe, task)


def _stored_start(exe: Execution, task: Task) -> datetime | None:
    row = exe.rows.get(task.id) or {}
    started = row.get("started_at")
    return utc(started) if started else None


async def _start_of(exe: Execution, task: Task) -> datetime | None:
    rows = await in_thread(exe.clock, exe.engine.store.task_runs, exe.run_id)
    started = next((r["started_at"] for r in rows if r["task_id"] == task.id), None)
    return utc(started) if started else None


async def _watch(exe: Execution, task: Task) -> None:
    clock, state = exe.clock, exe.walk.state
    limit = float(task.alert_after or 0)
    poll = min(START_POLL, limit / 60)
    started = _stored_start(exe, task)
    while started is None:
        current = state.get(task.id)
        if current in TERMINAL:
            return
        if current in _STARTED:  # committed before the walk knew: read when it began
            started = await _start_of(exe, task) or clock.now()
            break
        await clock.sleep(poll)
    wait = (started + timedelta(seconds=limit) - clock.now()).total_seconds()
    if wait > 0:
        await clock.sleep(wait)
    if state.get(task.id) in TERMINAL:
        return
    message = (f"pipeline {exe.pipeline.name!r}: task {task.id!r} of run {exe.run_id} has "
               f"been running for more than {_duration(limit)} (it goes on running)")
    data = {"task_id": task.id, "integration": task.integration,
            "integration_job": task.integration_job, "threshold_seconds": limit,
            "started_at": started.isoformat(),
            "runtime_seconds": (clock.now() - started).total_seconds(),
            "state": str(state.get(task.id, TaskState.PENDING))}
    try:
        await exe.engine.alerter.fire(exe.pipeline.alerts, TASK_RUNTIME_EXCEEDED,
                                      pipeline=exe.pipeline.name, run_id=exe.run_id,
                                      message=message, data=data, log=exe.log,
                                      subject=task.id)
    except Exception as exc:  # alerts never fail a run
        exe.log(f"alert {TASK_RUNTIME_EXCEEDED} could not be sent: {type(exc).__name__}: "
                f"{exc}", level="error", task_id=task.id)


def _duration(seconds: float) -> str:
    """*seconds* as a person reads it: ``45 minutes``, ``2 hours``, ``90 seconds``."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


def resource_lease(exe: Execution, task: Task) -> ResourceLease:
    """The lease of *task*'s named resource for one attempt (held like a capacity limiter)."""
    from .._resources import ResourceLease  # only for tasks that name a resource

    assert exe._tg is not None and task.resource is not None
    return ResourceLease(exe.engine.store, exe.clock, task.resource, spawn=exe._tg.start_soon,
                         log=lambda text, level="info": exe.log(text, level=level,
                                                                task_id=task.id),
                         owner=exe.engine.owner, run_id=exe.run_id, task_id=task.id)
