"""Per-vendor request rate limits, shared by every task of one host."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from attrs import field, frozen

from .._clock import SystemClock

__all__ = ("RateLimit", "RateLimiter", "RateLimiters")


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
    workspace". The clients one host hands out (``host.vendor_client(...)``) with equal
    ``(vendor, key)`` share one :class:`RateLimiter` (kept in the host's
    :class:`RateLimiters`), whatever task they serve; ``key=None`` means one limit for the
    whole vendor. Two hosts never share a limiter.
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


class RateLimiters:
    """The rate limiters of one host (``Orchestra.rate_limiters``): one per
    ``(vendor, limit.key)``, created on first use.

    Each :class:`~orchestra_core.Orchestra` owns one, so the tasks of a host share a vendor's
    budget while two hosts in one process (tests, embedders) never do. Thread-safe.
    """

    def __init__(self) -> None:
        self._limiters: dict[tuple[str, str | None], RateLimiter] = {}
        self._lock = threading.Lock()

    def get(self, vendor: str, limit: RateLimit) -> RateLimiter:
        """The limiter of ``(vendor, limit.key)`` (*vendor* compared case-insensitively).

        The first caller's ``requests``/``per`` define it; a later caller with different
        numbers for the same key replaces them (the vendor's limit changed).
        """
        key = (vendor.lower(), limit.key)
        with self._lock:
            found = self._limiters.get(key)
            if found is None:
                found = self._limiters[key] = RateLimiter(limit)
            elif (found.limit.requests, found.limit.per) != (limit.requests, limit.per):
                found.limit = limit
            return found

    def __len__(self) -> int:
        """How many limiters exist."""
        return len(self._limiters)
