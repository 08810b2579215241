"""The pipeline model: what a pipeline file says, structured.

A :class:`Pipeline` holds :class:`Task` and :class:`Stage` objects, its
:class:`~orchestra_core._alerts.Alerts` and its
:class:`~orchestra_core._triggers.model.Trigger` objects. Files are read by
:mod:`orchestra_core._loader` and turned into these by :mod:`orchestra_core._validation`, which
reports every problem; see ``docs/pipeline-files.md``.

The model layer (this module, :mod:`~orchestra_core._alerts`, :mod:`~orchestra_core._retry`,
:mod:`~orchestra_core._triggers.model`, :mod:`~orchestra_core._models`) imports only the
standard library, attrs and itself: no parser, store, host or I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from ._alerts import Alerts
from ._retry import TaskRetry
from ._triggers.model import Trigger

__all__ = (
    "Condition",
    "ConditionKind",
    "Defaults",
    "FailurePolicy",
    "Overlap",
    "PartialPolicy",
    "Phase",
    "Pipeline",
    "RunType",
    "Stage",
    "StageOutcome",
    "Task",
    "TaskRetry",
)


class Phase(enum.StrEnum):
    """Which part of a data flow a task belongs to; run types select phases."""

    INGESTION = "ingestion"
    PROCESSING = "processing"
    ACTIVATION = "activation"


class Durability(enum.StrEnum):
    """How a SQLite store commits (``durability:`` of a pipeline file, ``--durability``)."""

    FULL = "full"  #: every commit reaches the disk: a power cut loses nothing committed
    NORMAL = "normal"  #: faster; a killed process loses nothing, a power cut the last commits


class RunType(enum.StrEnum):
    """The scope of a run: which phases it executes (``full``: all; ``refresh``: all but
    activation; ``source``: ingestion only)."""

    FULL = "full"  #: every task
    REFRESH = "refresh"  #: everything except activation tasks (deliveries to destinations)
    SOURCE = "source"  #: ingestion tasks only

    def includes(self, phase: Phase) -> bool:
        """Whether a task of *phase* runs in a run of this type."""
        if self is RunType.FULL:
            return True
        if self is RunType.REFRESH:
            return phase is not Phase.ACTIVATION
        return phase is Phase.INGESTION


class ConditionKind(enum.StrEnum):
    """When a task runs, given how what it depends on ended."""

    ON_SUCCESS = "on_success"  #: every dependency succeeded (the default)
    ON_FAILURE = "on_failure"  #: at least one dependency failed
    ALWAYS = "always"  #: once every dependency has finished, whatever the outcome
    STAGE_OUTCOME = "stage_outcome"  #: a named stage ended with one of the listed outcomes


class StageOutcome(enum.StrEnum):
    """How a stage ended, computed from its member tasks."""

    SUCCEEDED = "succeeded"  #: every member succeeded (or was skipped by the run type)
    PARTIAL = "partial"  #: only non-core members failed
    FAILED = "failed"  #: at least one core member failed


class FailurePolicy(enum.StrEnum):
    """What a stage does when a core task fails."""

    BLOCK = "block"  #: dependents waiting on success are skipped; the rest of the run goes on
    STOP_PIPELINE = "stop_pipeline"  #: cancel everything not yet finished and fail the run


class PartialPolicy(enum.StrEnum):
    """What a stage does when only non-core tasks fail."""

    CONTINUE = "continue"  #: dependents run as if the stage succeeded
    BLOCK = "block"  #: treated like a core failure


@frozen(kw_only=True)
class Condition:
    """A task's (or stage's) run condition; see :class:`ConditionKind`."""

    kind: ConditionKind = ConditionKind.ON_SUCCESS
    stage: str | None = None
    outcomes: tuple[StageOutcome, ...] = ()

    def to_raw(self) -> str | dict[str, Any]:
        """The file form of this condition."""
        if self.kind is ConditionKind.STAGE_OUTCOME:
            return {"stage": self.stage, "outcome": [o.value for o in self.outcomes]}
        return self.kind.value


#: The default condition of tasks and stages (shared: a condition is immutable).
_ON_SUCCESS = Condition()


@frozen(kw_only=True)
class Defaults:
    """Pipeline-wide defaults, overridden per task."""

    retries: TaskRetry = field(factory=TaskRetry)
    timeout: float | None = None


def _resource_name(_instance: object, _attribute: object, value: str | None) -> None:
    if value is not None and not (0 < len(value.strip()) == len(value) <= 100):
        raise ValueError(f"resource must be a name of 1 to 100 characters without leading or "
                         f"trailing spaces, got {value!r}")


def _positive_duration(_instance: object, _attribute: object, value: float | None) -> None:
    if value is not None and not 0 < value < float("inf"):
        raise ValueError(f"alert_after must be a duration > 0, got {value!r}")


@frozen(kw_only=True)
class Task:
    """One atomic unit of work: an integration job with its parameters.

    ``retries``/``timeout`` left as ``None`` take the pipeline's defaults; ``phase`` left as
    ``None`` takes the integration job's default phase.
    """

    id: str
    integration: str
    integration_job: str
    name: str | None = None
    description: str | None = None
    parameters: Mapping[str, Any] = field(factory=dict)
    depends_on: tuple[str, ...] = ()
    condition: Condition = _ON_SUCCESS
    retries: TaskRetry | None = None
    timeout: float | None = None
    async_: bool = False
    secondary_configuration_id: str | None = None
    phase: Phase | None = None
    tags: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    treat_failure_as_warning: bool = False
    #: a named resource held while the task runs: a mutex across every worker of the store
    resource: str | None = field(default=None, validator=_resource_name)
    #: notify (``alerts.on_task_runtime_exceeded``) once the task has been running this many
    #: seconds (``45m``, ``2h`` in files), without stopping it (seed 001's duration thresholds)
    alert_after: float | None = field(default=None, validator=_positive_duration)


@frozen(kw_only=True)
class Stage:
    """A group of tasks that dependents can depend on as one (a ``stages:`` entry of a
    pipeline file).

    ``core_tasks`` left as ``None`` makes every member core.
    """

    id: str
    tasks: tuple[str, ...]
    name: str | None = None
    description: str | None = None
    core_tasks: tuple[str, ...] | None = None
    depends_on: tuple[str, ...] = ()
    condition: Condition = _ON_SUCCESS
    on_failure: FailurePolicy = FailurePolicy.BLOCK
    on_partial: PartialPolicy = PartialPolicy.CONTINUE

    @property
    def core(self) -> tuple[str, ...]:
        """The member tasks whose failure fails the stage."""
        return self.tasks if self.core_tasks is None else self.core_tasks


class Overlap(enum.StrEnum):
    """What a trigger does when its pipeline already has ``max_active_runs`` active runs."""

    ALLOW = "allow"  #: no limit: every fire starts a run
    SKIP = "skip"  #: no run for this fire
    QUEUE = "queue"  #: the run waits until an active run ends
    CANCEL_PREVIOUS = "cancel_previous"  #: cancel the active runs; the new run starts next


def _overlap_rule(pipeline: Pipeline) -> None:
    if pipeline.max_active_runs is not None and pipeline.max_active_runs < 1:
        raise ValueError(f"max_active_runs: expected a whole number >= 1, got "
                         f"{pipeline.max_active_runs}")
    if pipeline.on_overlap is Overlap.ALLOW and pipeline.max_active_runs is not None:
        raise ValueError("max_active_runs limits runs, but on_overlap: allow puts no limit: "
                         "choose on_overlap: skip, queue or cancel_previous (or leave "
                         "on_overlap out: with max_active_runs it defaults to queue)")


@frozen(kw_only=True)
class Pipeline:
    """A named DAG of tasks and stages, unique by ``name`` within its ``client``.

    ``max_active_runs`` and ``on_overlap`` control overlapping runs started by triggers (see
    :class:`Overlap`): with ``on_overlap`` other than ``allow`` at most ``max_active_runs``
    (default 1) runs are active at once.
    """

    name: str
    client: str = "default"
    version: int = 1
    description: str | None = None
    tags: tuple[str, ...] = ()
    defaults: Defaults = field(factory=Defaults)
    stages: tuple[Stage, ...] = ()
    tasks: tuple[Task, ...] = ()
    alerts: Alerts = field(factory=Alerts)
    triggers: tuple[Trigger, ...] = ()
    #: how the SQLite store commits this pipeline's runs; ``None``: the store's setting
    durability: Durability | None = None
    #: destinations declared in the file, by name (``{type, options, credential}``); an
    #: orchestration names one, or a stored one (see docs/delivery.md)
    destinations: Mapping[str, Any] = field(factory=dict)
    #: data templates declared in the file, by name
    data_templates: Mapping[str, Any] = field(factory=dict)
    max_active_runs: int | None = None
    on_overlap: Overlap | None = None
    source: str | None = field(default=None, eq=False, metadata={"internal": True})

    def __attrs_post_init__(self) -> None:
        _overlap_rule(self)

    @property
    def overlap(self) -> Overlap:
        """``on_overlap``, or its default: ``queue`` with ``max_active_runs``, else
        ``allow``."""
        if self.on_overlap is not None:
            return self.on_overlap
        return Overlap.QUEUE if self.max_active_runs is not None else Overlap.ALLOW

    @property
    def active_limit(self) -> int | None:
        """How many runs of this pipeline may be active at once (``None``: no limit)."""
        if self.overlap is Overlap.ALLOW:
            return None
        return self.max_active_runs or 1

    def task(self, task_id: str) -> Task:
        """The task with id *task_id*; ``KeyError`` if there is none."""
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(task_id)

    def stage(self, stage_id: str) -> Stage:
        """The stage with id *stage_id*; ``KeyError`` if there is none."""
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(stage_id)
