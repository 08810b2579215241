"""Per-vendor request rate limits, shared by every task of one host."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from attrs import field, frozen

from .._clock import SystemClock

__all__ = ("MARGIN", "RateLimit", "RateLimiter", "RateLimiters")

#: A finished request holds its slot for the window plus this share of it (1 %).
MARGIN = 0.01


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
    """A sliding-window limiter that counts requests the way the vendor's server does: never
    more than ``limit.requests`` requests may have *arrived* at the server in any
    ``limit.per`` seconds.

    A request's arrival is not visible to the client: it happens some time after the request
    took its slot (connecting, queueing, sending) and before its answer came back. So a slot is
    held from :meth:`acquire` until :meth:`release` (the answer, or the error that ended the
    request), and then for ``limit.per`` seconds more, plus a margin of :data:`MARGIN` of the
    window (a server that counts its window's edges differently). Whatever the latency, every
    request the server counts in any window of its own still holds a slot here, so the server
    never sees more than ``limit.requests`` (a 429 retry is one more arrival, and takes one
    more slot). A request that failed before anything was sent (no connection) gives its slot
    back (``release(clock, sent=False)``).

    Works across event loops and threads (no loop-bound primitives). Waiting uses the
    caller's clock, so a :class:`~orchestra_core.testing.FakeClock` drives it in tests; when a
    caller uses a clock with another time base (a different fake clock), the window restarts.
    """

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        #: when each finished request's answer came (oldest first)
        self._done: deque[float] = deque()
        #: requests that took a slot and have not been released yet
        self._in_flight = 0
        self._lock = threading.Lock()
        self._base: object = None
        #: total seconds callers waited for a slot (for logs and benchmarks)
        self.waited = 0.0

    @property
    def hold(self) -> float:
        """Seconds a finished request keeps its slot: the window and its margin."""
        return self.limit.per * (1.0 + MARGIN)

    @property
    def in_flight(self) -> int:
        """Requests that took a slot and have not been released."""
        return self._in_flight

    def _rebase(self, clock: Any) -> None:
        base = _time_base(clock)
        if base is not self._base:
            self._base = base
            self._done.clear()
            self._in_flight = 0

    def _try(self, clock: Any) -> float:
        """Take a slot now (0.0) or say how long to wait before trying again."""
        now = clock.monotonic()
        with self._lock:
            self._rebase(clock)
            hold = self.hold
            horizon = now - hold
            done = self._done
            while done and done[0] <= horizon:
                done.popleft()
            if self._in_flight + len(done) < self.limit.requests:
                self._in_flight += 1
                return 0.0
            if done:
                return max(done[0] - horizon, 1e-6)
            # every slot is in flight: none frees before its answer plus the window, unless a
            # request gives its slot back unsent (no connection): look again now and then
            return min(hold, max(1.0, self.limit.per / 100))

    async def acquire(self, clock: Any) -> float:
        """Wait (on *clock*) until a request may be sent; return the seconds waited.

        The caller must :meth:`release` the slot when the request has ended.
        """
        waited = 0.0
        while (delay := self._try(clock)) > 0:
            await clock.sleep(delay)
            waited += delay
        self.waited += waited
        return waited

    def release(self, clock: Any, *, sent: bool = True) -> None:
        """End a request that :meth:`acquire` let through: it keeps its slot for the window
        from now on (*sent*), or gives it back when nothing reached the server."""
        now = clock.monotonic()
        with self._lock:
            if _time_base(clock) is not self._base or self._in_flight <= 0:
                return  # the window restarted on another clock meanwhile
            self._in_flight -= 1
            if sent:
                done = self._done
                done.append(max(now, done[-1]) if done else now)


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
