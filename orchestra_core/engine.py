"""The run engine: executes a validated pipeline as a DAG, durably.

Every transition is committed to the store before the engine acts on it (group-committed
across tasks that move together). A run interrupted at any point is continued by
:meth:`Engine.resume`: tasks with a stored external run are re-attached and waited for, never
triggered again; tasks whose trigger may have been cut off are recovered (or re-triggered with
the same idempotency key); the rest start as usual.
"""

from __future__ import annotations

import contextlib
import enum
import gc
import os
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import anyio
import attrs
from attrs import define, field, frozen

from ._alerter import Alerter
from ._clock import SystemClock
from ._committer import Committer, in_thread
from ._waiting import sleep_until_set
from .alerts import RUN_FAILED, RUN_RUNTIME_EXCEEDED, RUN_SUCCEEDED, run_message
from .config import structure
from .errors import OrchestraError, TaskFailed
from .models import ExternalRun, JobResult, JobState, WebhookEvent
from .pipeline import (
    ConditionKind,
    FailurePolicy,
    PartialPolicy,
    Phase,
    Pipeline,
    RunType,
    Stage,
    StageOutcome,
    Task,
)
from .redaction import redact, redactor, register_secret
from .scheduling.lease import HEARTBEAT_INTERVAL, claim_for_resume
from .secrets import KeyRing, RunSecrets, Secrets
from .serialize import pipeline_from_definition, pipeline_to_definition
from .store import Store, utc

__all__ = ("Engine", "RunResult", "TaskState", "Transition")


