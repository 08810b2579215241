"""Reading a vendor's ``Retry-After`` header (the retry policy is
:class:`orchestra_core.HttpRetry`)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ("parse_retry_after",)


def parse_retry_after(value: str | None, now: datetime | Any) -> float | None:
    """Seconds a ``Retry-After`` header value asks to wait (``None`` when absent or unreadable).

    :param value: the header: delay seconds (``"120"``, ``"1.5"``) or an HTTP date.
    :param now: the current UTC time, to turn a date into a delay.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
