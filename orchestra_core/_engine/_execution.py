"""One run in progress: launches the nodes the DAG walk makes ready, writes every
transition through the group committer, watches for cancel requests and keeps the lease."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from .._committer import Committer, in_thread
from .._errors import OrchestraError
from .._pipeline import FailurePolicy, Phase, Pipeline, RunType, Stage, StageOutcome, Task
from .._secrets import RunSecrets
from .._store import LogLine, RunUpdate, TaskUpdate, Write
from ._attempt import STEPS, Attempts, Resumed, Step
from ._dag import Graph, Walk
from ._finish import RunAlerts, finish, internal_error, run_broke
from ._gc import gc_tuned
from ._result import RunResult
from ._run_values import run_values
from ._states import TERMINAL, TaskState, Transition
from ._task_rules import resource_lease, watch_task_runtimes

if TYPE_CHECKING:
    from ._facade import Engine

__all__ = ("Execution",)

#: each state's stored text (``TaskState.X.value`` goes through the enum machinery)
_VALUES = {state: state.value for state in TaskState}


class Execution:
    """One run in progress.

    :param rows: the stored task runs by task id when resuming (empty for a new run).
    :param cancel_requested: when resuming, whether a cancel request was read with the run's
        record (a request made later is seen by the watch for requests).
    """

    def __init__(self, engine: Engine, run_id: str, pipeline: Pipeline, run_type: RunType,
                 rows: dict[str, dict[str, Any]],
                 on_transition: Callable[[Transition], None] | None,
                 first_started: datetime | None = None,
                 scheduled_at: datetime | None = None, cancel_requested: bool = False) -> None:
        self.engine = engine
        self.clock = engine.clock
        self.events = engine.events
        self.run_id = run_id
        self.pipeline = pipeline
        self.run_type = run_type
        #: the time the run stands for (its trigger's fire time; its creation by hand)
        self.scheduled_at = scheduled_at
        self.rows = rows
        self.on_transition = on_transition
        self.committer = Committer(engine.store, engine.clock, engine.redactor)
        self.graph = Graph(pipeline)
        self.walk = Walk(self.graph)
        #: the first start of the run (kept across resumes), for the runtime alert
        self.started_at: datetime | None = first_started
        self.stop_reason: str | None = None
        #: the first unexpected exception of a task (its run ends failed)
        self.internal_error: str | None = None
        self.cancelled = False
        self.cancel_requested = cancel_requested
        self.alerts = RunAlerts(self)
        self._scope: anyio.CancelScope | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._all_done = anyio.Event()
        self._jobs: dict[tuple[str, str], Any] = {}
        self._params: dict[Any, Any] = {}
        self._slots: dict[str, tuple[Any, ...]] = {}
        self.run_secrets = RunSecrets(engine.secrets, engine.host, env=engine.env)

    # -- writing -------------------------------------------------------------------------------

    def log(self, message: str, *, level: str = "info", task_id: str | None = None) -> None:
        """Append a line to the run log (written with the next batch)."""
        self.committer.write_nowait(LogLine(self.clock.now(), level, self.pipeline.name,
                                            self.run_id, task_id, message))

    async def transition(self, task_id: str, state: TaskState, attempt: int, *,
                         message: str = "", also: tuple[Write, ...] = (),
                         **fields: Any) -> None:
        """Record *task_id*'s new state (and *fields*) durably, then report it."""
        await self.queue_transition(task_id, state, attempt, also=also, **fields).wait()
        self.reported(task_id, state, attempt, message)

    def queue_transition(self, task_id: str, state: TaskState, attempt: int, *,
                         also: tuple[Write, ...] = (), **fields: Any) -> anyio.Event:
        """Queue *task_id*'s new state (and *fields*, and the writes *also*) for the next
        commit; the event returned is set once it is committed. Then call :meth:`reported`.
        (:meth:`transition` does both; the attempt cycle waits on the event itself, one
        coroutine frame less for each of thousands of waiting tasks.)"""
        fields.update(state=_VALUES[state], attempt=attempt, updated_at=self.clock.now())
        update = TaskUpdate(self.run_id, task_id, fields, task_id in self.graph.stages)
        return self.committer.queue((update, *also) if also else (update,))

    def reported(self, task_id: str, state: TaskState, attempt: int,
                 message: str = "") -> None:
        """After the transition's commit: raise the batch's error if it failed, else make
        the new state the walk's and report it to the ``on_transition`` callback."""
        self.committer.check()
        self.walk.state[task_id] = state
        if self.on_transition is not None:
            redactor = self.engine.redactor
            if message and redactor:
                message = redactor.mask(message)
            self.on_transition(Transition(self.run_id, task_id, state, attempt, message))

    async def write_run(self, **fields: Any) -> None:
        """Record new values of the run's own columns durably."""
        await self.committer.write(RunUpdate(self.run_id, fields))

    # -- the run -------------------------------------------------------------------------------

    async def execute(self) -> RunResult:
        """Run to the end; a caller's cancellation records the run as cancelled (or, while
        the engine detaches, leaves it to be resumed)."""
        with gc_tuned(self.engine.tune_gc):
            try:
                return await self._execute()
            except anyio.get_cancelled_exc_class():
                with anyio.CancelScope(shield=True):
                    await in_thread(self.clock, self.engine.store.apply, self._interrupted())
                raise
            except Exception as exc:  # the run cannot go on (a bug): failed, never stuck
                with anyio.CancelScope(shield=True):
                    raise await run_broke(self, exc) from exc

    def _interrupted(self) -> list[Write]:
        now = self.clock.now()
        if self.engine.detaching:  # shutting down: leave the run resumable
            return [RunUpdate(self.run_id, {"owner": None, "heartbeat_at": None}),
                    LogLine(now, "warning", self.pipeline.name, self.run_id, None,
                            "process shutting down: run left to be resumed")]
        # the caller cancelled us (Ctrl-C, an embedding app): record the run as such
        return [RunUpdate(self.run_id, {"state": "cancelled", "ended_at": now,
                                        "error": "cancelled by the caller"})]

    async def _execute(self) -> RunResult:
        clock = self.clock
        async with anyio.create_task_group() as outer:
            outer.start_soon(self.committer.run)
            runtime_watch = anyio.CancelScope()
            try:
                now = clock.now()
                # the run's own record goes with its first tasks' transitions (one commit
                # less): nothing acts on it before a transition committed with or after it
                running = RunUpdate(self.run_id, {
                    "state": "running", "started_at": self.started_at or now,
                    "owner": self.engine.owner, "heartbeat_at": now})
                self.started_at = self.started_at or now
                if self.pipeline.alerts.on_runtime_exceeded:
                    outer.start_soon(self.alerts.watch_runtime, runtime_watch)
                if any(t.alert_after for t in self.pipeline.tasks):
                    outer.start_soon(watch_task_runtimes, self, runtime_watch)
                if self.cancel_requested:  # resumed after a request
                    self.log("cancel requested", level="warning")
                    self.cancelled, self.stop_reason = True, "cancelled on request"
                with anyio.CancelScope() as scope:
                    self._scope = scope
                    if self.cancelled:
                        scope.cancel()
                    async with anyio.create_task_group() as tg:
                        self._tg = tg
                        watcher = anyio.CancelScope()
                        tg.start_soon(self._watch_cancel, watcher)
                        self.walk.restore(self.rows)
                        if not self.cancelled:  # nothing starts in a run cancelled already
                            self._launch(self.walk.ready())
                        self.committer.write_nowait(running)
                        self.log(f"run started ({self.run_type.value})")
                        if self.walk.unfinished:
                            await self._all_done.wait()
                        watcher.cancel()
                result = await finish(self)
            finally:
                runtime_watch.cancel()
                self.committer.close()
        return result

    async def _watch_cancel(self, scope: anyio.CancelScope) -> None:
        """Poll for a cancel request made by another process, and beat the run's lease."""
        clock, engine = self.clock, self.engine
        beat = clock.monotonic()
        with scope:
            while True:
                await clock.sleep(engine.cancel_poll)
                if clock.monotonic() - beat >= engine.heartbeat_every:
                    # the lease: a run whose owner stops beating may be resumed by another
                    beat = clock.monotonic()
                    self.committer.write_nowait(RunUpdate(self.run_id,
                                                          {"heartbeat_at": clock.now()}))
                if await in_thread(clock, engine.store.cancel_requested, self.run_id):
                    self.log("cancel requested", level="warning")
                    self.cancel("cancelled on request")
                    return

    def cancel(self, reason: str) -> None:
        """Cancel every unfinished task of the run."""
        self.cancelled = True
        self.stop_reason = self.stop_reason or reason
        if self._scope is not None:
            self._scope.cancel()

    # -- nodes ---------------------------------------------------------------------------------

    def _launch(self, nodes: list[str]) -> None:
        assert self._tg is not None
        graph = self.graph
        start = self._tg.start_soon
        for node in nodes:  # named after the node: anyio would build a name for each
            if node in graph.stages:
                start(self._run_stage, graph.stages[node], name=node)
            else:
                start(self._run_task, graph.tasks[node], name=node)

    def _node_done(self, node: str) -> None:
        self._launch(self.walk.finish(node))
        if self.walk.unfinished == 0:
            self._all_done.set()

    async def _run_stage(self, stage: Stage) -> None:
        outcome, state = self.walk.stage_result(stage)
        self.walk.stage_outcome[stage.id] = outcome
        shown = outcome.value if outcome else "skipped"
        now = self.clock.now()
        await self.transition(stage.id, state, 1, outcome=outcome.value if outcome else None,
                              started_at=now, ended_at=now, message=f"stage {shown}")
        self.log(f"stage {stage.id} {shown}",
                 level="error" if outcome is StageOutcome.FAILED else "info", task_id=stage.id)
        if outcome is StageOutcome.FAILED and stage.on_failure is FailurePolicy.STOP_PIPELINE:
            self.log(f"stage {stage.id} failed: stopping the pipeline", level="error")
            self.cancel(f"stage {stage.id!r} failed (on_failure: stop_pipeline)")
        self._node_done(stage.id)

    async def _run_task(self, task: Task) -> None:
        try:
            try:
                attempts = await self._prepare(task)
                if attempts is not None:  # the attempt cycle, in this frame (see STEPS)
                    step = attempts.first_step()
                    while step is not Step.DONE:
                        step = await STEPS[step](attempts)
            except Exception as exc:  # a bug (ours or a plugin's): fail, never a stuck run
                await internal_error(self, task.id, exc)
        finally:
            if self.walk.state.get(task.id) in TERMINAL:
                self._node_done(task.id)

    def _attempts(self, task: Task, job: Any, resumed: Resumed | None) -> Attempts:
        """*task*'s attempts: its parameters, connection and runner resolved.

        :raises OrchestraError: one of them cannot be."""
        params = self._parameters(task, job)
        connection = self.run_secrets.connection(task, job.integration)
        runner = self.engine.host.runner(job)
        defaults = self.pipeline.defaults
        return Attempts(self, task, runner, params, connection, task.retries or defaults.retries,
                        task.timeout if task.timeout is not None else defaults.timeout,
                        resumed)

    async def _prepare(self, task: Task) -> Attempts | None:
        """Skip the task or fail it (it cannot be prepared): ``None``; else its attempts,
        ready to run."""
        resumed = Resumed.from_row(self.rows.get(task.id))
        attempt = resumed.attempt if resumed else 0
        now = self.clock.now
        ok, why = self.walk.should_run(task.id)
        if not ok:
            await self.transition(task.id, TaskState.SKIPPED, attempt, error=why,
                                  ended_at=now(), message=why)
            self.log(f"skipped: {why}", task_id=task.id)
            return None
        job = self._find_job(task)
        phase = task.phase or (job.phase if job else Phase.PROCESSING)
        if not self.run_type.includes(phase):
            self.walk.scope_skipped.add(task.id)
            await self.transition(task.id, TaskState.SKIPPED, attempt, error="not in run type",
                                  ended_at=now(),
                                  message=f"{phase.value} task, not in a {self.run_type} run")
            return None
        try:
            if job is None:
                raise OrchestraError(
                    f"integration job {task.integration}/{task.integration_job} is not "
                    "installed in this process")
            if self.run_secrets.uses_store(task):
                await self.run_secrets.prepare(lambda fn: in_thread(self.clock, fn))
            return self._attempts(task, job, resumed)
        except OrchestraError as exc:
            await self.transition(task.id, TaskState.FAILED, max(attempt, 1), error=str(exc),
                                  ended_at=now(), message=str(exc))
            self.log(f"failed: {exc}", level="error", task_id=task.id)
            return None

    def limiters_for(self, task: Task) -> Sequence[Any]:
        """The capacity limiters an attempt of *task* holds while it executes."""
        if task.resource:  # a mutex across the store's workers, taken before the slots
            return [resource_lease(self, task), *self._slots_for(task.integration)]
        return self._slots_for(task.integration)

    def _slots_for(self, integration: str) -> tuple[Any, ...]:
        held = self._slots.get(integration)
        if held is None:
            engine = self.engine
            limiter = engine.integration_limits.get(integration)
            held = self._slots[integration] = (
                (engine.limit,) if limiter is None else (engine.limit, limiter))
        return held

    def _find_job(self, task: Task) -> Any:
        key = (task.integration, task.integration_job)
        if key not in self._jobs:
            self._jobs[key] = self.engine.host.find_job(*key)
        return self._jobs[key]

    def _parameters(self, task: Task, job: Any) -> Any:
        """The structured parameters; tasks with the same job and no parameters share them."""
        key: Any = (job.integration, job.name) if not task.parameters else None
        if key is not None and key in self._params:
            return self._params[key]
        params = self.engine.structure_parameters(
            job, run_values(self.run_secrets.parameters(task), self.run_id, self.scheduled_at))
        if key is not None:
            self._params[key] = params
        return params
