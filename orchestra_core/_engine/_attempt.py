"""The attempt lifecycle of one task, as one explicit state machine.

::

    DUE ──> NEXT ──> QUEUE ──> EXECUTE ──> SETTLE ──> DONE
             ^                               │
             └──────── (retry after backoff) ┘

- ``DUE``: a retry recorded before an interruption; wait out the rest of its delay.
- ``NEXT``: number the attempt (an attempt interrupted while queued or running keeps its
  number and idempotency key) and build its context.
- ``QUEUE``: take a slot of the process and of the integration (``queued`` while waiting).
- ``EXECUTE``: record ``running``; re-attach to the stored external run, else ``recover``
  the one an interrupted trigger may have created, else ``start``; store the external run;
  ``wait`` for it, within the task's timeout. Cancelled: cancel the external job and record
  ``cancelled``; timed out: cancel it and go on with a ``timed_out`` outcome.
- ``SETTLE``: a retryable failure with retries left is recorded ``up_for_retry`` (with the
  time of the next attempt, so a resumed run waits out the rest) and waited for; anything
  else is the task's final state.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
from attrs import frozen

from .._errors import OrchestraError, TaskFailed
from .._models import ExternalRun, Intent, JobResult, JobState
from .._retry import TaskRetry
from .._store import AssetEvent, utc
from ._context import RunnerContext
from ._interrupted import record_interrupted, survives_detach
from ._states import BAD, Outcome, TaskState

if TYPE_CHECKING:
    from .._pipeline import Task
    from ._execution import Execution

__all__ = ("STEPS", "Attempts", "Resumed", "Step", "external_from", "external_to")


class Step(enum.Enum):
    """The states of the attempt lifecycle (see the module docstring)."""

    DUE = "due"
    NEXT = "next"
    QUEUE = "queue"
    EXECUTE = "execute"
    SETTLE = "settle"
    DONE = "done"


@frozen
class Resumed:
    """Where an interrupted run left a task (read from its stored row)."""

    state: TaskState
    attempt: int
    external: ExternalRun | None = None
    started_at: datetime | None = None
    next_attempt_at: datetime | None = None
    #: what the interrupted attempt's runner recorded before its trigger
    intent: Intent | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any] | None) -> Resumed | None:
        """The resume point recorded in *row* (``None`` for a task never reached)."""
        if row is None:
            return None
        return cls(state=TaskState(row["state"]), attempt=row["attempt"] or 0,
                   external=external_from(row["external"]) if row.get("external") else None,
                   started_at=utc(row["started_at"]) if row.get("started_at") else None,
                   next_attempt_at=(utc(row["next_attempt_at"]) if row.get("next_attempt_at")
                                    else None),
                   intent=Intent.from_json(row["intent"]) if row.get("intent") else None)


class _TimedOut(Exception):
    pass


class Attempts:
    """Runs the attempts of one task until it reaches a final state.

    :param execution: the run in progress (writes, log, clock, limits).
    :param task: the task; *runner*, *parameters* and *connection* are resolved for it.
    :param policy: its retry policy; *timeout*: seconds per attempt, or ``None``.
    :param resumed: where an interrupted run left it, or ``None``.
    """

    __slots__ = ("_held", "attempt", "connection", "ctx", "execution", "external",
                 "keep_number", "outcome", "parameters", "policy", "reattach", "resumed",
                 "runner", "task", "timeout")

    def __init__(self, execution: Execution, task: Task, runner: Any, parameters: Any,
                 connection: Any, policy: TaskRetry, timeout: float | None,
                 resumed: Resumed | None) -> None:
        self.execution = execution
        self.task = task
        self.runner = runner
        self.parameters = parameters
        self.connection = connection
        self.policy = policy
        self.timeout = timeout
        self.resumed = resumed
        self.attempt = resumed.attempt if resumed else 0
        #: the attempt re-attaches to (or recovers) what an interrupted one started
        self.reattach = bool(resumed and resumed.state is TaskState.RUNNING and self.attempt)
        #: an attempt interrupted while queued keeps its number
        self.keep_number = bool(resumed and resumed.state is TaskState.QUEUED and self.attempt)
        self.external: ExternalRun | None = resumed.external if self.reattach and resumed \
            else None
        self.ctx: RunnerContext | None = None
        self.outcome: Outcome | None = None
        self._held: list[Any] = []

    def first_step(self) -> Step:
        """Where the machine starts (``DUE`` for a retry an interruption left waiting)."""
        resumed = self.resumed
        return Step.DUE if (resumed and resumed.state is TaskState.UP_FOR_RETRY
                            and resumed.next_attempt_at) else Step.NEXT

    # -- steps -------------------------------------------------------------------------------

    async def _due(self) -> Step:
        assert self.resumed is not None and self.resumed.next_attempt_at is not None
        clock = self.execution.clock
        wait = (self.resumed.next_attempt_at - clock.now()).total_seconds()
        if wait > 0:
            await clock.sleep(wait)
        return Step.NEXT

    async def _next(self) -> Step:
        if self.execution.engine.draining:  # shutting down: start nothing new
            await anyio.sleep_forever()
        if not (self.reattach or self.keep_number):
            self.attempt += 1
        self.keep_number = False
        exe = self.execution
        self.ctx = RunnerContext(exe, self.task.id, self.attempt, self.task, self.parameters,
                                 self.connection)
        if self.reattach and self.resumed is not None:
            self.ctx.started_at = self.resumed.started_at
            self.ctx.intent = self.resumed.intent
        return Step.QUEUE

    async def _queue(self) -> Step:
        for limiter in self.execution.limiters_for(self.task):
            try:
                limiter.acquire_nowait()  # no extra trip through the event loop when free
            except anyio.WouldBlock:
                await self.execution.transition(self.task.id, TaskState.QUEUED, self.attempt)
                await limiter.acquire()
            self._held.append(limiter)
        return Step.EXECUTE

    async def _execute(self) -> Step:
        exe, ctx = self.execution, self.ctx
        assert ctx is not None
        try:
            if not self.reattach:
                if exe.engine.draining:  # got its slot while shutting down: start nothing
                    await anyio.sleep_forever()
                ctx.started_at = exe.clock.now()
                # what an earlier attempt stored goes (a row never run has none of it)
                cleared = {} if ctx.attempt == 1 and self.resumed is None else _CLEARED
                await exe.queue_transition(self.task.id, TaskState.RUNNING, ctx.attempt,
                                           started_at=ctx.started_at, **cleared).wait()
                exe.reported(self.task.id, TaskState.RUNNING, ctx.attempt)
            try:
                self.outcome = await (self._trigger_and_wait() if self.timeout is None
                                      else self._within_timeout())
            except anyio.get_cancelled_exc_class():
                if exe.engine.detaching and survives_detach(self.runner):
                    raise  # the external job goes on; a resume re-attaches
                with anyio.CancelScope(shield=True):
                    await self._cancel_external()
                    if exe.engine.detaching:  # a local process: stopped, not left behind
                        await record_interrupted(self)
                    else:
                        await exe.transition(self.task.id, TaskState.CANCELLED, ctx.attempt,
                                             ended_at=exe.clock.now(),
                                             error=exe.stop_reason or "cancelled")
                raise
            except _TimedOut:
                with anyio.CancelScope(shield=True):
                    await self._cancel_external()
                self.outcome = Outcome(TaskState.TIMED_OUT,
                                       f"timed out after {self.timeout:g}s", {})
        finally:
            for limiter in reversed(self._held):
                limiter.release()
            self._held.clear()
        self.reattach, self.external = False, None
        return Step.SETTLE

    async def _settle(self) -> Step:
        exe, outcome, task = self.execution, self.outcome, self.task
        assert outcome is not None
        if outcome.retry_candidate and self.attempt <= self.policy.count:
            delay = self.policy.wait(self.attempt)
            next_at = exe.clock.now() + timedelta(seconds=delay)
            await exe.transition(task.id, TaskState.UP_FOR_RETRY, self.attempt,
                                 error=outcome.message, next_attempt_at=next_at,
                                 message=f"retry in {delay:.1f}s: {outcome.message}")
            exe.log(f"attempt {self.attempt} {outcome.state.value}: {outcome.message}; "
                    f"retrying in {delay:.1f}s", level="warning", task_id=task.id)
            await exe.clock.sleep(delay)
            return Step.NEXT
        bad = outcome.state in BAD
        if bad or outcome.message:
            exe.log(outcome.state.value + (f": {outcome.message}" if outcome.message else ""),
                    level="error" if bad else "info", task_id=task.id)
        meta = dict(outcome.metadata)
        if outcome.message and not bad:
            meta.setdefault("message", outcome.message)
        await exe.queue_transition(task.id, outcome.state, self.attempt,
                                   ended_at=exe.clock.now(),
                                   error=(outcome.message or None) if bad else None, meta=meta,
                                   also=self._asset_events(outcome.state, meta)).wait()
        exe.reported(task.id, outcome.state, self.attempt, outcome.message)
        return Step.DONE

    # -- inside EXECUTE ------------------------------------------------------------------------

    async def _within_timeout(self) -> Outcome:
        timeout = self.timeout
        assert timeout is not None
        out: list[Outcome] = []
        timed_out = False
        async with anyio.create_task_group() as tg:
            async def watchdog() -> None:
                nonlocal timed_out
                await self.execution.clock.sleep(timeout)
                timed_out = True
                tg.cancel_scope.cancel()

            async def body() -> None:
                out.append(await self._trigger_and_wait())
                tg.cancel_scope.cancel()

            tg.start_soon(watchdog)
            tg.start_soon(body)
        if timed_out and not out:
            raise _TimedOut
        return out[0]

    async def _trigger_and_wait(self) -> Outcome:
        exe, ctx, runner, task = self.execution, self.ctx, self.runner, self.task
        assert ctx is not None
        try:
            if self.external is None and self.reattach and hasattr(runner, "recover"):
                recovered = await runner.recover(ctx)
                if recovered is not None:
                    self.external = recovered
                    # stored, so a second interruption resumes from it without recovering
                    await exe.transition(task.id, TaskState.RUNNING, ctx.attempt,
                                         external_id=recovered.id,
                                         external=external_to(recovered),
                                         message="recovered the external run "
                                         f"{recovered.id or ''}".rstrip())
                    exe.log("recovered the external job started before the interruption",
                            task_id=task.id)
            if self.external is None:
                started = await runner.start(ctx)
                self.external = started
                if started.id is not None or started.data:
                    await exe.transition(task.id, TaskState.RUNNING, ctx.attempt,
                                         external_id=started.id, external=external_to(started),
                                         message=f"external run {started.id}" if started.id
                                         else "external run recorded")
            if task.async_:
                return Outcome(TaskState.SUCCEEDED, "triggered (async: not waiting)",
                               {"external_id": self.external.id})
            result: JobResult = await runner.wait(ctx, self.external)
        except TaskFailed as exc:
            return Outcome(TaskState.FAILED, str(exc), exc.metadata, exc.retryable)
        except OrchestraError as exc:
            return Outcome(TaskState.FAILED, str(exc), {}, False)
        except Exception as exc:
            return Outcome(TaskState.FAILED, f"{type(exc).__name__}: {exc}", {})
        meta = dict(result.metadata)
        if result.assets:
            meta["assets"] = list(result.assets)
        return Outcome(_JOB_TO_TASK[result.state], result.message, meta, result.retryable)

    async def _cancel_external(self) -> None:
        if self.external is None:
            return
        assert self.ctx is not None
        try:
            await self.runner.cancel(self.ctx, self.external)
            self.execution.log("cancelled the external job", level="warning",
                               task_id=self.task.id)
        except Exception as exc:
            self.execution.log(f"could not cancel the external job: {exc}", level="error",
                               task_id=self.task.id)

    def _asset_events(self, state: TaskState, meta: dict[str, Any]) -> tuple[AssetEvent, ...]:
        """Asset events of a task that succeeded: its declared outputs and the assets its job
        reported (written with its transition; ``changes`` triggers read them)."""
        task = self.task
        if state is not TaskState.SUCCEEDED or task.async_ or not (
                task.outputs or meta.get("assets")):
            return ()
        exe = self.execution
        names = dict.fromkeys([*task.outputs, *map(str, meta.get("assets", ()))])
        now = exe.clock.now()
        return tuple(AssetEvent(name, now, exe.pipeline.name, exe.run_id, task.id)
                     for name in names)


#: what each step does (a method of :class:`Attempts`, returning the next step); the task's
#: coroutine drives them (``Execution._run_task``), so no frame of the machine's own stays
#: while thousands of tasks wait
STEPS: dict[Step, Callable[[Attempts], Awaitable[Step]]] = {
    Step.DUE: Attempts._due, Step.NEXT: Attempts._next, Step.QUEUE: Attempts._queue,
    Step.EXECUTE: Attempts._execute, Step.SETTLE: Attempts._settle}

#: the columns an attempt clears when it starts running
_CLEARED = {"external": None, "external_id": None, "next_attempt_at": None, "intent": None}

_JOB_TO_TASK = {JobState.SUCCEEDED: TaskState.SUCCEEDED, JobState.FAILED: TaskState.FAILED,
                JobState.CANCELLED: TaskState.CANCELLED}


def external_to(ext: ExternalRun) -> dict[str, Any]:
    """The stored form of an external run."""
    return {"id": ext.id, "started_at": ext.started_at.isoformat(), "data": dict(ext.data)}


def external_from(raw: dict[str, Any]) -> ExternalRun:
    """The external run stored as *raw*."""
    return ExternalRun(id=raw.get("id"), started_at=utc(datetime.fromisoformat(
        raw["started_at"])), data=raw.get("data") or {})
