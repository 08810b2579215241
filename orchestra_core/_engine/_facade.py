"""The :class:`Engine` facade: creates and resumes runs on a host and a store."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from .._alerter import Alerter
from .._clock import SystemClock
from .._committer import in_thread
from .._errors import OrchestraError
from .._pipeline import Pipeline, RunType
from .._scheduling.lease import HEARTBEAT_INTERVAL, claim_for_resume
from .._secrets import KeyRing, Secrets, check_keys_for
from .._serialize import pipeline_from_definition, pipeline_to_definition
from .._store import Store, utc
from ._events import EventChannel
from ._execution import Execution
from ._gc import gc_tuned
from ._interrupted import survives_detach
from ._result import RunResult
from ._slots import Slots
from ._states import Transition

__all__ = ("DEFAULT_GRACE", "Engine")

#: Seconds :meth:`Engine.drain` waits for running processes by default (with the 5 s between
#: SIGTERM and SIGKILL after it, a stop stays within the 30 s most supervisors allow).
DEFAULT_GRACE = 20.0
#: Seconds between two looks at the running processes while draining.
DRAIN_POLL = 0.05


class Engine:
    """Runs pipelines on a host's integrations, recording everything in a store.

    Every transition is committed to the store before the engine acts on it (group-committed
    across tasks that move together). A run interrupted at any point is continued by
    :meth:`resume`: tasks with a stored external run are re-attached and waited for, never
    triggered again; tasks whose trigger may have been cut off are recovered (or re-triggered
    with the same idempotency key); the rest start as usual.

    :param host: the :class:`~orchestra_core.Orchestra` whose runners execute the jobs (and
        whose ``redactor`` masks the secrets of the runs in the store and in reports).
    :param store: the :class:`~orchestra_core.Store`.
    :param clock: a clock (``SystemClock`` by default; a ``FakeClock`` in tests).
    :param max_concurrency: tasks executing at once, across the process.
    :param integration_limits: per-integration limits, e.g. ``{"fivetran": 50}``.
    :param cancel_poll: seconds between checks for a cancel request made by another process.
    :param tune_gc: raise the garbage collector's thresholds while runs execute (the
        previous thresholds are restored after the last run; see ``docs/running.md``).
    :param keys: the :class:`~orchestra_core.KeyRing` that decrypts the credentials
        of connections; default: ``ORCHESTRA_SECRET_KEY`` and the key file, read when a run
        first needs a credential.
    :param env: the environment variables quick-start connections are read from (default:
        ``os.environ``); ``orchestra run --simulate`` passes the simulators' settings here.
    """

    def __init__(self, host: Any, store: Store, *, clock: Any = None,
                 max_concurrency: int = 1000, integration_limits: dict[str, int] | None = None,
                 cancel_poll: float = 1.0, tune_gc: bool = True,
                 keys: KeyRing | None = None, env: Mapping[str, str] | None = None) -> None:
        self.host = host
        self.store = store
        #: the host's :class:`~orchestra_core.Redactor`: secrets are masked with it
        #: in everything the engine stores and reports
        self.redactor = host.redactor
        self.env = env
        self.secrets = Secrets(store, host=host, keys=keys)
        self.redactor.add(getattr(store, "password", None))  # a PostgreSQL password in the URL
        self.clock = clock or SystemClock()
        self.events = EventChannel()
        #: the process's slots (``max_concurrency``) and each integration's
        self.limit = Slots(max_concurrency)
        self.integration_limits: dict[str, Slots] = {}
        for name, value in (integration_limits or {}).items():
            spec = host.integrations.find(name)  # aliases and any case name the integration
            self.integration_limits[spec.name if spec else name.lower()] = \
                Slots(value)
        self.cancel_poll = cancel_poll
        #: seconds between heartbeats of a run's owner (see orchestra_core._scheduling.lease)
        self.heartbeat_every = HEARTBEAT_INTERVAL
        #: set by :meth:`detach`: runs stop without cancelling anything, left resumable
        self.detaching = False
        #: set by :meth:`drain`: no new attempt starts (the process is shutting down)
        self.draining = False
        #: the longest a runner's ``ctx.sleep`` / ``ctx.next_event`` waits (``None``: as
        #: asked); ``orchestra run --simulate`` sets it so that polling keeps up
        self.sleep_cap: float | None = None
        self.tune_gc = tune_gc
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        #: sends the pipelines' alerts (see orchestra_core._alerts)
        self.alerter = Alerter(host, store, self.clock, secrets=self.secrets)

    async def run(self, pipeline: Pipeline, *, run_type: RunType | str = RunType.FULL,
                  trigger: str = "manual",
                  on_transition: Callable[[Transition], None] | None = None,
                  on_created: Callable[[str], None] | None = None,
                  scheduled_at: datetime | None = None) -> RunResult:
        """Create a run of *pipeline* and execute it to the end. *scheduled_at* is the time
        it stands for (a backfill's fire time; default: now), given to its tasks as
        ``${run.scheduled_at}`` and ``ORCHESTRA_SCHEDULED_AT``."""
        run_type = RunType(run_type)
        with gc_tuned(self.tune_gc):  # from the start: a large run's set-up allocates much
            run_id = await in_thread(self.clock, self._create_run, pipeline, run_type,
                                     trigger, scheduled_at)
            if on_created is not None:
                on_created(run_id)
            return await Execution(self, run_id, pipeline, run_type, {}, on_transition,
                                   scheduled_at=scheduled_at or self.clock.now()).execute()

    def _create_run(self, pipeline: Pipeline, run_type: RunType, trigger: str,
                    scheduled_at: datetime | None) -> str:
        """Store a new run and its nodes. The stored definition and node rows are built
        here, so that they are freed before the run executes (a large pipeline's take
        megabytes)."""
        # keys first: a broken key file is an error now, not a task failing mid-run
        check_keys_for(self.secrets, pipeline.tasks)
        nodes = _NodeRows(pipeline)
        return self.store.create_run(
            name=pipeline.name, client=pipeline.client,
            definition=pipeline_to_definition(pipeline), source=pipeline.source,
            run_type=run_type.value, trigger=trigger, nodes=nodes, owner=self.owner,
            scheduled_at=scheduled_at)

    async def resume(self, run_id: str,
                     on_transition: Callable[[Transition], None] | None = None, *,
                     run: Mapping[str, Any] | None = None,
                     rows: list[dict[str, Any]] | None = None) -> RunResult:
        """Continue an interrupted run from what the store recorded.

        *run* and *rows*: the run's record (its ``owner`` the one it had before) and its
        task runs, read by a caller that has just claimed the unfinished run for this
        engine's :attr:`owner` (the worker pool); neither is read, nor the run claimed,
        again."""
        if run is None or rows is None:
            run = await in_thread(self.clock, self.store.get_run, run_id)
            run_id = run["id"]
            if run["state"] not in ("succeeded", "failed", "cancelled"):
                # refused while another live process owns the run; atomic against a second
                # resumer
                await in_thread(self.clock, claim_for_resume, self.store, run, self.owner,
                                self.clock.now())
            rows = await in_thread(self.clock, self.store.task_runs, run_id)
        finished = run["state"] in ("succeeded", "failed", "cancelled")
        if finished:
            return RunResult(run_id=run_id, state=run["state"], error=run["error"],
                             tasks={r["task_id"]: r for r in rows})
        # the run's tasks and stages: its triggers are not the engine's business
        pipeline = pipeline_from_definition(run["definition"], source=None, triggers=False)
        exe = Execution(self, run_id, pipeline, RunType(run["run_type"]),
                        {r["task_id"]: r for r in rows}, on_transition,
                        first_started=utc(run["started_at"]) if run["started_at"] else None,
                        scheduled_at=utc(run["scheduled_at"] or run["created_at"]),
                        cancel_requested=bool(run["cancel_requested"]))
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

    async def drain(self, grace: float = DEFAULT_GRACE) -> int:
        """Get ready to stop: start no new attempt, and wait up to *grace* seconds (of the
        engine's clock) for the jobs that cannot outlive this process (the local processes of
        the ``process`` integration) to finish. Returns how many still run.

        Then call :meth:`detach` and cancel the runs (``orchestra run`` and
        ``orchestra serve`` do both on SIGTERM): vendor jobs go on and are re-attached when
        the run is resumed; a process still running is stopped (SIGTERM, then SIGKILL) and its
        attempt recorded as interrupted: ``up_for_retry`` when the task's retries allow
        another attempt (the resumed run retries it), else ``failed``. Processes of ``async``
        tasks still running after the grace are stopped too.
        """
        self.draining = True
        runners = [r for r in getattr(self.host, "_runners", {}).values()
                   if not survives_detach(r)]
        clock = self.clock
        deadline = clock.monotonic() + max(0.0, grace)
        while (left := sum(getattr(r, "running", 0) for r in runners)) \
                and clock.monotonic() < deadline:
            await clock.sleep(min(DRAIN_POLL, max(0.0, deadline - clock.monotonic())))
        if not left:  # let the attempts that just ended record their outcome
            await clock.sleep(DRAIN_POLL)
        for runner in runners:
            stop = getattr(runner, "stop_detached", None)
            if stop is not None:
                await stop()
        return left

    def structure_parameters(self, job: Any, raw: Any) -> Any:
        """*raw* parameters of a task structured into *job*'s parameter class.

        :raises OrchestraError: naming every problem.
        """
        params, problems = self.host.structure_parameters(job, raw)
        if problems:
            raise OrchestraError("; ".join(p.format() for p in problems))
        return params


class _NodeRows:
    """The pending rows of a new run's nodes, made as the store reads them (10,000 tasks
    never hold 10,000 dicts at once); read again if the store retries."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for t in self.pipeline.tasks:
            yield {"task_id": t.id, "kind": "task", "integration": t.integration,
                   "job": t.integration_job}
        for s in self.pipeline.stages:
            yield {"task_id": s.id, "kind": "stage"}
