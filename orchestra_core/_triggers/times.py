"""Next fire times, correct across daylight-saving changes, and the readers of the times they
start from (:func:`parse_cron`, :func:`zone`, :func:`parse_start`, :func:`parse_at`).

Schedules are written in local wall-clock time (a cron expression or an interval's start
time, in the trigger's timezone). Two kinds of wall times need a rule:

- a time that does not exist (the hour skipped when clocks go forward);
- a time that happens twice (the hour repeated when clocks go back).

The rule depends on the schedule:

- **at particular hours** (cron whose hour field is literally one hour or a list of hours,
  such as ``2`` or ``6,18``; intervals of days or weeks): the job runs exactly once per
  matching day. A skipped time runs at the moment the clocks go forward (02:30 on the spring
  day in New York runs at 03:00 EDT); a repeated time runs at its first occurrence.
- **every other cron** (hour field ``*``, a range such as ``0-23`` or a step such as
  ``*/1``): the schedule follows real time. Skipped times are skipped (they never happen),
  and repeated times run in both occurrences, so there is never a hole.
- **intervals in minutes or hours** count elapsed time: fires are exactly the interval apart.

Cost does not depend on the date: a zone's offset changes are found once per year and kept
(:mod:`._offsets`), and each span of constant offset needs one wall-time search.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

from .._values import suggest
from ._offsets import previous_transition, segment
from .model import (
    ChangesTrigger,
    CronTrigger,
    FrequencyType,
    IntervalTrigger,
    SingleTrigger,
    Trigger,
)

if TYPE_CHECKING:  # imported where a timezone is named: most files name none
    import zoneinfo

__all__ = (
    "cron_follows_real_time",
    "grace_seconds",
    "interval_anchor",
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
    import zoneinfo

    return tuple(sorted(zoneinfo.available_timezones()))


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The timezone *name*; ``ValueError`` naming close matches if there is none."""
    import zoneinfo

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

#: The first matching wall time after a wall time (or at it, when the flag says inclusive).
WallSearch = Callable[[datetime, bool], "datetime | None"]


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
    # skipped hour: the clocks go forward between the two readings
    if hourly:
        return []
    lo = min(first, second)
    return [segment(tz, lo)[1]]


def local_to_utc(wall: datetime, tz: tzinfo) -> datetime:
    """*wall* (naive, local to *tz*) as a UTC instant: a skipped time moves to the moment the
    clocks go forward, a repeated time is its first occurrence."""
    return wall_instants(wall, tz)[0]


def _next_fixed(first_wall: WallSearch, tz: tzinfo, after: datetime) -> datetime | None:
    """The first fire after *after* of a schedule at particular hours: each matching wall
    time happens once (skipped: when the clocks jump; repeated: its first occurrence), so
    instants follow wall times in order and one wall-time search finds it."""
    local = after.astimezone(tz)
    w0, inclusive = local.replace(tzinfo=None), False
    if local.fold:  # in the second occurrence of a repeated hour: its first one is past
        change = previous_transition(tz, after)
        if change is not None:
            before = (change - timedelta(seconds=1)).astimezone(tz).utcoffset()
            assert before is not None
            repeat_end = (change + before).replace(tzinfo=None)
            if repeat_end > w0:
                w0, inclusive = repeat_end, True
    wall = first_wall(w0, inclusive)
    return None if wall is None else local_to_utc(wall, tz)


def _next_real(first_wall: WallSearch, tz: tzinfo, after: datetime) -> datetime | None:
    """The first fire after *after* of a schedule that follows real time: the first instant
    whose local wall time matches. One wall-time search per span of constant UTC offset."""
    t, inclusive = after.astimezone(UTC), False
    for _ in range(1000):
        offset, end = segment(tz, t)
        wall = first_wall((t + offset).replace(tzinfo=None), inclusive)
        if wall is None:
            return None
        candidate = (wall - offset).replace(tzinfo=UTC)
        if candidate < end:
            return candidate
        t, inclusive = end, True
    return None


#: Parsed croniter objects per thread (parsing is half the cost of a next time).
_CRONS = threading.local()
_FIXED_HOURS = re.compile(r"\d+(,\d+)*")


