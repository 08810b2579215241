"""The real clock: UTC wall time, a monotonic counter and ``anyio.sleep``.

Everything in the core that waits or reads the time takes a clock object with this shape
(``now``, ``monotonic``, ``sleep``, ``busy``); tests pass
:class:`orchestra_core.testing.FakeClock` instead.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import anyio

__all__ = ("SystemClock",)


class SystemClock:
    """The real clock: UTC wall time, a monotonic counter and ``anyio.sleep``."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, never going backwards."""
        return time.monotonic()

    def busy(self, delta: int) -> None:
        """Ignored: real time passes by itself."""

    async def sleep(self, seconds: float) -> None:
        """Sleep for *seconds* of real time."""
        await anyio.sleep(max(0.0, seconds))
