"""The simulated Census workspace: syncs, sync runs, webhooks, all driven by a clock.

A sync run's status is computed from the clock when asked: ``queued`` for the run's
``queued_for`` seconds, then ``working`` for ``working_for`` seconds, then its outcome
(``completed``, ``failed``, or any other string to simulate a status value this plugin does
not know). A run triggered while another run of the same sync is active ends ``skipped``
once its queue time is over. Cancelling sets ``canceled: true`` and ends the run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from attrs import define, field

__all__ = ("SimRun", "SimSync", "Workspace", "iso")

_ISO_MS = "%Y-%m-%dT%H:%M:%S.%f"


def iso(when: datetime) -> str:
    """Census's timestamp format: ``2026-03-01T02:51:07.546Z``."""
    return when.strftime(_ISO_MS)[:-3] + "Z"


@define
class SimSync:
    """A sync of the simulated workspace, with the defaults its runs get."""

    id: int
    label: str
    operation: str = "upsert"
    paused: bool = False
    source_connection_id: int = 4
    source_object: str = "analytics.users"
    destination_connection_id: int = 15
    destination_object: str = "contact"
    #: seconds a new run stays ``queued`` / ``working``
    queued_for: float = 1.0
    working_for: float = 5.0
    #: final ``status`` of its runs: ``completed``, ``failed`` or an unknown value
    outcome: str = "completed"
    #: ``status`` shown while executing (``preparing`` simulates an unknown value)
    working_status: str = "working"
    records: int = 100
    records_failed: int = 0
    error_code: str = "SYNC_FAILED"
    error_message: str = "The destination rejected the batch: invalid field 'email'"
    created_at: str = "2026-01-01T00:00:00.000Z"

    def to_json(self) -> dict[str, Any]:
        """The sync as ``GET /api/v1/syncs/{id}`` shows it."""
        return {
            "id": self.id,
            "label": self.label,
            "schedule_frequency": "never",
            "schedule_day": None,
            "schedule_hour": None,
            "schedule_minute": None,
            "created_at": self.created_at,
            "updated_at": self.created_at,
            "operation": self.operation,
            "paused": self.paused,
            "status": "Paused" if self.paused else "Ready",
            "trigger_on_dbt_cloud_rebuild": False,
            "field_behavior": "specific_properties",
            "field_normalization": None,
            "mirror_strategy": None,
            "source_attributes": {
                "connection_id": self.source_connection_id,
                "object": {"type": "table", "id": self.id * 10, "name": self.source_object},
            },
            "destination_attributes": {
                "connection_id": self.destination_connection_id,
                "object": self.destination_object,
            },
            "mappings": [],
        }


@define
class SimRun:
    """One sync run: its timing and outcome are fixed when it is triggered."""

    id: int
    sync_id: int
    started: float  # clock.monotonic() at trigger
    created_at: datetime
    queued_for: float
    working_for: float
    outcome: str
    working_status: str
    full_sync: bool
    records: int
    records_failed: int
    error_code: str
    error_message: str
    skipped: bool = False
    trigger: str = "API"
    canceled_at: float | None = None
    #: the lifecycle events already sent for this run (webhook bookkeeping)
    sent: list[str] = field(factory=list)

    def phase(self, now: float) -> str:
        """``queued``, ``working``, ``done`` or ``canceled`` at monotonic time *now*."""
        if self.canceled_at is not None and now >= self.canceled_at:
            return "canceled"
        elapsed = now - self.started
        if elapsed < self.queued_for:
            return "queued"
        if self.skipped:
            return "done"
        if elapsed < self.queued_for + self.working_for:
            return "working"
        return "done"

    def ended_after(self) -> float:
        """Seconds after the trigger at which the run ends (without a cancel)."""
        return self.queued_for + (0.0 if self.skipped else self.working_for)

    def to_json(self, now: float, clock_now: datetime, cancelled_status: str) -> dict[str, Any]:
        """The run as ``GET /api/v1/sync_runs/{id}`` shows it at monotonic time *now*."""
        phase = self.phase(now)
        done = phase in ("done", "canceled")
        if phase == "canceled":
            status = cancelled_status
        elif phase == "queued":
            status = "queued"
        elif phase == "working":
            status = self.working_status
        else:
            status = "skipped" if self.skipped else self.outcome
        if phase == "canceled":
            ended = self.created_at + timedelta(seconds=(self.canceled_at or now) - self.started)
        else:
            ended = self.created_at + timedelta(seconds=self.ended_after())
        updated = ended if done else clock_now
        succeeded = status == "completed" and phase == "done"
        failed_run = phase == "done" and not self.skipped and self.outcome == "failed"
        worked = phase == "done" and not self.skipped and self.outcome != "failed"
        data: dict[str, Any] = {
            "id": self.id,
            "sync_id": self.sync_id,
            "status": status,
            "canceled": phase == "canceled",
            "full_sync": self.full_sync,
            "created_at": iso(self.created_at),
            "updated_at": iso(updated),
            "completed_at": iso(ended) if succeeded else None,
            "scheduled_execution_time": None,
            "current_step": None if done else ("Queued" if phase == "queued" else "Running sync"),
            "error_code": None,
            "error_message": None,
            "error_detail": None,
            "source_record_count": self.records if phase != "queued" else None,
            "source_record_updates": self.records if worked else None,
            "source_record_deletes": 0 if worked else None,
            "source_record_invalids": 0 if worked else None,
            "records_processed": self.records if worked else None,
            "records_updated": self.records - self.records_failed if worked else None,
            "records_failed": self.records_failed if worked else None,
            "records_invalid": 0,
            "sync_trigger_reason": {
                "ui_tag": self.trigger,
                "ui_detail": "Triggered via API" if self.trigger == "API"
                else "Triggered by the schedule",
            },
        }
        if failed_run:
            data.update(error_code=self.error_code, error_message=self.error_message,
                        error_detail=self.error_message, current_step="Running sync")
        elif phase == "done" and self.skipped:
            data.update(error_message="An earlier instance of the sync is still running, so "
                        "this run was skipped")
        elif phase == "canceled":
            data.update(error_message="Sync run was canceled")
        return data


