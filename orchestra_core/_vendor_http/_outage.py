"""Pacing a runner's status reads while the vendor's API keeps failing."""

from __future__ import annotations

from datetime import datetime

from .._retry import backoff

__all__ = ("ReadFailures",)


class ReadFailures:
    """Counts the failed status reads of one wait, for a runner that keeps waiting through an
    API outage (the job goes on at the vendor; failing the task would start it again).

    Each failure (after the client's own retries) doubles the pause before the next read,
    from twice *interval* up to *max_delay* (:func:`orchestra_core._retry.backoff` without
    jitter); once the API has failed without a break for *give_up_after* seconds,
    :meth:`failed` says to give up. A successful read resets both.

    :param interval: the wait's poll interval (seconds).
    :param max_delay: the longest pause (never shorter than *interval*).
    :param give_up_after: seconds of continuous failure before giving up; ``None``: never.
    :param max_doublings: at most this many doublings of *interval*.
    """

    def __init__(self, interval: float, *, max_delay: float = 300.0,
                 give_up_after: float | None = 3600.0, max_doublings: int = 10) -> None:
        self.interval = interval
        self.max_delay = max(interval, max_delay)
        self.give_up_after = give_up_after
        self.max_doublings = max_doublings
        self.count = 0
        self.since: datetime | None = None

    def failed(self, now: datetime) -> float | None:
        """Count a failed read at *now*: the pause before the next read, or ``None`` when
        the API has been failing for *give_up_after* seconds."""
        self.since = self.since or now
        if self.give_up_after is not None and \
                (now - self.since).total_seconds() >= self.give_up_after:
            return None
        self.count += 1
        return backoff(min(self.count, self.max_doublings) + 1, delay=self.interval,
                       backoff=2.0, max_delay=self.max_delay, jitter=0.0)

    def succeeded(self) -> None:
        """A read worked: the next failure starts a new outage."""
        self.count, self.since = 0, None
