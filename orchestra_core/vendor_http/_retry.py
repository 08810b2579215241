"""The retry policy of vendor requests: exponential backoff with jitter, ``Retry-After``."""

from __future__ import annotations

import random
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from attrs import frozen

__all__ = ("RetryPolicy", "parse_retry_after")


@frozen(kw_only=True)
class RetryPolicy:
    """How a :class:`~orchestra_core.vendor_http.VendorClient` retries transient failures.

    Transient: connection errors, timeouts, HTTP 5xx, 408, 429, and a 2xx whose body is not
    JSON. The *n*-th retry waits ``min(backoff * factor**(n-1), max_backoff)``, scaled by a
    random factor in ``[1 - jitter, 1 + jitter]``; a ``Retry-After`` header (seconds or an
    HTTP date) replaces that delay. A ``Retry-After`` longer than *max_retry_after* is not
    waited for: the call fails at once with a retryable error (``kind="rate_limited"``).

    :param attempts: most sends of one request (the first included); ``1`` never retries.
    :param backoff: seconds before the first retry.
    :param factor: growth of the delay per retry.
    :param max_backoff: longest delay between two attempts (without ``Retry-After``).
    :param jitter: the random spread, a fraction of the delay (``0`` is deterministic).
    :param max_retry_after: longest ``Retry-After`` honoured, in seconds.
    """

    attempts: int = 5
    backoff: float = 1.0
    factor: float = 2.0
    max_backoff: float = 60.0
    jitter: float = 0.2
    max_retry_after: float = 300.0

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number *retry* (1 for the first retry)."""
        base = min(self.backoff * self.factor ** max(0, retry - 1), self.max_backoff)
        if self.jitter <= 0:
            return base
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, base * (1.0 + spread))


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
        from datetime import UTC

        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
