"""The simulated Amperity tenants: configs (courier groups, orchestration groups, campaigns)
and workflow runs whose state follows the clock.

A workflow is ``scheduled`` for its ``scheduled_for`` seconds, ``started`` for ``started_for``
seconds, then ``in-progress`` until ``duration`` seconds after the start, then ends with its
``outcome``: ``succeeded``, ``failed``, ``running-with-failures`` (``running-with-failures``
for the second half of the run, then ``failed``), or any other string to serve a state the
plugin does not know. A stop ends it ``canceled`` at once (``stopping_for`` seconds of
``stopping`` first when set).
"""

from __future__ import annotations

import random
import string
from datetime import datetime, timedelta
from typing import Any

from attrs import define, field

__all__ = ("KIND_TYPES", "SimConfig", "SimRun", "Tenant", "iso", "wire_state")

_ISO_MS = "%Y-%m-%dT%H:%M:%S.%f"

#: Workflow ``type`` and the kind word, by config id prefix.
KIND_TYPES: dict[str, tuple[str, str]] = {
    "cg-": ("courier.group/run", "courier group"),
    "og-": ("amperity.orchestration.orchestration/run", "orchestration group"),
    "cc-": ("campaign.send", "campaign"),
}

#: Task labels of a config's workflow when none are given, by prefix.
DEFAULT_TASKS: dict[str, tuple[str, ...]] = {
    "cg-": ("Ingest files", "Refresh domain tables", "Run Stitch", "Refresh databases"),
    "og-": ("Run orchestrations",),
    "cc-": ("Send campaign",),
}


def iso(when: datetime) -> str:
    """Amperity's timestamp format: ``2026-03-01T15:33:51.724Z``."""
    return when.strftime(_ISO_MS)[:-3] + "Z"


def wire_state(state: str, style: str) -> str:
    """*state* (normalised, e.g. ``in-progress``) as the simulator sends it: ``hyphen``
    (``in-progress``), ``underscore`` (``in_progress``) or ``display`` (``In progress``)."""
    if style == "underscore":
        return state.replace("-", "_")
    if style == "display":
        return state.replace("-", " ").capitalize()
    return state


@define
class SimConfig:
    """A courier group, orchestration group or campaign, with what its workflows do."""

    id: str
    name: str
    #: seconds from the start to the end of a workflow (without a stop)
    duration: float = 10.0
    scheduled_for: float = 1.0
    started_for: float = 1.0
    #: ``succeeded``, ``failed``, ``running-with-failures`` or an unknown state value
    outcome: str = "succeeded"
    #: ``customer`` or ``platform`` (or ``None``: no attribution) for failed workflows
    attribution: str | None = "customer"
    error_type: str = "amperity.workflow.task.stitch/table"
    error_message: str = "Table 'Customer_360' failed validation: column 'email' is missing"
    #: file-based courier groups (SFTP, S3, ...) refuse a start without ``range_from``
    file_based: bool = False
    #: the task instance labels of its workflows
    tasks: tuple[str, ...] = ()
    #: state shown while in progress (an unknown value simulates a state the plugin lacks)
    working_state: str = "in-progress"
    stopping_for: float = 0.0

    @property
    def prefix(self) -> str:
        """``cg-``, ``og-`` or ``cc-``."""
        return self.id[:3]

    @property
    def workflow_type(self) -> str:
        """The ``type`` of its workflows."""
        return KIND_TYPES[self.prefix][0]


