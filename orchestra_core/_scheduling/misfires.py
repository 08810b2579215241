"""Which scheduled times a late trigger fires for (its misfire policy).

A fire later than the trigger's grace (``misfire_grace``: seconds, or a share of the period
such as ``"50%"``) is a misfire, and the policy decides:

- ``run_once``: one run, for the latest missed time;
- ``run_all``: one run per missed time (at most :data:`MAX_RUN_ALL` per pass), oldest first,
  each carrying its own scheduled time;
- ``skip``: no run; the trigger waits for its next time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .._triggers.model import Misfire, Trigger
from .._triggers.times import grace_seconds, next_fire

__all__ = ("MAX_RUN_ALL", "latest_time", "missed_times")

#: Most runs ``run_all`` creates for one trigger in one pass (the rest follow in later passes).
MAX_RUN_ALL = 1000

_WINDOWS = (timedelta(seconds=2), timedelta(minutes=2), timedelta(hours=2), timedelta(days=2),
            timedelta(days=40), timedelta(days=400))


def latest_time(trigger: Trigger, due: datetime, now: datetime) -> datetime:
    """The last fire time of *trigger* at or before *now* (*due* is one)."""
    start = due
    for window in _WINDOWS:  # a start close to now, so the walk forward is short
        if now - window <= due:
            break
        found = next_fire(trigger, now - window)
        if found is not None and found <= now:
            start = found
            break
    last = start
    for _ in range(100_000):
        following = next_fire(trigger, last)
        if following is None or following > now:
            break
        last = following
    return last


def missed_times(trigger: Trigger, due: datetime, now: datetime) -> tuple[list[datetime], str]:
    """``(scheduled times to create runs for, result)`` for a timed trigger due at *due*
    and looked at *now*."""
    late = (now - due).total_seconds()
    if late <= grace_seconds(trigger, due):
        return [due], "fired"
    if trigger.misfire is Misfire.SKIP:
        return [], (f"skipped the time(s) missed while no scheduler ran (due "
                    f"{due:%Y-%m-%d %H:%M:%S}Z; misfire: skip)")
    if trigger.misfire is Misfire.RUN_ONCE:
        return [latest_time(trigger, due, now)], (
            f"fired {late:.0f} s late for the time(s) missed while no scheduler ran "
            f"(misfire: run_once)")
    missed = [due]
    while len(missed) < MAX_RUN_ALL:
        following = next_fire(trigger, missed[-1])
        if following is None or following > now:
            break
        missed.append(following)
    return missed, (f"fired {len(missed)} run(s), one per time missed while no scheduler "
                    f"ran (misfire: run_all)")
