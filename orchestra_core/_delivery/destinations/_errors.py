"""Turning OS and network errors into one clear :class:`DeliveryFailed` naming the
destination."""

from __future__ import annotations

import errno

from ..._errors import DeliveryFailed

__all__ = ("os_failure",)


def os_failure(destination: str, action: str, exc: OSError) -> DeliveryFailed:
    """The :class:`DeliveryFailed` for *exc*, raised while *action* (``writing /x/y``)."""
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        why, retry = "the disk is full", True
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        why, retry = "permission denied", False
    elif code == errno.ENOENT:
        why, retry = "no such directory", False
    elif code in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT):
        why, retry = "host unreachable", True
    else:
        why, retry = exc.strerror or type(exc).__name__, False
    return DeliveryFailed(f"destination {destination!r}: {why} ({action})", retryable=retry)
