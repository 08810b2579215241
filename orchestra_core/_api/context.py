"""What every handler of one API app shares: the host, the store and the library objects the
CLI uses too (registry, secrets, queues, notifications, tokens, audit log)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .._notifications import NotificationLog
from .._queues import Queues
from .._scheduling.registry import PipelineRegistry
from .._secrets import Secrets
from .audit import AuditLog
from .tokens import ApiTokens

__all__ = ("ApiContext",)


class ApiContext:
    """The API's view of one host and store."""

    def __init__(self, host: Any, store: Any, *, clock: Any = None,
                 max_body_bytes: int = 1 << 20) -> None:
        self.host = host
        self.store = store
        self.clock = clock
        self.redactor = host.redactor
        self.max_body_bytes = max_body_bytes
        self.tokens = ApiTokens(store)
        self.audit = AuditLog(store, self.redactor)
        self.registry = PipelineRegistry(store, clock=clock)
        self.secrets = Secrets(store, host=host)
        self.queues = Queues(store, identity="api", clock=clock)
        self.notifications = NotificationLog(store, redactor=self.redactor)

    def now(self) -> datetime:
        """The current time (from the clock given, else the system's)."""
        return self.clock.now() if self.clock is not None else datetime.now(UTC)
