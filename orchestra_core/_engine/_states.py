"""Task states, the transitions reported to callers, and the outcome of one attempt."""

from __future__ import annotations

import enum
from typing import Any

from attrs import define, frozen

__all__ = ("BAD", "TERMINAL", "Outcome", "TaskState", "Transition")


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


#: States a task run never leaves.
TERMINAL = frozenset({TaskState.SUCCEEDED, TaskState.FAILED, TaskState.SKIPPED,
                      TaskState.CANCELLED, TaskState.TIMED_OUT})
#: Terminal states that count as a failure of the task.
BAD = frozenset({TaskState.FAILED, TaskState.CANCELLED, TaskState.TIMED_OUT})


@frozen
class Transition:
    """A committed change of one task run, passed to progress callbacks."""

    run_id: str
    task_id: str
    state: TaskState
    attempt: int
    message: str = ""


@define(slots=True)
class Outcome:
    """How one attempt ended: its state, a message, the job's metadata, and whether a
    failure may be retried (``None``: the task's retry policy decides)."""

    state: TaskState
    message: str
    metadata: dict[str, Any]
    retryable: bool | None = None

    @property
    def retry_candidate(self) -> bool:
        """A failure or time-out that the job did not declare final."""
        return (self.state in (TaskState.FAILED, TaskState.TIMED_OUT)
                and self.retryable is not False)