@functools.lru_cache(maxsize=4096)
def _cron(expr: str) -> tuple[str, bool, bool]:
    text, seconds_first = parse_cron(expr)
    hour = text.split()[2 if seconds_first else 1]
    return text, seconds_first, _FIXED_HOURS.fullmatch(hour) is None


def cron_follows_real_time(expr: str) -> bool:
    """Whether cron *expr* follows real time across DST changes (its hour field is not a
    literal hour or list of hours: ``*``, a range or a step), rather than firing once per
    matching day."""
    return _cron(expr)[2]


def _cron_walls(expr: str) -> tuple[WallSearch, bool]:
    from croniter import croniter

    text, seconds_first, hourly = _cron(expr)
    cache = _CRONS.__dict__
    key = (text, seconds_first)
    if key not in cache:
        if len(cache) > 4096:
            cache.clear()
        cache[key] = croniter(text, datetime(2000, 1, 1), second_at_beginning=seconds_first)
    it = cache[key]

    def first_wall(start: datetime, inclusive: bool) -> datetime:
        it.set_current(start - timedelta(seconds=1) if inclusive else start, force=True)
        found: datetime = it.get_next(datetime)
        return found

    return first_wall, hourly


def next_cron(expr: str, tz: tzinfo | str, after: datetime) -> datetime:
    """The first time after *after* (aware) that cron *expr* matches in *tz*, in UTC."""
    tz = zone(tz) if isinstance(tz, str) else tz
    first_wall, hourly = _cron_walls(expr)
    found = (_next_real if hourly else _next_fixed)(first_wall, tz, after)
    assert found is not None
    return found


def interval_anchor(trigger: IntervalTrigger) -> tuple[datetime, bool]:
    """``(first instant, dated)``: where an interval trigger's elapsed-time count starts
    (``start_time`` in its zone; a time of day is taken on Monday 2000-01-03), and whether
    ``start_time`` has a date (nothing fires before it then)."""
    tz = zone(trigger.timezone)
    anchor, tod = parse_start(trigger.start_time, tz)
    if anchor is not None:
        return anchor.astimezone(UTC), True
    return local_to_utc(datetime.combine(EPOCH, tod), tz), False


def next_interval(trigger: IntervalTrigger, after: datetime) -> datetime:
    """The first fire time of an interval trigger after *after*, in UTC.

    Minutes and hours count elapsed time from ``start_time``: fires are exactly the interval
    apart, also across daylight-saving changes. Days and weeks count calendar days from
    ``start_time``'s date (or from Monday 2000-01-03 when it is a time of day) and fire at
    its local time of day (the rules for particular hours). Nothing fires before a
    ``start_time`` that has a date.
    """
    tz = zone(trigger.timezone)
    start, dated = interval_anchor(trigger)
    after = after.astimezone(UTC)
    if dated and after < start:
        return start
    n = trigger.frequency
    unit = trigger.frequency_type
    if unit in (FrequencyType.MINUTES, FrequencyType.HOURS):
        step = timedelta(minutes=n) if unit is FrequencyType.MINUTES else timedelta(hours=n)
        return start + step * ((after - start) // step + 1)
    days = n * (7 if unit is FrequencyType.WEEKS else 1)
    origin = start.astimezone(tz).replace(tzinfo=None) if dated else datetime.combine(
        EPOCH, parse_start(trigger.start_time, tz)[1])

    def first_wall(w: datetime, inclusive: bool) -> datetime:
        k = max(0, (w - origin).days // days - 1)
        while True:
            t = origin + timedelta(days=k * days)
            if t > w or (inclusive and t == w):
                return t
            k += 1

    found = _next_fixed(first_wall, tz, after)
    assert found is not None
    return found


def grace_seconds(trigger: Trigger, due: datetime) -> float:
    """How late (seconds) a fire due at *due* may be and still count as on time: the
    trigger's ``misfire_grace``, or its share of the period from *due* to the next fire."""
    grace = trigger.misfire_grace
    if not isinstance(grace, str):
        return float(grace)
    following = next_fire(trigger, due)
    if following is None:  # a single trigger has no period: the default grace
        return 60.0
    return (following - due).total_seconds() * float(grace[:-1]) / 100


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
