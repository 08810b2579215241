"""Waiting on a clock (real or fake) for a duration, or less when something happens."""

from __future__ import annotations

from typing import Any

import anyio

__all__ = ("sleep_until_set",)


async def sleep_until_set(clock: Any, seconds: float, event: anyio.Event) -> None:
    """Sleep *seconds* on *clock*, returning early once *event* is set (at once if it is)."""
    if event.is_set():
        return
    async with anyio.create_task_group() as tg:
        async def timer() -> None:
            await clock.sleep(seconds)
            tg.cancel_scope.cancel()

        async def woken() -> None:
            await event.wait()
            tg.cancel_scope.cancel()

        tg.start_soon(timer)
        tg.start_soon(woken)
