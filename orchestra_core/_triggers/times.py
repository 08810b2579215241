"""Next fire times, correct across daylight-saving changes, and the readers of the times they
start from (:func:`parse_cron`, :func:`zone`, :func:`parse_start`, :func:`parse_at`).

Schedules are written in local wall-clock time (a cron expression or an interval's start
time, in the trigger's timezone). Two kinds of wall times need a rule:

- a time that does not exist (the hour skipped when clocks go forward);
- a time that happens twice (the hour repeated when clocks go back).

The rule depends on how often the schedule fires:

- **at particular hours** (cron with a fixed hour field, intervals of 2 hours or more,
  days, weeks): the job runs exactly once per matching day. A skipped time runs at the
  moment the clocks go forward (02:30 on the spring day in New York runs at 03:00 EDT); a
  repeated time runs at its first occurrence.
- **every hour or more often** (cron with ``*`` as the hour, intervals in minutes or of one
  hour): the schedule follows real time. Skipped times are skipped (they never happen), and
  repeated times run in both occurrences, so there is never a one-hour hole.
"""

from __future__ import annotations

import functools
import re
import threading
import zoneinfo
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from .._values import suggest
from .model import (
    ChangesTrigger,
    CronTrigger,
    FrequencyType,
    IntervalTrigger,
    SingleTrigger,
    Trigger,
)

__all__ = (
    "local_to_utc",
    "next_cron",
    "next_fire",
    "next_interval",
    "parse_at",
    "parse_cron",
    "parse_start",
    "wall_instants",
    "zone",
)

_H3 = timedelta(hours=3)
_FIXED = {"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Universal", "Zulu", "Etc/Zulu", "Etc/Universal"}
#: Monday 2000-01-03: intervals given as a time of day count days and weeks from here.
EPOCH = date(2000, 1, 3)


# -- reading cron expressions, zones and times ---------------------------------------------


@functools.lru_cache(maxsize=4096)
def parse_cron(expr: str) -> tuple[str, bool]:
    """``(expression, seconds_first)`` for croniter from a 5- or 6-field cron expression
    (``?`` is read as ``*``); ``ValueError`` with a clear message if it is not valid."""
    from croniter import croniter

    if not isinstance(expr, str) or not expr.strip():
        raise ValueError("expected a cron expression such as '30 2 * * *'")
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"a cron expression has 5 fields (minute hour day month weekday) or 6 "
                         f"(seconds first), got {len(fields)} in {expr!r}")
    text = " ".join("*" if f == "?" else f for f in fields)
    seconds_first = len(fields) == 6
    try:
        croniter(text, datetime(2026, 1, 1), second_at_beginning=seconds_first)
    except Exception as exc:  # croniter raises several error types
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None
    return text, seconds_first


@functools.cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The timezone *name*; ``ValueError`` naming close matches if there is none."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown timezone {name!r}" + suggest(str(name), list(_zones()))
                         + " (use an IANA name such as 'Europe/London' or 'UTC')") from None


def parse_start(value: str, tz: zoneinfo.ZoneInfo) -> tuple[datetime | None, time]:
    """An interval trigger's ``start_time``: ``(anchor date-time or None, time of day)``."""
    text = value.strip()
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", text):
        return None, time.fromisoformat(text.zfill(len(text) + (len(text.split(":")[0]) == 1)))
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected a time of day ('06:00') or a date and time "
                         f"('2026-01-05T06:00'), got {value!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when, when.astimezone(tz).time()


def parse_at(value: str, tz: zoneinfo.ZoneInfo) -> datetime:
    """A single trigger's ``at`` as an aware UTC time."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"expected a date and time such as '2026-07-01T09:00' (optionally "
                         f"with an offset such as '+02:00'), got {value!r}") from None
    if when.tzinfo is None:
        return local_to_utc(when, tz)
    return when.astimezone(UTC)


# -- next fire times ----------------------------------------------------------------------------


def _utc(wall: datetime, tz: tzinfo, fold: int) -> datetime:
    return wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)


def wall_instants(wall: datetime, tz: tzinfo, *, hourly: bool = False) -> list[datetime]:
    """The UTC instants at which the naive local time *wall* happens in *tz*, per the rules
    in this module's docstring (none, one or two)."""
    first, second = _utc(wall, tz, 0), _utc(wall, tz, 1)
    if first == second:
        return [first]
    if first.astimezone(tz).replace(tzinfo=None) == wall and \
            second.astimezone(tz).replace(tzinfo=None) == wall:  # repeated hour
        early, late = sorted((first, second))
        return [early, late] if hourly else [early]
    # skipped hour: fold=0 reads it with the offset before the change, fold=1 after
    if hourly:
        return []
    lo, hi = sorted((first, second))
    after_offset = hi.astimezone(tz).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == after_offset:
            hi = mid
        else:
            lo = mid
    return [hi.replace(microsecond=0)]


def local_to_utc(wall: datetime, tz: tzinfo) -> datetime:
    """*wall* (naive, local to *tz*) as a UTC instant: a skipped time moves to the moment the
    clocks go forward, a repeated time is its first occurrence."""
    return wall_instants(wall, tz)[0]


