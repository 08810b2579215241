"""A preview of fire times: when a pipeline's scheduled triggers fire next, in local time
and UTC, with a note on each fire a daylight-saving change affects (:func:`preview_fires`).

``orchestra triggers preview PIPELINE`` prints it; the REST API serves the same list.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from attrs import frozen

from .model import ChangesTrigger, CronTrigger, IntervalTrigger, SingleTrigger, Trigger
from .times import next_fire, parse_start, wall_instants, zone

__all__ = ("FireTime", "preview_fires")


@frozen(kw_only=True)
class FireTime:
    """One upcoming fire of a trigger.

    :ivar trigger: the trigger's id.
    :ivar at: the fire time in UTC.
    :ivar local: the same time in the trigger's timezone.
    :ivar timezone: the trigger's timezone.
    :ivar dst: what a daylight-saving change does to this fire, or ``None`` when nothing:
        a skipped time moved to the moment the clocks jump, a repeated time (first or second
        occurrence), or a different UTC offset than the previous fire.
    """

    trigger: str
    at: datetime
    local: datetime
    timezone: str
    dst: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (times in ISO 8601)."""
        return {"trigger": self.trigger, "at": self.at.isoformat(),
                "local": self.local.isoformat(), "timezone": self.timezone, "dst": self.dst}


def _intended(trigger: Trigger, local: datetime) -> bool:
    """Whether *local* (naive) is a wall time the trigger's schedule names."""
    cron = getattr(trigger, "cron", None)
    if cron is not None:
        from croniter import croniter

        from .times import parse_cron

        text, seconds_first = parse_cron(cron)
        return bool(croniter.match(text, local, second_at_beginning=seconds_first))
    if isinstance(trigger, IntervalTrigger) and trigger.frequency_type.value in ("days",
                                                                                  "weeks"):
        tod = parse_start(trigger.start_time, zone(trigger.timezone))[1]
        return local.time() == tod
    return True


def _note(trigger: Trigger, at: datetime, tz: tzinfo, previous: datetime | None) -> str | None:
    local = at.astimezone(tz)
    wall = local.replace(tzinfo=None)
    if not _intended(trigger, wall):
        return (f"moved: the scheduled time does not exist that day (clocks go forward); "
                f"runs when they jump, {local:%H:%M %Z}")
    if len(wall_instants(wall, tz, hourly=True)) == 2:
        which = "second" if local.fold else "first"
        return f"{wall:%H:%M} happens twice that day (clocks go back): the {which} occurrence"
    if previous is not None:
        before = previous.astimezone(tz).utcoffset()
        now = local.utcoffset()
        if before != now and before is not None and now is not None:
            shift = (now - before) / timedelta(hours=1)
            return f"clocks changed since the previous fire ({shift:+g} h, now {local:%Z})"
    return None


def _fires(trigger: Trigger, start: datetime) -> Iterator[FireTime]:
    tz_name = getattr(trigger, "timezone", "UTC")
    tz = zone(tz_name)
    after, previous = start, None
    while True:
        at = next_fire(trigger, after)
        if at is None:
            return
        yield FireTime(trigger=trigger.id or trigger.kind, at=at, local=at.astimezone(tz),
                       timezone=tz_name, dst=_note(trigger, at, tz, previous))
        after = previous = at


def _scheduled(trigger: Trigger) -> bool:
    return isinstance(trigger, CronTrigger | IntervalTrigger | SingleTrigger) or (
        isinstance(trigger, ChangesTrigger) and trigger.cron is not None)


def preview_fires(triggers: Any, *, start: datetime | None = None,
                  count: int = 10) -> list[FireTime]:
    """The next *count* fire times after *start* (default: now) of the scheduled triggers
    (cron, interval, single, changes with cron) among *triggers*, oldest first.

    :param triggers: a :class:`~orchestra_core.Pipeline` (its triggers) or an iterable of
        triggers.
    :param start: an aware date-time (a naive one is read as UTC).
    """
    found: Iterable[Trigger] = getattr(triggers, "triggers", triggers)
    start = start or datetime.now(UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    streams = [_fires(t, start) for t in found if _scheduled(t)]
    merged = heapq.merge(*streams, key=lambda f: f.at)
    return [f for _, f in zip(range(max(count, 0)), merged, strict=False)]