@define
class SimRun:
    """One workflow run; its timing and outcome are fixed when it starts."""

    id: str
    config_id: str
    tenant: str
    name: str
    type: str
    started: float  # clock.monotonic() at start
    created_at: datetime
    duration: float
    scheduled_for: float
    started_for: float
    outcome: str
    attribution: str | None
    error_type: str
    error_message: str
    tasks: tuple[str, ...]
    working_state: str
    stopping_for: float
    principal_id: str
    run_mode: str | None = None
    range_from: str | None = None
    range_to: str | None = None
    stopped_at: float | None = None
    extra: dict[str, Any] = field(factory=dict)

    def state(self, now: float) -> str:
        """The normalised state at monotonic time *now*."""
        if self.stopped_at is not None and now >= self.stopped_at:
            return "stopping" if now < self.stopped_at + self.stopping_for else "canceled"
        elapsed = now - self.started
        if elapsed < self.scheduled_for:
            return "scheduled"
        if elapsed < self.scheduled_for + self.started_for:
            return "started"
        if elapsed < self.duration:
            if self.outcome == "running-with-failures" and elapsed >= self.halfway():
                return "running-with-failures"
            return self.working_state
        return "failed" if self.outcome == "running-with-failures" else self.outcome

    def halfway(self) -> float:
        """When a run that ends with failures starts showing them."""
        begin = self.scheduled_for + self.started_for
        return begin + (self.duration - begin) / 2

    def ended_after(self, now: float) -> float | None:
        """Seconds after the start at which the run ended (``None`` while it runs)."""
        state = self.state(now)
        if state == "canceled":
            return (self.stopped_at or now) + self.stopping_for - self.started
        if state in ("scheduled", "started", "stopping", "running-with-failures",
                     self.working_state):
            return None
        return max(self.duration, self.scheduled_for + self.started_for)

    def failed(self, now: float) -> bool:
        """Whether the run ended failed at *now*."""
        return self.state(now) == "failed"

    def to_json(self, now: float, style: str, verbose: bool) -> dict[str, Any]:
        """The run as ``GET /api/workflow/runs/{id}`` shows it at monotonic time *now*."""
        state = self.state(now)
        ended = self.ended_after(now)
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "state": wire_state(state, style),
            "tenant": self.tenant,
            "created_at": iso(self.created_at),
            "ended_at": iso(self.created_at + timedelta(seconds=ended))
            if ended is not None else None,
        }
        if not verbose:
            return data
        error = None
        if state == "canceled":
            error = {"attribution": "customer",
                     "type": "amperity.workflow.workflow.repository.core/cancel",
                     "message": "Workflow manually stopped", "data": None}
        elif state == "failed":
            error = {"attribution": self.attribution, "type": self.error_type,
                     "message": self.error_message, "data": None}
        data.update({
            "error": error,
            "launched_version": "etv-20260301-1-SiMvEr",
            "current_version": "etv-20260301-1-SiMvEr",
            "principal_name": "Orchestra API",
            "principal_id": self.principal_id,
            "warn_after_ms": 14_400_000,
            "task_instances": self._tasks(now, state, style),
        })
        return data

    def _tasks(self, now: float, state: str, style: str) -> list[dict[str, Any]]:
        """The task instances: they run one after another over the in-progress time."""
        if not self.tasks or state == "scheduled":
            return []
        begin = self.scheduled_for + self.started_for
        span = max(self.duration - begin, 0.0) / len(self.tasks)
        elapsed = now - self.started
        stop = None if self.stopped_at is None else self.stopped_at - self.started
        failing = state in ("failed", "running-with-failures")
        out = []
        for i, label in enumerate(self.tasks):
            t0, t1 = begin + i * span, begin + (i + 1) * span
            if elapsed < t0 or (stop is not None and stop < t0):
                break
            done = elapsed >= t1 and (stop is None or stop >= t1)
            last = i == len(self.tasks) - 1
            if stop is not None and not done:
                task_state, end = "canceled", stop
            elif not done:
                task_state, end = ("finalizing" if elapsed >= t1 - span / 10 else "running",
                                   None)
            elif failing and (last or (self.outcome == "running-with-failures"
                                       and t1 <= self.halfway() + 1e-9 and i == 0)):
                task_state, end = "failed", t1
            else:
                task_state, end = "succeeded", t1
            item: dict[str, Any] = {
                "id": f"{self.id}-t{i + 1}",
                "label": label,
                "state": wire_state(task_state, style),
                "created_at": iso(self.created_at + timedelta(seconds=t0)),
                "state_changed_at": iso(self.created_at + timedelta(
                    seconds=end if end is not None else t0)),
                "ended_at": iso(self.created_at + timedelta(seconds=end))
                if end is not None else None,
                "task_definition_id": f"td-{i + 1}",
                "task_definition_type": "amperity.workflow/task",
                "run_id": self.id,
                "timeout_ms": 3_600_000,
                "workflow_id": self.id,
                "tenant": self.tenant,
                "error": None,
            }
            if task_state == "failed":
                item["error"] = {"attribution": self.attribution, "type": self.error_type,
                                 "message": self.error_message, "data": None}
            out.append(item)
        return out


@define
class Tenant:
    """One tenant's configs and workflow runs."""

    id: str
    configs: dict[str, SimConfig] = field(factory=dict)
    runs: dict[str, SimRun] = field(factory=dict)
    #: one-shot overrides of the next workflow of a config: config id -> SimRun values
    scripted: dict[str, list[dict[str, Any]]] = field(factory=dict)
    #: token bucket of the 10 requests/s limit: (tokens, last refill at monotonic time)
    bucket: list[float] = field(factory=lambda: [10.0, float("-inf")])
    serial: int = 14418

    def start(self, config: SimConfig, *, now: float, clock_now: datetime, principal: str,
              rng: random.Random, **fields: Any) -> SimRun:
        """Create a workflow run of *config*."""
        values: dict[str, Any] = {
            "duration": config.duration, "scheduled_for": config.scheduled_for,
            "started_for": config.started_for, "outcome": config.outcome,
            "attribution": config.attribution, "error_type": config.error_type,
            "error_message": config.error_message,
            "tasks": config.tasks or DEFAULT_TASKS[config.prefix],
            "working_state": config.working_state, "stopping_for": config.stopping_for,
        }
        queue = self.scripted.get(config.id)
        if queue:
            values.update(queue.pop(0))
        self.serial += 1
        suffix = "".join(rng.choice(string.ascii_letters) for _ in range(6))
        run_id = f"wf-{clock_now:%Y%m%d}-{self.serial}-{suffix}"
        run = SimRun(id=run_id, config_id=config.id, tenant=self.id, name=config.name,
                     type=config.workflow_type, started=now, created_at=clock_now,
                     principal_id=principal, **values, **fields)
        self.runs[run_id] = run
        return run

    def take(self, now: float, rate: float, burst: float) -> bool:
        """Take one request from the tenant's token bucket (``False``: over the limit)."""
        tokens, last = self.bucket
        tokens = burst if last == float("-inf") else min(burst, tokens + (now - last) * rate)
        if tokens + 1e-9 < 1.0:
            self.bucket[:] = [tokens, now]
            return False
        self.bucket[:] = [tokens - 1.0, now]
        return True
