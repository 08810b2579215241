"""A first-come, first-served count of slots (the process's ``max_concurrency`` and each
integration's limit): what :class:`anyio.CapacityLimiter` does for the engine, without
tracking which task holds which token (an attempt takes and gives back its own slots), so
that taking a free slot costs a comparison and an addition."""

from __future__ import annotations

from collections import deque

import anyio

__all__ = ("Slots",)


class Slots:
    """*total* slots, handed out in the order they were asked for.

    :param total: how many may be held at once (at least 1).
    """

    __slots__ = ("_borrowed", "_total", "_waiters")

    def __init__(self, total: int) -> None:
        if total < 1:
            raise ValueError("a limit needs at least one slot")
        self._total = total
        self._borrowed = 0
        self._waiters: deque[anyio.Event] = deque()

    @property
    def total_tokens(self) -> int:
        """How many slots there are."""
        return self._total

    @property
    def borrowed_tokens(self) -> int:
        """How many are held now."""
        return self._borrowed

    def acquire_nowait(self) -> None:
        """Take a slot at once.

        :raises anyio.WouldBlock: none is free (or others are waiting for one)."""
        if self._borrowed >= self._total or self._waiters:
            raise anyio.WouldBlock
        self._borrowed += 1

    async def acquire(self) -> None:
        """Take a slot, waiting behind those who asked before."""
        try:
            self.acquire_nowait()
        except anyio.WouldBlock:
            pass
        else:
            await anyio.lowlevel.checkpoint()
            return
        handed = anyio.Event()
        self._waiters.append(handed)
        try:
            await handed.wait()
        except BaseException:
            if handed.is_set():  # the slot was handed over as we were cancelled: pass it on
                self.release()
            else:
                self._waiters.remove(handed)
            raise

    def release(self) -> None:
        """Give a slot back (to the first waiter, if any)."""
        if self._waiters:
            self._waiters.popleft().set()  # the slot goes to it: still borrowed
        else:
            self._borrowed -= 1