class TaskState(enum.StrEnum):
    """States of a task run (and of a stage's record)."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    UP_FOR_RETRY = "up_for_retry"


TERMINAL = {TaskState.SUCCEEDED, TaskState.FAILED, TaskState.SKIPPED, TaskState.CANCELLED,
            TaskState.TIMED_OUT}
BAD = {TaskState.FAILED, TaskState.CANCELLED, TaskState.TIMED_OUT}


@frozen
class Transition:
    """A committed change of one task run, passed to progress callbacks."""

    run_id: str
    task_id: str
    state: TaskState
    attempt: int
    message: str = ""


class RunResult:
    """The outcome of a pipeline run: ``run_id``, ``state``, ``error`` and ``tasks`` (every
    task run's stored record by task id, read from the store when first asked for)."""

    def __init__(self, *, run_id: str, state: str, error: str | None = None,
                 tasks: dict[str, dict[str, Any]] | None = None, store: Store | None = None
                 ) -> None:
        self.run_id = run_id
        self.state = state
        self.error = error
        self._tasks = tasks
        self._store = store

    @property
    def tasks(self) -> dict[str, dict[str, Any]]:
        """Task run records by task id (state, attempt, external id, times, error, meta)."""
        if self._tasks is None:
            assert self._store is not None
            self._tasks = {r["task_id"]: r for r in self._store.task_runs(self.run_id)}
        return self._tasks

    @property
    def succeeded(self) -> bool:
        """Whether the run succeeded."""
        return self.state == "succeeded"

    def __repr__(self) -> str:
        return f"RunResult(run_id={self.run_id!r}, state={self.state!r}, error={self.error!r})"


@define
class _Ctx:
    """The :class:`~orchestra_core.protocols.TaskContext` the engine hands runners."""

    engine: Engine
    exe: _Execution
    task_id: str
    run_id: str
    pipeline: str
    attempt: int
    task: Task
    parameters: Any
    idempotency_key: str
    connection: Any = None
    #: when this attempt began running (kept across a resume); ``recover`` looks for vendor
    #: runs created after it
    started_at: datetime | None = None

    def log(self, message: str, *, level: str = "info") -> None:
        """Append a line to the run log."""
        self.exe.log(message, level=level, task_id=self.task_id)

    @property
    def clock(self) -> Any:
        """The engine's clock (the vendor HTTP layer times rate limits with it)."""
        return self.engine.clock

    @property
    def run_type(self) -> str:
        """The pipeline run's type: ``full``, ``refresh`` or ``source`` (a plain string)."""
        return self.exe.run_type.value

    async def sleep(self, seconds: float) -> None:
        """Sleep on the engine's clock."""
        await self.engine.clock.sleep(seconds)

    def now(self) -> datetime:
        """The engine clock's time."""
        return self.engine.clock.now()

    async def next_event(self, key: str, timeout: float) -> WebhookEvent | None:
        """The next webhook event published for *key*, or ``None`` after *timeout*."""
        return await self.engine.events.next(key, timeout, self.engine.clock)


class EventChannel:
    """Webhook events published by the server, delivered to the task runs waiting on them.

    An event that arrives while no task waits on its key (the task is between two polls, or
    its run has not reached it yet) is kept for :attr:`KEEP_UNCLAIMED` seconds and handed to
    the next wait on that key, so a webhook is never lost to bad timing. Runners re-read the
    vendor's state after an event, so a stale one costs one extra read, never a wrong result.
    """

    #: how many recent event ids are remembered to ignore replays
    MAX_SEEN = 100_000
    #: how many keys may hold unclaimed events, and for how many (real) seconds
    MAX_UNCLAIMED = 10_000
    KEEP_UNCLAIMED = 600.0

    def __init__(self) -> None:
        self._waiting: dict[str, list[tuple[anyio.Event, list[WebhookEvent]]]] = {}
        self._seen: dict[str, None] = {}  # insertion-ordered: the oldest id is dropped first
        self._unclaimed: dict[str, tuple[float, WebhookEvent]] = {}  # oldest first

    def publish(self, event: WebhookEvent) -> bool:
        """Deliver *event* to runs waiting on its key; ``False`` for a replayed event (one of
        the last :attr:`MAX_SEEN` event ids)."""
        if event.event_id in self._seen:
            return False
        self._seen[event.event_id] = None
        if len(self._seen) > self.MAX_SEEN:
            del self._seen[next(iter(self._seen))]
        waiters = self._waiting.pop(event.key, [])
        for ready, box in waiters:
            box.append(event)
            ready.set()
        if not waiters:
            self._unclaimed.pop(event.key, None)
            self._unclaimed[event.key] = (time.monotonic(), event)
            if len(self._unclaimed) > self.MAX_UNCLAIMED:
                del self._unclaimed[next(iter(self._unclaimed))]
        return True

    async def next(self, key: str, timeout: float, clock: Any) -> WebhookEvent | None:
        """Wait for the next event for *key* for at most *timeout* seconds of *clock* (an
        event published for *key* since the last wait, if any, is returned at once)."""
        kept = self._unclaimed.pop(key, None)
        if kept is not None and time.monotonic() - kept[0] <= self.KEEP_UNCLAIMED:
            return kept[1]
        ready, box = anyio.Event(), []
        self._waiting.setdefault(key, []).append((ready, box))
        await sleep_until_set(clock, timeout, ready)
        waiting = self._waiting.get(key, [])
        if (ready, box) in waiting:
            waiting.remove((ready, box))
        return box[0] if box else None


class Engine:
    """Runs pipelines on a host's integrations, recording everything in a store.

    :param host: the :class:`~orchestra_core.Orchestra` whose runners execute the jobs.
    :param store: the :class:`~orchestra_core.store.Store`.
    :param clock: a clock (``SystemClock`` by default; a ``FakeClock`` in tests).
    :param max_concurrency: tasks executing at once, across the process.
    :param integration_limits: per-integration limits, e.g. ``{"fivetran": 50}``.
    :param cancel_poll: seconds between checks for a cancel request made by another process.
    :param tune_gc: raise the garbage collector's thresholds while runs execute (the
        previous thresholds are restored after the last run).
    :param keys: the :class:`~orchestra_core.secrets.KeyRing` that decrypts the credentials
        of connections; default: ``ORCHESTRA_SECRET_KEY`` and the key file, read when a run
        first needs a credential.
    """

    def __init__(self, host: Any, store: Store, *, clock: Any = None,
                 max_concurrency: int = 1000, integration_limits: dict[str, int] | None = None,
                 cancel_poll: float = 1.0, tune_gc: bool = True,
                 keys: KeyRing | None = None) -> None:
        self.host = host
        self.store = store
        self.secrets = Secrets(store, host=host, keys=keys)
        url = getattr(getattr(store, "engine", None), "url", None)
        register_secret(getattr(url, "password", None))  # a PostgreSQL password in the URL
        self.clock = clock or SystemClock()
        self.events = EventChannel()
        self.limit = anyio.CapacityLimiter(max_concurrency)
        self.integration_limits = {}
        for name, value in (integration_limits or {}).items():
            spec = host.integrations.find(name)  # aliases and any case name the integration
            self.integration_limits[spec.name if spec else name.lower()] = \
                anyio.CapacityLimiter(value)
        self.cancel_poll = cancel_poll
        #: seconds between heartbeats of a run's owner (see orchestra_core.scheduling.lease)
        self.heartbeat_every = HEARTBEAT_INTERVAL
        #: set by :meth:`detach`: runs stop without cancelling anything, left resumable
        self.detaching = False
        self.tune_gc = tune_gc
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        #: sends the pipelines' alerts (see orchestra_core.alerts)
        self.alerter = Alerter(host, store, self.clock)

    async def run(self, pipeline: Pipeline, *, run_type: RunType | str = RunType.FULL,
                  trigger: str = "manual",
                  on_transition: Callable[[Transition], None] | None = None,
                  on_created: Callable[[str], None] | None = None) -> RunResult:
        """Create a run of *pipeline* and execute it to the end."""
        run_type = RunType(run_type)
        definition = pipeline_to_definition(pipeline)
        nodes = [{"task_id": t.id, "kind": "task", "integration": t.integration,
                  "job": t.integration_job} for t in pipeline.tasks]
        nodes += [{"task_id": s.id, "kind": "stage"} for s in pipeline.stages]
        run_id = await in_thread(self.clock, lambda: self.store.create_run(
            name=pipeline.name, client=pipeline.client, definition=definition,
            source=pipeline.source, run_type=run_type.value, trigger=trigger, nodes=nodes,
            owner=self.owner))
        if on_created is not None:
            on_created(run_id)
        exe = _Execution(self, run_id, pipeline, run_type, {}, on_transition)
        return await exe.execute()

    async def resume(self, run_id: str,
                     on_transition: Callable[[Transition], None] | None = None) -> RunResult:
        """Continue an interrupted run from what the store recorded."""
        run = await in_thread(self.clock, self.store.get_run, run_id)
        run_id = run["id"]
        if run["state"] not in ("succeeded", "failed", "cancelled"):
            # refused while another live process owns the run; atomic against a second resumer
            await in_thread(self.clock, claim_for_resume, self.store, run, self.owner,
                            self.clock.now())
        rows = await in_thread(self.clock, self.store.task_runs, run_id)
        if run["state"] in ("succeeded", "failed", "cancelled"):
            return RunResult(run_id=run_id, state=run["state"], error=run["error"],
                             tasks={r["task_id"]: r for r in rows})
        pipeline = pipeline_from_definition(run["definition"], source=None)
        exe = _Execution(self, run_id, pipeline, RunType(run["run_type"]),
                         {r["task_id"]: r for r in rows}, on_transition)
        exe.first_started = utc(run["started_at"]) if run["started_at"] else None
        if run["state"] == "pending" and run["started_at"] is None:
            exe.log(f"starting run {run_id} (trigger: {run['trigger']})")
        else:
            exe.log(f"resuming run {run_id} (owner was {run['owner']})", level="warning")
        return await exe.execute()

    def detach(self) -> None:
        """Stop executing runs without cancelling anything (a service shutting down): tasks
        keep their recorded state and external runs, and each run is released so that the
        next process resumes it. Takes effect when the caller cancels the runs' tasks."""
        self.detaching = True


_GC_USERS = 0
_GC_SAVED: tuple[int, ...] = ()


@contextlib.contextmanager
def _gc_tuned(enabled: bool) -> Iterator[None]:
    """Raise the cyclic GC's thresholds while runs execute: with thousands of live task
    objects, default thresholds make full collections dominate the engine's CPU time
    (measured: 10,000 no-op tasks 3.0 s -> 1.2 s). Restored when the last run ends."""
    global _GC_USERS, _GC_SAVED
    if not enabled:
        yield
        return
    if _GC_USERS == 0:
        _GC_SAVED = gc.get_threshold()
        if _GC_SAVED[0] < 50_000:
            gc.set_threshold(50_000, max(_GC_SAVED[1], 50), max(_GC_SAVED[2], 100))
    _GC_USERS += 1
    try:
        yield
    finally:
        _GC_USERS -= 1
        if _GC_USERS == 0:
            gc.set_threshold(*_GC_SAVED)


class _Execution:
    """One run in progress."""

    def __init__(self, engine: Engine, run_id: str, pipeline: Pipeline, run_type: RunType,
                 rows: dict[str, dict[str, Any]],
                 on_transition: Callable[[Transition], None] | None) -> None:
        self.engine = engine
        self.run_id = run_id
        self.pipeline = pipeline
        self.run_type = run_type
        self.rows = rows
        self.on_transition = on_transition
        self.committer = Committer(engine.store, engine.clock)
        self.tasks = {t.id: t for t in pipeline.tasks}
        self.stages = {s.id: s for s in pipeline.stages}
        self.stage_of = {tid: s for s in pipeline.stages for tid in s.tasks}
        self.state: dict[str, TaskState] = {}
        self.stage_outcome: dict[str, StageOutcome | None] = {}
        self.scope_skipped: set[str] = set()
        self.deps: dict[str, set[str]] = {}
        self.dependents: dict[str, list[str]] = {}
        self.remaining: dict[str, int] = {}
        self.started: set[str] = set()
        self.stop_reason: str | None = None
        self.cancelled = False
        self.run_scope: anyio.CancelScope | None = None
        self.tg: anyio.abc.TaskGroup | None = None
        self._jobs: dict[tuple[str, str], Any] = {}
        self._params: dict[Any, Any] = {}
        self.run_secrets = RunSecrets(engine.secrets, engine.host)
        self._build_graph()

    # -- graph -----------------------------------------------------------------------------------

    def _build_graph(self) -> None:
        for t in self.pipeline.tasks:
            deps = set(t.depends_on)
            stage = self.stage_of.get(t.id)
            if stage is not None:
                deps |= set(stage.depends_on)
            self.deps[t.id] = deps
        for s in self.pipeline.stages:
            self.deps[s.id] = set(s.tasks)
        for node, deps in self.deps.items():
            self.remaining[node] = len(deps)
            for d in deps:
                self.dependents.setdefault(d, []).append(node)

    def log(self, message: str, *, level: str = "info", task_id: str | None = None) -> None:
        self.committer.write_nowait(("event", {
            "time": self.engine.clock.now(), "level": level, "pipeline": self.pipeline.name,
            "run_id": self.run_id, "task_id": task_id, "message": message}))

    async def transition(self, task_id: str, state: TaskState, attempt: int, *,
                         message: str = "", also: tuple[Any, ...] = (), **fields: Any) -> None:
        now = self.engine.clock.now()
        values = {"state": state.value, "attempt": attempt, "updated_at": now, **fields}
        await self.committer.write(("task", self.run_id, task_id, values), *also)
        self.state[task_id] = state
        if self.on_transition is not None:
            if message and redactor:
                message = redact(message)
            self.on_transition(Transition(self.run_id, task_id, state, attempt, message))

    # -- outcome classes -------------------------------------------------------------------------

    def klass(self, node: str) -> str:
        """``ok``, ``failed`` or ``skipped``, as dependents see *node*."""
        if node in self.stages:
            outcome = self.stage_outcome.get(node)
            stage = self.stages[node]
            if outcome is None:
                return "skipped"
            if outcome is StageOutcome.SUCCEEDED:
                return "ok"
            if outcome is StageOutcome.PARTIAL and stage.on_partial is PartialPolicy.CONTINUE:
                return "ok"
            return "failed"
        state = self.state[node]
        if state is TaskState.SUCCEEDED or node in self.scope_skipped:
            return "ok"
        if state in BAD:
            return "ok" if self.tasks[node].treat_failure_as_warning else "failed"
        return "skipped"

    def should_run(self, node: str) -> tuple[bool, str]:
        """Whether *node*'s condition holds now that its dependencies are done."""
        if node in self.stages:
            return True, ""
        task = self.tasks[node]
        stage = self.stage_of.get(node)
        if stage is not None and stage.depends_on:
            ok, why = self._condition(stage.condition, set(stage.depends_on))
            if not ok:
                return False, f"stage {stage.id!r}: {why}"
        return self._condition(task.condition, set(task.depends_on))

    def _condition(self, cond: Any, deps: set[str]) -> tuple[bool, str]:
        classes = {d: self.klass(d) for d in deps}
        kind = cond.kind
        if kind is ConditionKind.ALWAYS:
            return True, ""
        if kind is ConditionKind.ON_FAILURE:
            failed = [d for d, c in classes.items() if c == "failed"]
            return (True, "") if failed else (False, "no dependency failed (on_failure)")
        if kind is ConditionKind.STAGE_OUTCOME:
            outcome = self.stage_outcome.get(cond.stage or "")
            if outcome not in cond.outcomes:
                shown = outcome.value if outcome else "skipped"
                return False, (f"stage {cond.stage!r} ended {shown}, not "
                               f"{'/'.join(o.value for o in cond.outcomes)}")
            others = [d for d, c in classes.items() if d != cond.stage and c != "ok"]
            return (False, f"{others[0]!r} did not succeed") if others else (True, "")
        not_ok = sorted(d for d, c in classes.items() if c != "ok")
        return (False, f"{not_ok[0]!r} did not succeed") if not_ok else (True, "")

    # -- execution -------------------------------------------------------------------------------

    async def execute(self) -> RunResult:
        with _gc_tuned(self.engine.tune_gc):
            try:
                return await self._execute()
            except anyio.get_cancelled_exc_class():
                if self.engine.detaching:  # shutting down: leave the run resumable
                    with anyio.CancelScope(shield=True):
                        await in_thread(self.engine.clock, self.engine.store.apply, [
                            ("run", self.run_id, {"owner": None, "heartbeat_at": None}),
                            ("event", {"time": self.engine.clock.now(), "level": "warning",
                                       "pipeline": self.pipeline.name, "run_id": self.run_id,
                                       "task_id": None, "message": "process shutting down: "
                                       "run left to be resumed"})])
                    raise
                # the caller cancelled us (Ctrl-C, an embedding app): record the run as such
                with anyio.CancelScope(shield=True):
                    cancelled = ("run", self.run_id, {"state": "cancelled",
                                                      "ended_at": self.engine.clock.now(),
                                                      "error": "cancelled by the caller"})
                    await in_thread(self.engine.clock, self.engine.store.apply, [cancelled])
                raise

    async def _execute(self) -> RunResult:
        clock = self.engine.clock
        async with anyio.create_task_group() as outer:
            outer.start_soon(self.committer.run)
            runtime_watch = anyio.CancelScope()
            try:
                await self.committer.write(("run", self.run_id, {
                    "state": "running", "started_at": clock.now(), "owner": self.engine.owner,
                    "heartbeat_at": clock.now()}))
                self.log(f"run started ({self.run_type.value})")
                self.started_at = self.first_started or clock.now()
                if self.pipeline.alerts.on_runtime_exceeded:
                    outer.start_soon(self._watch_runtime, runtime_watch)
                if self.rows and await in_thread(clock, self.engine.store.cancel_requested,
                                           self.run_id):  # resumed after a cancel request
                    self.log("cancel requested", level="warning")
                    self.cancelled, self.stop_reason = True, "cancelled on request"
                with anyio.CancelScope() as scope:
                    self.run_scope = scope
                    if self.cancelled:
                        scope.cancel()
                    async with anyio.create_task_group() as tg:
                        self.tg = tg
                        watcher = anyio.CancelScope()
                        tg.start_soon(self._watch_cancel, watcher)
                        await self._restore()
                        for node, n in list(self.remaining.items()):
                            if n == 0 and node not in self.started:
                                self._launch(node)
                        await self._wait_all_done()
                        watcher.cancel()
                result = await self._finish()
            finally:
                runtime_watch.cancel()
                self.committer.close()
        return result

    first_started: datetime | None = None
    started_at: datetime | None = None

    async def _watch_runtime(self, scope: anyio.CancelScope) -> None:
        """Raise the runtime alert once the run has been running for the configured hours."""
        hours = self.pipeline.alerts.runtime_exceeded_hours
        if not hours or self.started_at is None:
            return
        with scope:
            clock = self.engine.clock
            wait = (self.started_at + timedelta(hours=hours) - clock.now()).total_seconds()
            if wait > 0:
                await clock.sleep(wait)
            await self._alert(RUN_RUNTIME_EXCEEDED, "running", None)

    async def _alert(self, kind: str, state: str, error: str | None) -> None:
        """Send the pipeline's alert *kind*, if it has one; a failure is only logged."""
        alerts = self.pipeline.alerts
        if not alerts.channels_for(kind):
            return
        now = self.engine.clock.now()
        runtime = (now - self.started_at).total_seconds() if self.started_at else None
        data = {"client": self.pipeline.client, "run_type": self.run_type.value,
                "state": state, "error": error,
                "started_at": self.started_at.isoformat() if self.started_at else None,
                "runtime_seconds": runtime,
                "failed_tasks": sorted(t for t, st in self.state.items()
                                       if st in BAD and t in self.tasks)}
        try:
            await self.engine.alerter.fire(
                alerts, kind, pipeline=self.pipeline.name, run_id=self.run_id,
                message=run_message(kind, self.pipeline.name, self.run_id, error=error,
                                    hours=alerts.runtime_exceeded_hours),
                data=data, log=self.log)
        except Exception as exc:  # alerts never fail a run
            self.log(f"alert {kind} could not be sent: {type(exc).__name__}: {exc}",
                     level="error")

    async def _wait_all_done(self) -> None:
        self._unfinished = sum(1 for n in self.deps if self.state.get(n) not in TERMINAL)
        if self._unfinished:
            self._all_done = anyio.Event()
            await self._all_done.wait()

    _all_done: anyio.Event | None = None
    _unfinished = -1

    def _node_done(self, node: str) -> None:
        for dep in self.dependents.get(node, []):
            self.remaining[dep] -= 1
            if self.remaining[dep] == 0 and dep not in self.started:
                self._launch(dep)
        self._unfinished -= 1
        if self._unfinished == 0 and self._all_done is not None:
            self._all_done.set()

    def _launch(self, node: str) -> None:
        self.started.add(node)
        assert self.tg is not None
        if node in self.stages:
            self.tg.start_soon(self._run_stage, self.stages[node])
        else:
            self.tg.start_soon(self._run_task, self.tasks[node])

    async def _restore(self) -> None:
        """Resume: mark finished nodes done without re-running them."""
        done = [n for n, r in self.rows.items() if TaskState(r["state"]) in TERMINAL]
        for node in done:
            row = self.rows[node]
            self.state[node] = TaskState(row["state"])
            if node in self.stages:
                self.stage_outcome[node] = StageOutcome(row["outcome"]) if row["outcome"] else None
            elif row.get("error") == "not in run type":
                self.scope_skipped.add(node)
            self.started.add(node)
        for node in done:
            for dep in self.dependents.get(node, []):
                self.remaining[dep] -= 1

    async def _watch_cancel(self, scope: anyio.CancelScope) -> None:
        clock = self.engine.clock
        beat = clock.monotonic()
        with scope:
            while True:
                await clock.sleep(self.engine.cancel_poll)
                if clock.monotonic() - beat >= self.engine.heartbeat_every:
                    # the lease: a run whose owner stops beating may be resumed by another
                    beat = clock.monotonic()
                    self.committer.write_nowait(("run", self.run_id, {
                        "heartbeat_at": clock.now()}))
                if await in_thread(self.engine.clock, self.engine.store.cancel_requested,
                             self.run_id):
                    self.log("cancel requested", level="warning")
                    self.cancel("cancelled on request")
                    return

    def cancel(self, reason: str) -> None:
        """Cancel every unfinished task of the run."""
        self.cancelled = True
        self.stop_reason = self.stop_reason or reason
        if self.run_scope is not None:
            self.run_scope.cancel()

    async def _run_stage(self, stage: Stage) -> None:
        classes = {t: self.state[t] for t in stage.tasks}
        members_ran = [t for t in stage.tasks if classes[t] is not TaskState.SKIPPED
                       or t in self.scope_skipped]
        if not members_ran:
            outcome = None
            state = TaskState.SKIPPED
        else:
            def bad(t: str) -> bool:
                return classes[t] in BAD and not self.tasks[t].treat_failure_as_warning
            if any(bad(t) for t in stage.core):
                outcome = StageOutcome.FAILED
            elif any(bad(t) for t in stage.tasks):
                outcome = StageOutcome.PARTIAL
            else:
                outcome = StageOutcome.SUCCEEDED
            state = TaskState.FAILED if outcome is StageOutcome.FAILED else TaskState.SUCCEEDED
        self.stage_outcome[stage.id] = outcome
        now = self.engine.clock.now()
        await self.transition(stage.id, state, 1, outcome=outcome.value if outcome else None,
                              started_at=now, ended_at=now,
                              message=f"stage {outcome.value if outcome else 'skipped'}")
        self.log(f"stage {stage.id} {outcome.value if outcome else 'skipped'}",
                 level="error" if outcome is StageOutcome.FAILED else "info", task_id=stage.id)
        if outcome is StageOutcome.FAILED and stage.on_failure is FailurePolicy.STOP_PIPELINE:
            self.log(f"stage {stage.id} failed: stopping the pipeline", level="error")
            self.cancel(f"stage {stage.id!r} failed (on_failure: stop_pipeline)")
        self._node_done(stage.id)

    async def _run_task(self, task: Task) -> None:
        try:
            await self._task_body(task)
        finally:
            if self.state.get(task.id) in TERMINAL:
                self._node_done(task.id)

    async def _task_body(self, task: Task) -> None:
        row = self.rows.get(task.id)
        attempt = row["attempt"] if row else 0
        prev_state = TaskState(row["state"]) if row else TaskState.PENDING
        ok, why = self.should_run(task.id)
        if not ok:
            await self.transition(task.id, TaskState.SKIPPED, attempt, error=why,
                                  ended_at=self.engine.clock.now(), message=why)
            self.log(f"skipped: {why}", task_id=task.id)
            return
        phase = task.phase or self._job_phase(task)
        if not self.run_type.includes(phase):
            self.scope_skipped.add(task.id)
            await self.transition(task.id, TaskState.SKIPPED, attempt, error="not in run type",
                                  ended_at=self.engine.clock.now(),
                                  message=f"{phase.value} task, not in a {self.run_type} run")
            return
        job = self._find_job(task)
        try:
            if job is None:
                raise OrchestraError(
                    f"integration job {task.integration}/{task.integration_job} is not "
                    "installed in this process")
            if self.run_secrets.uses_store(task):
                await self.run_secrets.prepare(
                    lambda fn: in_thread(self.engine.clock, fn))
            params = self._parameters(task, job)
            connection = self.run_secrets.connection(task, job.integration)
            runner = self.engine.host.runner(job)
        except OrchestraError as exc:
            await self.transition(task.id, TaskState.FAILED, max(attempt, 1), error=str(exc),
                                  ended_at=self.engine.clock.now(), message=str(exc))
            self.log(f"failed: {exc}", level="error", task_id=task.id)
            return
        policy = task.retries or self.pipeline.defaults.retries
        timeout = task.timeout if task.timeout is not None else self.pipeline.defaults.timeout
        external: ExternalRun | None = None
        resume_running = prev_state is TaskState.RUNNING and attempt > 0
        # an attempt that was queued (waiting for a slot) at the interruption keeps its number
        reuse_attempt = prev_state is TaskState.QUEUED and attempt > 0
        if resume_running and row and row.get("external") is not None:
            external = _external_from(row["external"])
        if prev_state is TaskState.UP_FOR_RETRY and row and row.get("next_attempt_at"):
            wait = (utc(row["next_attempt_at"]) - self.engine.clock.now()).total_seconds()
            if wait > 0:
                await self.engine.clock.sleep(wait)
        while True:
            if not (resume_running or reuse_attempt):
                attempt += 1
            reuse_attempt = False
            ctx = _Ctx(self.engine, self, task.id, self.run_id, self.pipeline.name, attempt,
                       task, params, f"{self.run_id}/{task.id}/{attempt}", connection)
            if resume_running and row and row.get("started_at"):
                ctx.started_at = utc(row["started_at"])
            limiters = [self.engine.limit]
            if task.integration in self.engine.integration_limits:
                limiters.append(self.engine.integration_limits[task.integration])
            result = await self._attempt(task, ctx, runner, limiters, timeout, external,
                                         resume_running)
            resume_running, external = False, None
            if result.state in (TaskState.FAILED, TaskState.TIMED_OUT) and \
                    attempt <= policy.count and result.retryable is not False:
                delay = policy.wait(attempt)
                next_at = self.engine.clock.now() + timedelta(seconds=delay)
                await self.transition(task.id, TaskState.UP_FOR_RETRY, attempt,
                                      error=result.message, next_attempt_at=next_at,
                                      message=f"retry in {delay:.1f}s: {result.message}")
                self.log(f"attempt {attempt} {result.state.value}: {result.message}; retrying "
                         f"in {delay:.1f}s", level="warning", task_id=task.id)
                await self.engine.clock.sleep(delay)
                continue
            if result.state in BAD or result.message:
                level = "error" if result.state in BAD else "info"
                self.log(f"{result.state.value}" + (f": {result.message}" if result.message
                                                    else ""), level=level, task_id=task.id)
            meta = dict(result.metadata)
            if result.message and result.state not in BAD:
                meta.setdefault("message", result.message)
            await self.transition(task.id, result.state, attempt, ended_at=self.engine.clock.now(),
                                  error=(result.message or None) if result.state in BAD else None,
                                  meta=meta, message=result.message,
                                  also=self._asset_events(task, result.state, meta))
            return

    def _asset_events(self, task: Task, state: TaskState, meta: dict[str, Any]
                      ) -> tuple[Any, ...]:
        """Asset events of a task that succeeded: its declared outputs and the assets its job
        reported (written with its transition; ``changes`` triggers read them)."""
        if state is not TaskState.SUCCEEDED or task.async_:
            return ()
        names = dict.fromkeys([*task.outputs, *map(str, meta.get("assets", ()))])
        now = self.engine.clock.now()
        return tuple(("asset", {"asset": name, "time": now, "pipeline": self.pipeline.name,
                                "run_id": self.run_id, "task_id": task.id}) for name in names)

    def _job_phase(self, task: Task) -> Phase:
        job = self._find_job(task)
        return job.phase if job else Phase.PROCESSING

    def _find_job(self, task: Task) -> Any:
        key = (task.integration, task.integration_job)
        if key not in self._jobs:
            self._jobs[key] = self.engine.host.find_job(*key)
        return self._jobs[key]

    def _parameters(self, task: Task, job: Any) -> Any:
        """The structured parameters; tasks with the same job and parameters share them."""
        if not task.parameters:
            key: Any = (job.integration, job.name)
            if key in self._params:
                return self._params[key]
        else:
            key = None
        params, problems = structure(self.run_secrets.parameters(task), job.parameters, "$")
        if problems:
            raise OrchestraError("; ".join(p.format() for p in problems))
        if key is not None:
            self._params[key] = params
        return params

    async def _attempt(self, task: Task, ctx: _Ctx, runner: Any, limiters: list[Any],
                       timeout: float | None, external: ExternalRun | None,
                       resuming: bool) -> _Outcome:
        acquired: list[Any] = []
        try:
            for lim in limiters:
                try:
                    lim.acquire_nowait()  # no extra trip through the event loop when free
                except anyio.WouldBlock:
                    await self.transition(task.id, TaskState.QUEUED, ctx.attempt)
                    await lim.acquire()
                acquired.append(lim)
            if not resuming:
                ctx.started_at = self.engine.clock.now()
                await self.transition(task.id, TaskState.RUNNING, ctx.attempt,
                                      started_at=ctx.started_at, external=None,
                                      external_id=None, next_attempt_at=None)
            holder: dict[str, ExternalRun | None] = {"ext": external}
            try:
                return await self._timed(timeout, lambda: self._start_and_wait(
                    task, ctx, runner, holder, resuming))
            except anyio.get_cancelled_exc_class():
                if self.engine.detaching:  # the external job goes on; a resume re-attaches
                    raise
                with anyio.CancelScope(shield=True):
                    await self._cancel_external(ctx, runner, holder["ext"])
                    await self.transition(task.id, TaskState.CANCELLED, ctx.attempt,
                                          ended_at=self.engine.clock.now(),
                                          error=self.stop_reason or "cancelled")
                raise
            except _TimedOut:
                with anyio.CancelScope(shield=True):
                    await self._cancel_external(ctx, runner, holder["ext"])
                return _Outcome(TaskState.TIMED_OUT, f"timed out after {timeout:g}s", {}, None)
        finally:
            for lim in reversed(acquired):
                lim.release()

    async def _cancel_external(self, ctx: _Ctx, runner: Any, ext: ExternalRun | None) -> None:
        if ext is None:
            return
        try:
            await runner.cancel(ctx, ext)
            self.log("cancelled the external job", level="warning", task_id=ctx.task_id)
        except Exception as exc:
            self.log(f"could not cancel the external job: {exc}", level="error",
                     task_id=ctx.task_id)

    async def _timed(self, timeout: float | None, fn: Callable[[], Any]) -> _Outcome:
        if timeout is None:
            return await fn()
        timed_out = False
        out: list[_Outcome] = []
        async with anyio.create_task_group() as tg:
            async def watchdog() -> None:
                nonlocal timed_out
                await self.engine.clock.sleep(timeout)
                timed_out = True
                tg.cancel_scope.cancel()

            async def body() -> None:
                out.append(await fn())
                tg.cancel_scope.cancel()

            tg.start_soon(watchdog)
            tg.start_soon(body)
        if timed_out and not out:
            raise _TimedOut
        return out[0]

    async def _start_and_wait(self, task: Task, ctx: _Ctx, runner: Any,
                              holder: dict[str, ExternalRun | None], resuming: bool) -> _Outcome:
        try:
            ext = holder["ext"]
            if ext is None and resuming and hasattr(runner, "recover"):
                ext = await runner.recover(ctx)
                if ext is not None:
                    holder["ext"] = ext
                    # store it, so a second interruption resumes from it without recovering
                    await self.transition(task.id, TaskState.RUNNING, ctx.attempt,
                                          external_id=ext.id, external=_external_to(ext),
                                          message="recovered the external run "
                                          f"{ext.id or ''}".rstrip())
                    self.log("recovered the external job started before the interruption",
                             task_id=task.id)
            if ext is None:
                ext = await runner.start(ctx)
                holder["ext"] = ext
                if ext.id is not None or ext.data:
                    await self.transition(task.id, TaskState.RUNNING, ctx.attempt,
                                          external_id=ext.id, external=_external_to(ext),
                                          message=f"external run {ext.id}" if ext.id
                                          else "external run recorded")
            holder["ext"] = ext
            if task.async_:
                return _Outcome(TaskState.SUCCEEDED, "triggered (async: not waiting)",
                                {"external_id": ext.id}, None)
            result: JobResult = await runner.wait(ctx, ext)
        except TaskFailed as exc:
            return _Outcome(TaskState.FAILED, str(exc), exc.metadata, exc.retryable)
        except OrchestraError as exc:
            return _Outcome(TaskState.FAILED, str(exc), {}, False)
        except Exception as exc:
            return _Outcome(TaskState.FAILED, f"{type(exc).__name__}: {exc}", {}, None)
        state = {JobState.SUCCEEDED: TaskState.SUCCEEDED, JobState.FAILED: TaskState.FAILED,
                 JobState.CANCELLED: TaskState.CANCELLED}[result.state]
        meta = dict(result.metadata)
        if result.assets:
            meta["assets"] = list(result.assets)
        return _Outcome(state, result.message, meta, result.retryable)

    async def _finish(self) -> RunResult:
        against = []
        for t in self.pipeline.tasks:
            state = self.state.get(t.id)
            if state in BAD and not t.treat_failure_as_warning:
                stage = self.stage_of.get(t.id)
                tolerated = (stage is not None and t.id not in stage.core
                             and stage.on_partial is PartialPolicy.CONTINUE
                             and state is not TaskState.CANCELLED)
                if not tolerated:
                    against.append(t.id)
        failed_stages = [s for s, o in self.stage_outcome.items() if o is StageOutcome.FAILED]
        if self.cancelled and self.stop_reason == "cancelled on request":
            state, error = "cancelled", "cancelled on request"
        elif against or failed_stages or self.cancelled:
            state = "failed"
            parts = [f"tasks failed: {', '.join(against)}"] if against else []
            if failed_stages:
                parts.append(f"stages failed: {', '.join(failed_stages)}")
            if self.stop_reason:
                parts.append(self.stop_reason)
            error = "; ".join(parts)
        else:
            state, error = "succeeded", None
        # nodes never reached (stopped pipeline) are cancelled
        pending = [n for n in self.deps if self.state.get(n) not in TERMINAL]
        writes = [("task", self.run_id, n, {"state": TaskState.CANCELLED.value,
                                             "updated_at": self.engine.clock.now(),
                                             "error": self.stop_reason or "cancelled"})
                  for n in pending]
        for n in pending:
            self.state[n] = TaskState.CANCELLED
        self.log(f"run {state}" + (f": {error}" if error else ""),
                 level="error" if state != "succeeded" else "info")
        await self.committer.write(*writes, ("run", self.run_id, {
            "state": state, "ended_at": self.engine.clock.now(), "error": error}))
        if state in ("succeeded", "failed"):
            await self._alert(RUN_SUCCEEDED if state == "succeeded" else RUN_FAILED, state, error)
        return RunResult(run_id=self.run_id, state=state, error=error, store=self.engine.store)


@frozen
class _Outcome:
    state: TaskState
    message: str
    metadata: dict[str, Any]
    retryable: bool | None


class _TimedOut(Exception):
    pass




def _external_to(ext: ExternalRun) -> dict[str, Any]:
    return {"id": ext.id, "started_at": ext.started_at.isoformat(), "data": dict(ext.data)}


def _external_from(raw: dict[str, Any]) -> ExternalRun:
    return ExternalRun(id=raw.get("id"), started_at=utc(datetime.fromisoformat(
        raw["started_at"])), data=raw.get("data") or {})


_ = (attrs, field)
