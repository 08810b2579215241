"""What every handler of one API app shares: the host, the store and the library objects the
CLI uses too (registry, secrets, queues, notifications, tokens, audit log)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import anyio

from .._notifications import NotificationLog
from .._queues import Queues
from .._scheduling.registry import PipelineRegistry
from .._secrets import Secrets
from .audit import AuditLog
from .tokens import ApiTokens, TokenInfo, hash_token

__all__ = ("TOKEN_CACHE_SECONDS", "ApiContext")

log = logging.getLogger("orchestra.api")

#: How long a token's verification is remembered: a revoked token is refused at most this
#: long after ``orchestra tokens revoke``.
TOKEN_CACHE_SECONDS = 5.0
_MISSING = object()
#: Request handlers running at once, each in its own thread.
HANDLER_THREADS = 8


class ApiContext:
    """The API's view of one host and store."""

    def __init__(self, host: Any, store: Any, *, clock: Any = None,
                 max_body_bytes: int = 1 << 20, on_runs: Any = None) -> None:
        self.host = host
        self.on_runs = on_runs
        self.store = store
        self.clock = clock
        self.redactor = host.redactor
        self.max_body_bytes = max_body_bytes
        self.tokens = ApiTokens(store)
        #: held from the version check of an apply to its write (one server process)
        self.apply_lock = threading.Lock()
        #: handlers running at once (each holds a store connection; more only queue on
        #: the connection pool and the GIL)
        self.limiter = anyio.CapacityLimiter(HANDLER_THREADS)
        self._tokens: dict[str, tuple[float, TokenInfo | None]] = {}  # by the token's hash
        self.audit = AuditLog(store, self.redactor)
        self.registry = PipelineRegistry(store, clock=clock)
        self.secrets = Secrets(store, host=host)
        self.queues = Queues(store, identity="api", clock=clock)
        self.notifications = NotificationLog(store, redactor=self.redactor)

    def cached_token(self, token: str) -> Any:
        """The remembered verification of *token* (a ``TokenInfo`` or ``None``), or
        ``MISSING`` when it must be looked up (:meth:`verify`)."""
        found = self._tokens.get(hash_token(token))
        if found is None or found[0] < time.monotonic():
            return _MISSING
        return found[1]

    def verify(self, token: str) -> TokenInfo | None:
        """Look *token* up in the store and remember the answer for a few seconds."""
        info = self.tokens.verify(token)
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[hash_token(token)] = (time.monotonic() + TOKEN_CACHE_SECONDS, info)
        return info

    MISSING = _MISSING

    def queued(self, run_id: str) -> None:
        """Tell the worker pool (if the app was given one) that *run_id* is pending."""
        if self.on_runs is not None:
            try:
                self.on_runs([run_id])
            except Exception as exc:  # the run is queued anyway: the pool finds it later
                log.warning("could not wake the worker pool: %s", type(exc).__name__)

    def now(self) -> datetime:
        """The current time (from the clock given, else the system's)."""
        return self.clock.now() if self.clock is not None else datetime.now(UTC)
