"""The host-wide side of ``blocking: true``: a readers/writer lock on lock files, shared by
every Orchestra process (every worker) of this machine.

Non-blocking processes hold the lock shared, a blocking one exclusively, from before it
starts until it has exited: ``flock(2)`` on ``process.lock`` in :func:`lock_dir`. A second
file, ``process.turnstile``, keeps a waiting blocking process from being starved: it holds
the turnstile exclusively while it waits, and newcomers pass the turnstile (shared, for an
instant) before they take their share. The kernel drops a dead process's locks, so a killed
worker never leaves the host blocked. Where ``fcntl`` does not exist (Windows) the lock is
per Orchestra process only.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import anyio

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ("LOCK_DIR_ENV", "HostLock", "lock_dir")

#: The environment variable naming the directory of the lock files (default: a directory
#: per user in the temporary directory). Workers that must exclude each other share it.
LOCK_DIR_ENV = "ORCHESTRA_LOCK_DIR"
#: Seconds between attempts while another process holds the lock.
POLL = 0.05


def lock_dir() -> str:
    """The directory of the host-wide lock files (created if needed)."""
    path = os.environ.get(LOCK_DIR_ENV) or os.path.join(
        tempfile.gettempdir(), f"orchestra-locks-{getattr(os, 'getuid', lambda: 'all')()}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


class HostLock:
    """Shared or exclusive hold on the host-wide process lock (one instance per hold)."""

    def __init__(self, exclusive: bool) -> None:
        self.exclusive = exclusive
        self._fd: int | None = None

    @staticmethod
    def _open(name: str) -> int:
        return os.open(os.path.join(lock_dir(), name), os.O_RDWR | os.O_CREAT, 0o600)

    async def acquire(self) -> None:
        """Wait for the lock (polling, cancellable)."""
        if fcntl is None:
            return
        turnstile = self._open("process.turnstile")
        fd = self._open("process.lock")
        try:
            await _flock(turnstile, exclusive=self.exclusive)
            try:
                await _flock(fd, exclusive=self.exclusive)
            finally:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
        except BaseException:
            os.close(fd)
            raise
        finally:
            os.close(turnstile)
        self._fd = fd

    @property
    def would_wait(self) -> bool:
        """Whether the lock is held against this kind of hold right now (a hint for the log)."""
        if fcntl is None:
            return False
        fd = self._open("process.lock")
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH)
                        | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops the test lock
        return False

    def release(self) -> None:
        """Give the lock back."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor releases its flock


async def _flock(fd: Any, *, exclusive: bool) -> None:
    assert fcntl is not None
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    while True:
        try:
            fcntl.flock(fd, mode)
            return
        except BlockingIOError:
            await anyio.sleep(POLL)
