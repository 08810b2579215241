"""A first-come, first-served async readers/writer lock: how ``blocking: true`` processes run
alone while the others run side by side."""

from __future__ import annotations

from collections import deque
from typing import Any

import anyio

__all__ = ("ReadersWriterLock",)


class ReadersWriterLock:
    """A first-come, first-served async readers/writer lock (anyio, no owner tracking).

    Any number of shared holders, or one exclusive holder. Waiters are served in arrival
    order, so a waiting exclusive acquirer is not starved: shared acquirers arriving after it
    queue behind it.
    """

    def __init__(self) -> None:
        self.readers = 0
        self.writer = False
        self._waiters: deque[list[Any]] = deque()  # [exclusive, event, granted]

    def would_wait(self, exclusive: bool) -> bool:
        """Whether :meth:`acquire` would have to wait right now."""
        return bool(self._waiters) or not self._free(exclusive)

    def _free(self, exclusive: bool) -> bool:
        return not self.writer and (not exclusive or self.readers == 0)

    def _grant(self, exclusive: bool) -> None:
        if exclusive:
            self.writer = True
        else:
            self.readers += 1

    def _wake(self) -> None:
        while self._waiters and self._free(self._waiters[0][0]):
            waiter = self._waiters.popleft()
            self._grant(waiter[0])
            waiter[2] = True
            waiter[1].set()

    async def acquire(self, exclusive: bool) -> None:
        """Take the lock, shared or *exclusive*; cancellable while waiting."""
        if not self.would_wait(exclusive):
            self._grant(exclusive)
            return
        waiter = [exclusive, anyio.Event(), False]
        self._waiters.append(waiter)
        try:
            await waiter[1].wait()
        except BaseException:
            if waiter[2]:  # granted just as we were cancelled: give it back
                self.release(exclusive)
            else:
                self._waiters.remove(waiter)
                self._wake()  # a cancelled writer at the head may have held readers back
            raise

    def release(self, exclusive: bool) -> None:
        """Give back a lock taken with the same *exclusive*."""
        if exclusive:
            self.writer = False
        else:
            self.readers -= 1
        self._wake()
