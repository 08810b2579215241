"""Blocking store calls of the server, run in a worker thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

__all__ = ("blocking",)


async def blocking(clock: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a worker thread, telling a fake *clock* (one with ``busy``) that work
    is in flight, so it does not move time while the call runs."""
    busy = getattr(clock, "busy", None)
    if busy is not None:
        busy(1)
    try:
        return await anyio.to_thread.run_sync(fn, *args)
    finally:
        if busy is not None:
            busy(-1)
