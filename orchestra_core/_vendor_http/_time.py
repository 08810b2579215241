"""Reading and writing the timestamps vendor APIs exchange."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = ("format_timestamp", "parse_timestamp")


def parse_timestamp(value: Any) -> datetime | None:
    """A vendor timestamp as an aware datetime; ``None`` when absent or unreadable.

    Accepts ISO 8601 with ``Z`` or an offset, a space instead of ``T``
    (``2026-01-31 19:28:07.123456+00:00``) and more than six fractional digits (nanoseconds,
    cut to microseconds); a timestamp without an offset is taken as UTC.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    if "." in text:  # Python reads at most 6 fractional digits; some vendors send 9
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits):]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_timestamp(when: datetime) -> str:
    """*when* as vendors' time filters take it: ISO 8601 in UTC with milliseconds and ``Z``
    (``2026-03-01T15:33:51.724Z``). An aware *when* is converted to UTC first."""
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
