"""Clocks: the real one and a fake one for tests (no sleeps, deterministic)."""

from __future__ import annotations

import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta

import anyio

__all__ = ("FakeClock", "SystemClock")


class SystemClock:
    """The real clock: UTC wall time, a monotonic counter and ``anyio.sleep``."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, never going backwards."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep for *seconds* of real time."""
        await anyio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that only moves when told to.

    ``await clock.sleep(s)`` blocks until :meth:`advance` moves the clock past its deadline.
    With ``autojump=True`` a sleep instead moves the clock to its own deadline at once, so code
    that sleeps runs instantly while still seeing time pass in order.

    :param start: the initial UTC time (default 2026-01-01T00:00:00Z).
    """

    def __init__(self, start: datetime | None = None, *, autojump: bool = False) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = 0.0
        self.autojump = autojump
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        """The fake current UTC time."""
        return self._now

    def monotonic(self) -> float:
        """Seconds advanced since the clock was made."""
        return self._mono

    @property
    def sleepers(self) -> int:
        """How many ``sleep`` calls are waiting."""
        return len(self._sleepers)

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has advanced *seconds* (at once with ``autojump``)."""
        seconds = max(0.0, seconds)
        if self.autojump:
            self._move(seconds)
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), event))
        await event.wait()

    def advance(self, seconds: float) -> None:
        """Move the clock forward *seconds*, waking every sleeper whose deadline passed."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._move(seconds)

    def set(self, when: datetime) -> None:
        """Move the clock forward to *when*."""
        self.advance((when - self._now).total_seconds())

    def _move(self, seconds: float) -> None:
        self._mono += seconds
        self._now += timedelta(seconds=seconds)
        while self._sleepers and self._sleepers[0][0] <= self._mono:
            _, _, event = heapq.heappop(self._sleepers)
            event.set()