def _stable(tz: tzinfo, start: datetime, end: datetime) -> bool:
    """Whether *tz* keeps one UTC offset from *start* to *end* (checked every 6 hours; no
    zone changes its offset twice within 6 hours)."""
    if getattr(tz, "key", None) in _FIXED:
        return True
    offset = start.astimezone(tz).utcoffset()
    t = start
    while t < end:
        t = min(t + timedelta(hours=6), end)
        if t.astimezone(tz).utcoffset() != offset:
            return False
    return True


def _next_from(walls: Callable[[datetime], Iterator[datetime]], tz: tzinfo, after: datetime,
               hourly: bool) -> datetime | None:
    """The first instant after *after* of the wall times *walls(start)* yields (increasing,
    all later than *start*)."""
    after = after.astimezone(UTC)
    local = after.astimezone(tz)
    w0 = local.replace(tzinfo=None)
    first = next(walls(w0), None)
    if first is None:
        return None
    offset = local.utcoffset()
    assert offset is not None
    estimate = (first - offset).replace(tzinfo=UTC)
    if _stable(tz, after - _H3, estimate + _H3):
        return estimate
    best: datetime | None = None
    best_wall: datetime | None = None
    for n, wall in enumerate(walls(w0 - _H3)):
        if best_wall is not None and wall > best_wall + _H3:
            break
        if n > 200_000:
            break
        for instant in wall_instants(wall, tz, hourly=hourly):
            if instant > after and (best is None or instant < best):
                best, best_wall = instant, wall
    return best


#: Parsed croniter objects per thread (parsing is half the cost of a next time).
_CRONS = threading.local()


@functools.lru_cache(maxsize=4096)
def _cron(expr: str) -> tuple[str, bool, bool]:
    text, seconds_first = parse_cron(expr)
    hour = text.split()[2 if seconds_first else 1]
    return text, seconds_first, hour == "*"


def next_cron(expr: str, tz: tzinfo | str, after: datetime) -> datetime:
    """The first time after *after* (aware) that cron *expr* matches in *tz*, in UTC."""
    from croniter import croniter

    tz = zone(tz) if isinstance(tz, str) else tz
    text, seconds_first, hourly = _cron(expr)

    cache = _CRONS.__dict__
    key = (text, seconds_first)
    if key not in cache:
        if len(cache) > 4096:
            cache.clear()
        cache[key] = croniter(text, datetime(2000, 1, 1), second_at_beginning=seconds_first)
    it = cache[key]

    def walls(start: datetime) -> Iterator[datetime]:
        it.set_current(start, force=True)
        while True:
            yield it.get_next(datetime)

    found = _next_from(walls, tz, after, hourly)
    assert found is not None
    return found


def next_interval(trigger: IntervalTrigger, after: datetime) -> datetime:
    """The first fire time of an interval trigger after *after*, in UTC.

    Minutes and hours repeat from ``start_time`` within each local day (every 6 hours from
    06:00 is 00:00, 06:00, 12:00, 18:00); days and weeks count from ``start_time``'s date
    (or from Monday 2000-01-03 when it is a time of day). Nothing fires before a
    ``start_time`` that has a date.
    """
    tz = zone(trigger.timezone)
    anchor, tod = parse_start(trigger.start_time, tz)
    if anchor is not None:
        after = max(after, anchor - timedelta(microseconds=1))
    n = trigger.frequency
    unit = trigger.frequency_type
    if unit in (FrequencyType.MINUTES, FrequencyType.HOURS):
        step = timedelta(minutes=n) if unit is FrequencyType.MINUTES else timedelta(hours=n)
        hourly = step <= timedelta(hours=1)
        base = datetime.combine(EPOCH, tod)

        def walls(start: datetime) -> Iterator[datetime]:
            day = start.date()
            while True:
                midnight = datetime.combine(day, datetime.min.time())
                first = base.replace(year=day.year, month=day.month, day=day.day)
                first -= step * ((first - midnight) // step)
                t = first
                while t.date() == day:
                    if t > start:
                        yield t
                    t += step
                day += timedelta(days=1)
    else:
        days = n * (7 if unit is FrequencyType.WEEKS else 1)
        hourly = False
        origin = anchor.astimezone(tz).replace(tzinfo=None) if anchor is not None \
            else datetime.combine(EPOCH, tod)

        def walls(start: datetime) -> Iterator[datetime]:
            k = max(0, (start - origin).days // days - 1)
            while True:
                t = origin + timedelta(days=k * days)
                if t > start:
                    yield t
                k += 1

    found = _next_from(walls, tz, after, hourly)
    assert found is not None
    return found


def next_fire(trigger: Trigger, after: datetime) -> datetime | None:
    """When *trigger* is next due after *after*: its next scheduled time for cron, interval
    and single triggers (``None`` once a single trigger's time has passed); for the
    condition kinds (queue, after, changes without cron) the next time to check;
    ``None`` for manual triggers."""
    if isinstance(trigger, CronTrigger):
        return next_cron(trigger.cron, trigger.timezone, after)
    if isinstance(trigger, IntervalTrigger):
        return next_interval(trigger, after)
    if isinstance(trigger, SingleTrigger):
        at = parse_at(trigger.at, zone(trigger.timezone))
        return at if at > after else None
    if isinstance(trigger, ChangesTrigger) and trigger.cron:
        return next_cron(trigger.cron, trigger.timezone, after)
    every = getattr(trigger, "check_every", None)
    if every is not None:
        return after + timedelta(seconds=every)
    return None
