"""A task whose job cannot outlive this process (a local ``process``) when the engine stops:
it was stopped, and is recorded as interrupted.

Vendor jobs go on at the vendor while Orchestra is down and a resumed run re-attaches to
them; a local process cannot be re-attached by another Orchestra process, so a graceful stop
(:meth:`~orchestra_core.Engine.drain`, then :meth:`~orchestra_core.Engine.detach`) stops it
instead of leaving it unsupervised. The attempt is then ``up_for_retry`` when the task's
retries allow another attempt (the resumed run retries it), else ``failed``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from ._states import TaskState

if TYPE_CHECKING:
    from ._attempt import Attempts

__all__ = ("INTERRUPTED", "record_interrupted", "survives_detach")

#: The error of an attempt stopped by a shutdown.
INTERRUPTED = "interrupted: Orchestra stopped while the process ran, and stopped it"


def survives_detach(runner: object) -> bool:
    """Whether *runner*'s jobs go on when this process stops and can be re-attached after
    (runners say otherwise with ``reattachable = False``)."""
    return getattr(runner, "reattachable", True) is not False


async def record_interrupted(attempts: Attempts) -> None:
    """Record the attempt of *attempts* as interrupted: ``up_for_retry`` if retries allow,
    else ``failed`` (call after its job was stopped, shielded from cancellation)."""
    exe, task, number = attempts.execution, attempts.task, attempts.attempt
    now = exe.clock.now()
    meta = {"interrupted": True}
    if attempts.policy.count >= number:
        delay = attempts.policy.wait(number)
        await exe.transition(task.id, TaskState.UP_FOR_RETRY, number, error=INTERRUPTED,
                             next_attempt_at=now + timedelta(seconds=delay), meta=meta,
                             message=f"{INTERRUPTED}; retried when the run is resumed")
        exe.log(f"attempt {number} {INTERRUPTED}; it will be retried when the run is resumed",
                level="warning", task_id=task.id)
        return
    await exe.transition(task.id, TaskState.FAILED, number, ended_at=now, error=INTERRUPTED,
                         meta=meta, message=INTERRUPTED)
    exe.log(f"failed: {INTERRUPTED} (no retries left)", level="error", task_id=task.id)
