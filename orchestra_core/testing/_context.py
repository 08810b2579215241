"""A stand-in TaskContext for driving a job runner directly in tests."""

from __future__ import annotations

from typing import Any

from ._clock import FakeClock

__all__ = ("StubContext",)


class StubContext:
    """Satisfies :class:`~orchestra_core.TaskContext` without an engine.

    Records what the runner logs (``logs``: ``(level, message)`` pairs), sleeps
    (``sleeps``) and trigger intents (``intents``; *intent* is the one a resumed attempt
    starts with); time comes from *clock* (a ``FakeClock(autojump=True)`` by default, so
    sleeps return at once); ``next_event`` sleeps out its timeout and returns ``None``
    (no webhooks), so runners fall back to polling.
    """

    def __init__(self, parameters: Any, *, attempt: int = 1, clock: Any = None,
                 connection: Any = None, task_id: str = "a", task: Any = None,
                 run_id: str = "run-1", pipeline: str = "p", run_type: str = "full",
                 started_at: Any = None, intent: Any = None) -> None:
        self.task_id = task_id
        self.run_id = run_id
        self.pipeline = pipeline
        self.attempt = attempt
        self.task = task
        self.parameters = parameters
        self.idempotency_key = f"{run_id}/{task_id}/{attempt}"
        self.connection = connection
        self.run_type = run_type
        self.started_at = started_at
        #: the :class:`~orchestra_core.Intent` recorded (or handed in, as after a resume)
        self.intent = intent
        #: every intent recorded through this context, in order
        self.intents: list[Any] = []
        self.clock = clock if clock is not None else FakeClock(autojump=True)
        self.logs: list[tuple[str, str]] = []
        self.sleeps: list[float] = []
        #: every alert raised through :meth:`notify`: ``(kind, message, data)``
        self.notifications: list[tuple[str, str, dict[str, Any]]] = []

    async def record_intent(self, facts: Any = None) -> Any:
        """Record the intent in memory (``intent``, ``intents``)."""
        from .._models import Intent

        self.intent = Intent(recorded_at=self.clock.now(), facts=dict(facts or {}))
        self.intents.append(self.intent)
        return self.intent

    def log(self, message: str, *, level: str = "info") -> None:
        """Record a log line."""
        self.logs.append((level, message))

    async def sleep(self, seconds: float) -> None:
        """Record and sleep on the clock."""
        self.sleeps.append(seconds)
        await self.clock.sleep(seconds)

    def now(self) -> Any:
        """The clock's time."""
        return self.clock.now()

    async def next_event(self, key: str, timeout: float) -> Any:
        """No webhooks here: wait out *timeout*, then ``None``."""
        await self.sleep(timeout)
        return None

    async def notify(self, kind: str, message: str, data: Any = None) -> list[str]:
        """Record the alert (``notifications``); no channels here."""
        self.notifications.append((kind, message, dict(data or {})))
        return []
