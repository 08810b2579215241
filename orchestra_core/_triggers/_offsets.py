"""A timezone's UTC offset changes, found once per zone and year and kept, so that fire times
near a daylight-saving change cost what they cost elsewhere.

:func:`transitions` lists the instants a zone changes its offset within a year (found by
sampling every 6 hours and bisecting to the second: tz data changes offsets on whole seconds,
and no zone changes twice within 6 hours); :func:`segment` gives the span of constant offset
around an instant.
"""

from __future__ import annotations

import bisect
import threading
from datetime import UTC, datetime, timedelta, tzinfo

__all__ = ("FIXED_ZONES", "previous_transition", "segment", "transitions")

#: Zones that never change their offset.
FIXED_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Universal", "Zulu", "Etc/Zulu",
                         "Etc/Universal"})

_STEP = timedelta(hours=6)
_CACHE: dict[tuple[object, int], tuple[datetime, ...]] = {}
_LOCK = threading.Lock()


def _offset(tz: tzinfo, instant: datetime) -> timedelta:
    off = instant.astimezone(tz).utcoffset()
    assert off is not None
    return off


def _key(tz: tzinfo) -> object:
    return getattr(tz, "key", None) or id(tz)


def _fixed(tz: tzinfo) -> bool:
    return tz is UTC or getattr(tz, "key", None) in FIXED_ZONES


def transitions(tz: tzinfo, year: int) -> tuple[datetime, ...]:
    """The UTC instants in *year* at which *tz* takes a new offset (the first second of it)."""
    if _fixed(tz) or not 1 < year < 9999:
        return ()
    key = (_key(tz), year)
    found = _CACHE.get(key)
    if found is not None:
        return found
    out = []
    t = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    off = _offset(tz, t)
    while t < end:
        n = min(t + _STEP, end)
        new = _offset(tz, n)
        if new != off:
            lo, hi = 0, int((n - t).total_seconds())  # offset(t + lo) == off != offset(t + hi)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset(tz, t + timedelta(seconds=mid)) == off:
                    lo = mid
                else:
                    hi = mid
            out.append(t + timedelta(seconds=hi))
            off = new
        t = n
    result = tuple(out)
    with _LOCK:
        if len(_CACHE) > 10_000:
            _CACHE.clear()
        _CACHE[key] = result
    return result


def segment(tz: tzinfo, instant: datetime) -> tuple[timedelta, datetime]:
    """``(offset, end)``: *tz*'s offset at *instant* and the next instant it changes (or, when
    it does not change within the rest of this year and the next two, the start of the year
    after those: the offset holds at least until *end*)."""
    off = _offset(tz, instant)
    for year in range(instant.year, instant.year + 3):
        found = transitions(tz, year)
        i = bisect.bisect_right(found, instant)
        if i < len(found):
            return off, found[i]
    return off, datetime(min(instant.year + 3, 9999), 1, 1, tzinfo=UTC)


def previous_transition(tz: tzinfo, instant: datetime) -> datetime | None:
    """The last instant at or before *instant* at which *tz* took a new offset (looking
    back to the start of last year), or ``None``."""
    for year in (instant.year, instant.year - 1):
        found = transitions(tz, year)
        i = bisect.bisect_right(found, instant)
        if i > 0:
            return found[i - 1]
    return None
