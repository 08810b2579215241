"""The end of a run: its final state written with every node it never reached, and the
pipeline's alerts (run succeeded or failed, runtime exceeded)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import anyio

from .._alerts import RUN_FAILED, RUN_RUNTIME_EXCEEDED, RUN_SUCCEEDED, run_message
from .._store import RunUpdate, TaskUpdate
from ._result import RunResult
from ._states import TaskState

if TYPE_CHECKING:
    from ._execution import Execution

__all__ = ("RunAlerts", "finish")


async def finish(exe: Execution) -> RunResult:
    """Decide the run's final state, write it with the nodes never reached (cancelled), and
    send the pipeline's success or failure alert."""
    walk, now = exe.walk, exe.clock.now()
    state, error = walk.run_result(cancelled=exe.cancelled, stop_reason=exe.stop_reason)
    never_reached = walk.pending()
    writes = [TaskUpdate(exe.run_id, node, {"state": TaskState.CANCELLED.value,
                                             "updated_at": now,
                                             "error": exe.stop_reason or "cancelled"})
              for node in never_reached]
    for node in never_reached:
        walk.state[node] = TaskState.CANCELLED
    exe.log(f"run {state}" + (f": {error}" if error else ""),
            level="error" if state != "succeeded" else "info")
    await exe.committer.write(*writes, RunUpdate(exe.run_id, {
        "state": state, "ended_at": exe.clock.now(), "error": error}))
    if state in ("succeeded", "failed"):
        await exe.alerts.fire(RUN_SUCCEEDED if state == "succeeded" else RUN_FAILED, state,
                              error)
    return RunResult(run_id=exe.run_id, state=state, error=error, store=exe.engine.store)


class RunAlerts:
    """Sends one run's alerts through the engine's alerter; a failure to send is logged,
    never fails the run."""

    def __init__(self, exe: Execution) -> None:
        self.exe = exe

    async def watch_runtime(self, scope: anyio.CancelScope) -> None:
        """Raise the runtime alert once the run has been running for the configured hours."""
        exe = self.exe
        hours = exe.pipeline.alerts.runtime_exceeded_hours
        if not hours or exe.started_at is None:
            return
        with scope:
            clock = exe.clock
            wait = (exe.started_at + timedelta(hours=hours) - clock.now()).total_seconds()
            if wait > 0:
                await clock.sleep(wait)
            await self.fire(RUN_RUNTIME_EXCEEDED, "running", None)

    async def fire(self, kind: str, state: str, error: str | None) -> None:
        """Send the pipeline's alert *kind*, if it has one."""
        exe = self.exe
        alerts = exe.pipeline.alerts
        if not alerts.channels_for(kind):
            return
        now = exe.clock.now()
        started = exe.started_at
        data = {"client": exe.pipeline.client, "run_type": exe.run_type.value,
                "state": state, "error": error,
                "started_at": started.isoformat() if started else None,
                "runtime_seconds": (now - started).total_seconds() if started else None,
                "failed_tasks": exe.walk.failed_tasks()}
        try:
            await exe.engine.alerter.fire(
                alerts, kind, pipeline=exe.pipeline.name, run_id=exe.run_id,
                message=run_message(kind, exe.pipeline.name, exe.run_id, error=error,
                                    hours=alerts.runtime_exceeded_hours),
                data=data, log=exe.log)
        except Exception as exc:  # alerts never fail a run
            exe.log(f"alert {kind} could not be sent: {type(exc).__name__}: {exc}",
                    level="error")