@define
class Workspace:
    """The simulated workspace's data: syncs, runs and webhooks.

    :ivar workspace_id: sent in every webhook payload.
    :ivar cancelled_status: the ``status`` a cancelled run reports next to ``canceled: true``
        (the vendor does not document it; ``failed`` by default).
    """

    workspace_id: int = 3167
    syncs: dict[int, SimSync] = field(factory=dict)
    runs: dict[int, SimRun] = field(factory=dict)
    next_run_id: int = 324399600
    cancelled_status: str = "failed"
    #: one-shot overrides for the next run of a sync: sync id -> SimRun field values
    scripted: dict[int, list[dict[str, Any]]] = field(factory=dict)

    def add_sync(self, sync_id: int, label: str | None = None, **options: Any) -> SimSync:
        """Add (or replace) sync *sync_id*; *options* are :class:`SimSync` fields."""
        sync = SimSync(id=sync_id, label=label or f"sync {sync_id}", **options)
        self.syncs[sync_id] = sync
        return sync

    def script(self, sync_id: int, **run: Any) -> None:
        """Make the next run of *sync_id* use these values (``outcome``, ``queued_for``,
        ``working_for``, ``working_status``, ``records``, ...), once."""
        self.scripted.setdefault(sync_id, []).append(run)

    def active_run(self, sync_id: int, now: float) -> SimRun | None:
        """The run of *sync_id* that is queued or working at *now*, if any."""
        for run in self.runs.values():
            if run.sync_id == sync_id and not run.skipped and run.phase(now) in (
                    "queued", "working"):
                return run
        return None

    def trigger(self, sync: SimSync, *, now: float, clock_now: datetime, full_sync: bool,
                trigger: str = "API") -> SimRun:
        """Create a run of *sync* (skipped when another one is active)."""
        overrides = self.scripted.get(sync.id, [])
        values: dict[str, Any] = {
            "queued_for": sync.queued_for, "working_for": sync.working_for,
            "outcome": sync.outcome, "working_status": sync.working_status,
            "records": sync.records, "records_failed": sync.records_failed,
            "error_code": sync.error_code, "error_message": sync.error_message,
        }
        if overrides:
            values.update(overrides.pop(0))
        skipped = self.active_run(sync.id, now) is not None
        self.next_run_id += 1
        run = SimRun(id=self.next_run_id, sync_id=sync.id, started=now, created_at=clock_now,
                     full_sync=full_sync, skipped=skipped, trigger=trigger, **values)
        self.runs[run.id] = run
        return run

    def runs_of(self, sync_id: int, *, descending: bool = True) -> list[SimRun]:
        """The runs of *sync_id*, newest first unless *descending* is false."""
        runs = [r for r in self.runs.values() if r.sync_id == sync_id]
        return sorted(runs, key=lambda r: r.id, reverse=descending)

    def due_events(self, run: SimRun, now: float) -> list[str]:
        """The lifecycle events *run* has reached by monotonic time *now*, in order."""
        phase = run.phase(now)
        due = ["sync.triggered"]
        started = phase == "working" or (phase == "done" and not run.skipped) or (
            phase == "canceled" and run.canceled_at is not None
            and run.canceled_at - run.started >= run.queued_for)
        if started:
            due.append("sync.started")
        if phase in ("done", "canceled"):
            ok = phase == "done" and not run.skipped and run.outcome == "completed"
            due += ["sync.completed", "sync.success" if ok else "sync.failed"]
        return due

    def payload(self, run: SimRun, kind: str, now: float) -> dict[str, Any] | None:
        """The webhook payload of event *kind* of *run*, once: ``None`` when the event has
        not happened by *now* (or will not: a cancelled run never starts) or was sent."""
        if kind in run.sent or kind not in self.due_events(run, now):
            return None
        run.sent.append(kind)
        data: dict[str, Any] = {"workspace_id": self.workspace_id, "sync_id": run.sync_id,
                                "sync_run_id": run.id, "event": kind}
        if kind == "sync.completed":
            data["status"] = "emergency" if "sync.failed" in self.due_events(run, now) \
                else "ok"
        return data
