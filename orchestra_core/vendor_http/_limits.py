"""Per-vendor request rate limits, shared by every task of a process."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from attrs import field, frozen

from .._clock import SystemClock

__all__ = ("RateLimit", "RateLimiter", "rate_limiter", "reset_rate_limiters")


def _positive_int(_: Any, attribute: Any, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, not {value!r}")


def _positive(_: Any, attribute: Any, value: float) -> None:
    if not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{attribute.name} must be a positive number, not {value!r}")


@frozen
class RateLimit:
    """At most *requests* requests per *per* seconds, for one vendor account.

    ``RateLimit(200, 10, key=workspace_id)`` is Hightouch's "200 requests per 10 s per
    workspace". Clients with equal ``(vendor, key)`` share one :class:`RateLimiter` in the
    process, whatever client, task or host they belong to; ``key=None`` means one limit for
    the whole vendor.
    """

    requests: int = field(validator=_positive_int)
    per: float = field(validator=_positive)
    key: str | None = None


def _time_base(clock: Any) -> object:
    """What makes two clocks' ``monotonic()`` comparable: all real clocks share one base."""
    return SystemClock if isinstance(clock, SystemClock) else clock


class RateLimiter:
    """A sliding-window limiter: never more than ``limit.requests`` requests were let through
    in any ``limit.per`` seconds of the clock passed to :meth:`acquire`.

    Works across event loops and threads (no loop-bound primitives). Waiting uses the
    caller's clock, so a :class:`~orchestra_core.testing.FakeClock` drives it in tests; when a
    caller uses a clock with another time base (a different fake clock), the window restarts.
    """

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self._base: object = None
        #: total seconds callers waited for a slot (for logs and benchmarks)
        self.waited = 0.0

    def _try(self, clock: Any) -> float:
        """Take a slot now (0.0) or say how long to wait before trying again."""
        now = clock.monotonic()
        with self._lock:
            base = _time_base(clock)
            if base is not self._base:
                self._base = base
                self._sent.clear()
            horizon = now - self.limit.per
            sent = self._sent
            while sent and sent[0] <= horizon:
                sent.popleft()
            if len(sent) < self.limit.requests:
                sent.append(now)
                return 0.0
            return max(sent[0] - horizon, 1e-6)

    async def acquire(self, clock: Any) -> float:
        """Wait (on *clock*) until a request may be sent; return the seconds waited."""
        waited = 0.0
        while (delay := self._try(clock)) > 0:
            await clock.sleep(delay)
            waited += delay
        self.waited += waited
        return waited


_registry: dict[tuple[str, str | None], RateLimiter] = {}
_registry_lock = threading.Lock()


def rate_limiter(vendor: str, limit: RateLimit) -> RateLimiter:
    """The process-wide limiter of ``(vendor, limit.key)``, created on first use.

    The first caller's ``requests``/``per`` define it; a later caller with different numbers
    for the same key replaces them (the vendor's limit changed).
    """
    key = (vendor.lower(), limit.key)
    with _registry_lock:
        found = _registry.get(key)
        if found is None:
            found = _registry[key] = RateLimiter(limit)
        elif (found.limit.requests, found.limit.per) != (limit.requests, limit.per):
            found.limit = limit
        return found


def reset_rate_limiters() -> None:
    """Forget every limiter and its window (tests)."""
    with _registry_lock:
        _registry.clear()
