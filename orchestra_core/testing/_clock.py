"""Clocks: the real one and a fake one for tests (no sleeps, deterministic)."""

from __future__ import annotations

import contextlib
import heapq
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import anyio

from .._clock import SystemClock

__all__ = ("FakeClock", "SystemClock")


async def _all_tasks_blocked() -> None:
    """Return once every other task waits on something (anyio's own helper polls every
    0.1 s on asyncio, which makes fake time crawl)."""
    import sniffio

    if sniffio.current_async_library() == "trio":
        import trio.testing

        await trio.testing.wait_all_tasks_blocked()
        return
    import asyncio

    me = asyncio.current_task()
    calm = 0
    while True:
        await asyncio.sleep(0)
        if all(t is me or t.done() or (t._fut_waiter is not None and not t._fut_waiter.done())
               for t in asyncio.all_tasks()):
            # a finished task wakes its waiter through callbacks a loop pass or two later
            # (asyncio.wait, task groups): only a state that lasts is really blocked
            calm += 1
            if calm >= 3:
                return
        else:
            calm = 0


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
        self._busy = 0
        self._idle: anyio.Event | None = None

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
        entry = (self._mono + seconds, next(self._seq), event)
        heapq.heappush(self._sleepers, entry)
        try:
            await event.wait()
        finally:
            if not event.is_set():  # cancelled: forget the deadline
                self._sleepers.remove(entry)
                heapq.heapify(self._sleepers)

    def busy(self, delta: int) -> None:
        """Mark work in flight outside the event loop (a database write in a thread): the
        :meth:`driving` loop does not move time while any is in flight."""
        self._busy += delta
        if self._busy == 0 and self._idle is not None:
            self._idle.set()

    @contextlib.asynccontextmanager
    async def driving(self) -> AsyncIterator[FakeClock]:
        """Within this block, whenever every task is blocked and nothing is :meth:`busy`,
        jump to the earliest sleeper's deadline: time passes as fast as the code allows,
        in the right order, deterministically."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._drive)
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()

    async def _drive(self) -> None:
        while True:
            await _all_tasks_blocked()
            if self._busy:
                self._idle = anyio.Event()
                await self._idle.wait()
                continue
            if not self._sleepers:
                await anyio.sleep(0.0005)
                continue
            self._move(max(0.0, self._sleepers[0][0] - self._mono))
            await anyio.lowlevel.checkpoint()

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
