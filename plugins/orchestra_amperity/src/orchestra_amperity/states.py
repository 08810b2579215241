"""Amperity workflow states: normalisation and what each one means for a task.

Amperity's documentation lists display values (``Scheduled``, ``In progress``, ``Running with
failures``, ...) and shows single words in lower case on the wire; the wire form of the
multi-word states is not documented. :func:`normalise_state` therefore folds every spelling
(``"In progress"``, ``"in_progress"``, ``"IN-PROGRESS"``) to one form (``"in-progress"``), and
:func:`classify` maps it, raising :class:`UnknownWorkflowState` for anything else: a state
this plugin does not know is an error, never a guess.
"""

from __future__ import annotations

import enum
from typing import Any

from orchestra_core import TaskFailed

__all__ = (
    "KNOWN_STATES",
    "WORKFLOW_TYPES",
    "UnknownWorkflowState",
    "WorkflowClass",
    "classify",
    "normalise_state",
)


class WorkflowClass(enum.Enum):
    """What a normalised workflow state means for the waiting task."""

    QUEUED = "queued"  #: scheduled
    RUNNING = "running"  #: started, in-progress
    DEGRADED = "degraded"  #: running-with-failures: still running, most likely ends failed
    STOPPING = "stopping"  #: a stop was requested
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"  #: stopped, canceled


#: Every workflow state the plugin knows (normalised), with its class.
KNOWN_STATES: dict[str, WorkflowClass] = {
    "scheduled": WorkflowClass.QUEUED,
    "started": WorkflowClass.RUNNING,
    "in-progress": WorkflowClass.RUNNING,
    "running-with-failures": WorkflowClass.DEGRADED,
    "stopping": WorkflowClass.STOPPING,
    "succeeded": WorkflowClass.SUCCEEDED,
    "failed": WorkflowClass.FAILED,
    "stopped": WorkflowClass.CANCELLED,
    "canceled": WorkflowClass.CANCELLED,
    "cancelled": WorkflowClass.CANCELLED,
}

#: The workflow ``type`` a run of each config id prefix has (the filter of the runs list).
WORKFLOW_TYPES: dict[str, str] = {
    "cg-": "courier.group/run",
    "og-": "amperity.orchestration.orchestration/run",
    "cc-": "campaign.send",
}


class UnknownWorkflowState(TaskFailed):
    """Amperity reported a workflow state this plugin does not know (never retried).

    :ivar state: the raw value as Amperity sent it.
    """

    def __init__(self, message: str, *, state: Any, metadata: dict[str, Any] | None = None
                 ) -> None:
        self.state = state
        super().__init__(message, retryable=False, metadata=metadata or {})


def normalise_state(state: Any) -> str | None:
    """``state.lower().replace(" ", "-").replace("_", "-")`` (stripped); ``None`` for a
    value that is not a non-empty string."""
    if not isinstance(state, str) or not state.strip():
        return None
    return state.strip().lower().replace(" ", "-").replace("_", "-")


def classify(state: Any) -> WorkflowClass | None:
    """The class of a raw workflow *state*, or ``None`` when the plugin does not know it."""
    normal = normalise_state(state)
    return KNOWN_STATES.get(normal) if normal is not None else None
