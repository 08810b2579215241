"""Retry policies and the one backoff formula the core waits with.

Two things are retried, with two policies of the same shape (same field names, same units):

- :class:`TaskRetry`: a failed task attempt (the pipeline file's ``retries:``);
- :class:`HttpRetry`: one vendor HTTP request (``VendorClient(retry=...)``).

Both wait :func:`backoff` seconds before retry number *n*: exponential growth capped at
``max_delay``, with *jitter* of the delay drawn at random ("full jitter" when ``jitter`` is
``1``). The caller sleeps on its injectable clock, so fake clocks see every wait.

Why not stamina or tenacity: a task's retry is durable. The engine records the next
attempt's time in the store before it sleeps and a resumed run waits out the rest, so the
delay must be a plain number computed up front; both libraries own the retry loop and its
sleep. The HTTP layer needs the same numbers (and ``Retry-After`` replacing them), so one
ten-line function serves both.
"""

from __future__ import annotations

import random
from typing import Protocol

from attrs import field, frozen, validators

__all__ = ("HttpRetry", "TaskRetry", "backoff")


def backoff(retry: int, *, delay: float, backoff: float, max_delay: float, jitter: float,
            rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number *retry* (1 for the first retry).

    The base wait is ``min(delay * backoff**(retry-1), max_delay)``; a fraction *jitter* of
    it is drawn at random, so the wait lies in ``[base * (1 - jitter), base]`` (``jitter=1``
    is full jitter, ``jitter=0`` is deterministic).

    :param rng: the random source (seed one for repeatable waits in tests).
    """
    exponent = max(0, retry - 1)
    if delay <= 0:  # no delay grows into one (0 * 2**1024 is 0, not max_delay)
        return 0.0
    try:
        base = min(delay * float(backoff) ** exponent, max_delay)
    except OverflowError:
        base = max_delay
    base = max(0.0, base)
    if jitter <= 0 or base == 0:
        return base
    draw = (rng or random).random()
    return max(0.0, base * (1.0 - min(jitter, 1.0) * draw))


class _Shape(Protocol):
    delay: float
    backoff: float
    max_delay: float
    jitter: float


def _wait(policy: _Shape, retry: int, rng: random.Random | None) -> float:
    return backoff(retry, delay=policy.delay, backoff=policy.backoff,
                   max_delay=policy.max_delay, jitter=policy.jitter, rng=rng)


_non_negative = validators.ge(0)
_fraction = [validators.ge(0), validators.le(1)]


@frozen(kw_only=True)
class TaskRetry:
    """How often and how patiently a failed task is retried (a pipeline's ``retries:``).

    :param count: retries after the first attempt (``0`` never retries).
    :param delay: seconds before the first retry.
    :param backoff: growth of the wait per retry (``2`` doubles it).
    :param max_delay: longest wait between two attempts, in seconds.
    :param jitter: the fraction of each wait drawn at random (see :func:`backoff`).

    Values are checked where the pipeline file is validated, with located errors.
    """

    count: int = 0
    delay: float = 10.0
    backoff: float = 2.0
    max_delay: float = 600.0
    jitter: float = 0.1

    def wait(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number *retry* (1 for the first retry)."""
        return _wait(self, retry, rng)


@frozen(kw_only=True)
class HttpRetry:
    """How a vendor HTTP request is retried after a transient failure.

    Transient: connection errors, timeouts, HTTP 5xx, 408, 429, and a 2xx whose body is not
    JSON. A ``Retry-After`` header (seconds or an HTTP date) replaces the computed wait; one
    longer than *max_retry_after* is not waited for: the call fails at once with a retryable
    error (``kind="rate_limited"``).

    :param count: retries after the first send (``0`` never retries).
    :param delay: seconds before the first retry.
    :param backoff: growth of the wait per retry.
    :param max_delay: longest wait between two sends (without ``Retry-After``).
    :param jitter: the fraction of each wait drawn at random (``1``: full jitter).
    :param max_retry_after: longest ``Retry-After`` honoured, in seconds.
    """

    count: int = field(default=4, validator=_non_negative)
    delay: float = field(default=1.0, validator=_non_negative)
    backoff: float = field(default=2.0, validator=_non_negative)
    max_delay: float = field(default=60.0, validator=_non_negative)
    jitter: float = field(default=1.0, validator=_fraction)
    max_retry_after: float = field(default=300.0, validator=_non_negative)

    def wait(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number *retry* (1 for the first retry)."""
        return _wait(self, retry, rng)
