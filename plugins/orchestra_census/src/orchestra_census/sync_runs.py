"""What a Census sync run's JSON means: its outcome class and the facts kept as metadata.

``GET /api/v1/sync_runs/{id}`` answers ``{"status": "success", "data": {...}}``; the run's
own state is ``data.status`` (the envelope's ``status`` is always ``success``: reading it
instead is the bug Dagster once shipped). Known values:

=============  ==========================================  =================
``status``     meaning                                     class
=============  ==========================================  =================
``queued``     waiting for execution                       in progress
``working``    executing                                   in progress
``completed``  finished successfully                       succeeded
``failed``     failed during execution                     failed
``skipped``    an earlier run of the sync was still going  skipped
=============  ==========================================  =================

``canceled: true`` means cancelled, whatever ``status`` says. Any other value raises
:class:`UnknownSyncRunStatus`: Census added ``preparing`` once and clients that treated it as
finished ran downstream work early, so an unknown value is never guessed at.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from orchestra_core import TaskFailed

__all__ = (
    "FIELDS",
    "IN_PROGRESS",
    "KNOWN_STATUSES",
    "STATS",
    "RunClass",
    "UnknownSyncRunStatus",
    "classify",
    "error_text",
    "run_metadata",
    "summary",
)

#: ``data.status`` values of a run that has not finished.
IN_PROGRESS = frozenset({"queued", "working"})
#: Every ``data.status`` value this plugin understands.
KNOWN_STATUSES = IN_PROGRESS | {"completed", "failed", "skipped"}

#: The sync run's record counters, kept in the task run's metadata when present.
STATS = (
    "source_record_count",
    "source_record_updates",
    "source_record_deletes",
    "source_record_invalids",
    "records_processed",
    "records_updated",
    "records_failed",
    "records_invalid",
)
#: Other sync-run fields kept in the metadata.
FIELDS = (
    "status",
    "canceled",
    "full_sync",
    "created_at",
    "updated_at",
    "completed_at",
    "scheduled_execution_time",
    "current_step",
    "error_code",
    "error_message",
    "error_detail",
    "sync_trigger_reason",
)


class RunClass(enum.StrEnum):
    """Where a sync run stands, as Orchestra sees it."""

    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class UnknownSyncRunStatus(TaskFailed):
    """Census answered with a sync-run ``status`` this plugin does not know.

    Not retryable (a retry would trigger the sync again and see the same value). ``payload``
    holds the run's JSON with the secrets registered with *redactor* (the host's) masked.
    """

    def __init__(self, run_id: Any, status: Any, payload: Any, redactor: Any = None) -> None:
        self.status = status
        self.payload = redactor.mask_obj(payload) if redactor is not None else payload
        super().__init__(
            f"Census sync run {run_id} has status {status!r}, which this plugin does not know "
            f"(known: {', '.join(sorted(KNOWN_STATUSES))}); refusing to guess whether it "
            "finished. Upgrade orchestra-census, or report the value if it is new",
            retryable=False,
            metadata={"sync_run_id": run_id, "status": status},
        )


def classify(run: Mapping[str, Any], redactor: Any = None) -> RunClass:
    """The class of sync run *run* (the ``data`` object of ``GET /sync_runs/{id}``).

    :raises UnknownSyncRunStatus: when ``status`` is not one of :data:`KNOWN_STATUSES`
        (and the run is not cancelled); its ``payload`` is masked with *redactor* (the
        host's ``host.redactor``) when given.
    """
    if run.get("canceled") is True:
        return RunClass.CANCELLED
    status = run.get("status")
    if status in IN_PROGRESS:
        return RunClass.IN_PROGRESS
    if status == "completed":
        return RunClass.SUCCEEDED
    if status == "failed":
        return RunClass.FAILED
    if status == "skipped":
        return RunClass.SKIPPED
    raise UnknownSyncRunStatus(run.get("id"), status, run, redactor)


def run_metadata(run: Mapping[str, Any]) -> dict[str, Any]:
    """The facts of sync run *run* worth keeping with the task run (stats, times, errors)."""
    meta: dict[str, Any] = {"sync_run_id": run.get("id"), "sync_id": run.get("sync_id")}
    for key in (*FIELDS, *STATS):
        if key in run:
            meta[key] = run[key]
    return meta


def summary(run: Mapping[str, Any]) -> str:
    """A one-line human summary of a finished run's counters, e.g. ``"120 records processed,
    118 updated, 2 failed"``; empty when Census reported none."""
    parts = []
    processed = run.get("records_processed")
    if isinstance(processed, int):
        parts.append(f"{processed} records processed")
    for key, label in (("records_updated", "updated"), ("records_failed", "failed"),
                       ("records_invalid", "invalid")):
        value = run.get(key)
        if isinstance(value, int) and (value or key == "records_updated"):
            parts.append(f"{value} {label}")
    return ", ".join(parts)


def error_text(run: Mapping[str, Any]) -> str:
    """The run's error as Census words it (``error_message``, else ``error_detail``, else the
    code), or an empty string."""
    for key in ("error_message", "error_detail", "error_code"):
        value = run.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""
