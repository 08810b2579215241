"""The :class:`~orchestra_core.TaskContext` the engine hands runners."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from attrs import define

from .._models import Intent, WebhookEvent
from .._store import TaskUpdate

if TYPE_CHECKING:
    from ._execution import Execution

__all__ = ("RunnerContext",)


@define(slots=True)
class RunnerContext:
    """One attempt of one task, as its runner sees it (see ``TaskContext``)."""

    execution: Execution
    task_id: str
    attempt: int
    task: Any
    parameters: Any
    connection: Any = None
    #: when this attempt began running (kept across a resume)
    started_at: datetime | None = None
    #: what the runner recorded just before its trigger (``record_intent``); after a resume,
    #: the one the interrupted process recorded for this attempt, or ``None``
    intent: Intent | None = None

    async def record_intent(self, facts: Any = None) -> Intent:
        """Record durably, before the trigger is sent, that this attempt is about to trigger,
        with *facts* (what the vendor said just before); returns once it is committed."""
        exe = self.execution
        intent = Intent(recorded_at=exe.clock.now(), facts=dict(facts or {}))
        await exe.committer.write(TaskUpdate(exe.run_id, self.task_id, {
            "intent": intent.to_json(), "updated_at": intent.recorded_at}))
        self.intent = intent
        return intent

    @property
    def idempotency_key(self) -> str:
        """Stable for this attempt, also after a crash and resume: ``run/task/attempt``."""
        return f"{self.execution.run_id}/{self.task_id}/{self.attempt}"

    @property
    def run_id(self) -> str:
        """The pipeline run's id."""
        return self.execution.run_id

    @property
    def pipeline(self) -> str:
        """The pipeline's name."""
        return self.execution.pipeline.name

    @property
    def store(self) -> Any:
        """The engine's store (the ``process`` built-in hands its URL to the process)."""
        return self.execution.engine.store

    @property
    def clock(self) -> Any:
        """The engine's clock (the vendor HTTP layer times rate limits with it)."""
        return self.execution.clock

    @property
    def scheduled_at(self) -> datetime | None:
        """The time the run stands for (its trigger's fire time), in UTC."""
        return self.execution.scheduled_at

    @property
    def run_type(self) -> str:
        """The pipeline run's type: ``full``, ``refresh`` or ``source`` (a plain string)."""
        return self.execution.run_type.value

    def log(self, message: str, *, level: str = "info") -> None:
        """Append a line to the run log."""
        self.execution.log(message, level=level, task_id=self.task_id)

    async def sleep(self, seconds: float) -> None:
        """Sleep on the engine's clock (at most the engine's ``sleep_cap``)."""
        await self.execution.clock.sleep(self._capped(seconds))

    def _capped(self, seconds: float) -> float:
        cap = getattr(self.execution.engine, "sleep_cap", None)
        return seconds if cap is None else min(seconds, cap)

    def now(self) -> datetime:
        """The engine clock's time."""
        return self.execution.clock.now()

    async def next_event(self, key: str, timeout: float) -> WebhookEvent | None:
        """The next webhook event published for *key*, or ``None`` after *timeout*."""
        return await self.execution.events.next(key, self._capped(timeout),
                                                 self.execution.clock)

    async def notify(self, kind: str, message: str, data: Any = None) -> list[str]:
        """Raise the pipeline alert *kind* about this task (once per run and task)."""
        exe = self.execution
        return await exe.engine.alerter.fire(
            exe.pipeline.alerts, kind, pipeline=exe.pipeline.name, run_id=exe.run_id,
            message=message, data={"task_id": self.task_id, **dict(data or {})},
            log=lambda text, level="info": exe.log(text, level=level, task_id=self.task_id),
            subject=self.task_id)
