"""The end of a run: its final state written with every node it never reached, and the
pipeline's alerts (run succeeded or failed, runtime exceeded)."""

from __future__ import annotations

import traceback
from datetime import timedelta
from typing import TYPE_CHECKING

import anyio

from .._alerts import RUN_FAILED, RUN_RUNTIME_EXCEEDED, RUN_SUCCEEDED, run_message
from .._committer import in_thread
from .._errors import OrchestraError
from .._store import LogLine, RunUpdate, TaskUpdate
from ._result import RunResult
from ._states import TaskState

if TYPE_CHECKING:
    from ._execution import Execution

__all__ = ("INTERNAL_ERROR", "RunAlerts", "finish", "internal_error", "run_broke")

#: ``meta.error_class`` of a task that failed with an unexpected exception (a bug)
INTERNAL_ERROR = "internal_error"


async def internal_error(exe: Execution, task_id: str, exc: BaseException) -> None:
    """Record *task_id* failed by the unexpected *exc*: the traceback goes to the run log,
    the task is ``failed`` with ``meta.error_class = "internal_error"``, and the run will end
    ``failed`` (see :func:`finish`)."""
    summary = f"internal error: {type(exc).__name__}: {exc}"
    trace = "".join(traceback.format_exception(exc)).rstrip()
    exe.log(f"{summary} (a bug in Orchestra or a plugin; please report it)\n{trace}",
            level="error", task_id=task_id)
    if exe.internal_error is None:
        exe.internal_error = f"task {task_id!r} failed with an {summary}"
    row = exe.rows.get(task_id)
    attempt = (row.get("attempt") or 0) if row else 0
    await exe.transition(task_id, TaskState.FAILED, max(attempt, 1), ended_at=exe.clock.now(),
                         error=summary, meta={"error_class": INTERNAL_ERROR},
                         message=summary)


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


async def run_broke(exe: Execution, exc: BaseException) -> OrchestraError:
    """Record the run failed by the unexpected *exc* that stopped it (straight to the store,
    with the traceback in the run log); the error to raise in its place."""
    leaf = _leaf(exc)
    summary = f"internal error: {type(leaf).__name__}: {leaf}"
    trace = "".join(traceback.format_exception(exc)).rstrip()
    now = exe.clock.now()
    writes = [LogLine(now, "error", exe.pipeline.name, exe.run_id, None,
                      f"run failed with an {summary} (a bug in Orchestra or a plugin; please "
                      f"report it)\n{trace}"),
              RunUpdate(exe.run_id, {"state": "failed", "ended_at": now, "error": summary,
                                     "owner": None})]
    try:
        await in_thread(exe.clock, exe.engine.store.apply, writes)
    except Exception as again:  # the store itself fails: say so, the run stays resumable
        return OrchestraError(f"run {exe.run_id} stopped with an {summary}, and could not be "
                              f"recorded: {type(again).__name__}: {again}")
    return OrchestraError(f"run {exe.run_id} failed with an {summary} (the traceback is in "
                          f"the run log: orchestra logs --run {exe.run_id})")


async def finish(exe: Execution) -> RunResult:
    """Decide the run's final state, write it with the nodes never reached (cancelled), and
    send the pipeline's success or failure alert."""
    walk, now = exe.walk, exe.clock.now()
    state, error = walk.run_result(cancelled=exe.cancelled, stop_reason=exe.stop_reason)
    if exe.internal_error is not None and state != "cancelled":
        state, error = "failed", exe.internal_error
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
