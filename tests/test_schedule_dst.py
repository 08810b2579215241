"""Fire times around daylight-saving changes: their cost does not depend on the date, step and
range hour fields follow real time like ``*``, intervals count elapsed time, and every
real-time schedule agrees with a brute-force walk over instants."""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from orchestra_core._store import Store
from orchestra_core._triggers._offsets import transitions
from orchestra_core._triggers.model import IntervalTrigger
from orchestra_core._triggers.times import cron_follows_real_time, next_cron, next_fire

from .test_scheduling import Sched, _at, fires

BERLIN = ZoneInfo("Europe/Berlin")
SPRING, AUTUMN = _at("2026-03-29T01:00"), _at("2026-10-25T01:00")  # Berlin's changes


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def sqlite_store(tmp_path):
    s = Store.open(str(tmp_path / "o.db"))
    yield s
    s.close()


def _per_call_ms(expr: str, tz: ZoneInfo, after: datetime, n: int = 40) -> float:
    next_cron(expr, tz, after)  # parse once
    started = time.perf_counter()
    for i in range(n):
        next_cron(expr, tz, after + timedelta(seconds=7 * i))
    return (time.perf_counter() - started) / n * 1000


@pytest.mark.parametrize("expr", ["* * * * *", "* * * * * *", "*/5 * * * *", "30 2 * * *"])
def test_a_next_fire_near_a_change_costs_what_it_costs_elsewhere(expr):
    transitions(BERLIN, 2026)  # found once per zone and year
    far = min(_per_call_ms(expr, BERLIN, _at("2026-06-10T12:00")) for _ in range(3))
    for change in (SPRING, AUTUMN):
        for before in (timedelta(hours=2), timedelta(minutes=1), timedelta(0),
                       -timedelta(minutes=30)):
            near = min(_per_call_ms(expr, BERLIN, change - before) for _ in range(3))
            # walking local time through the change cost 7 to 300 ms per call
            assert near < max(2.0, 10 * far), (expr, change - before, near, far)


def test_transitions_are_the_exact_seconds_the_offset_changes():
    assert transitions(BERLIN, 2026) == (SPRING, AUTUMN)
    assert transitions(ZoneInfo("UTC"), 2026) == ()
    for t in transitions(ZoneInfo("Australia/Lord_Howe"), 2026):  # 30-minute changes
        assert t.astimezone(ZoneInfo("Australia/Lord_Howe")).utcoffset() != (
            t - timedelta(seconds=1)).astimezone(ZoneInfo("Australia/Lord_Howe")).utcoffset()


@pytest.mark.parametrize("expr", ["30 */1 * * *", "30 0-23 * * *", "30 * * * *"])
@pytest.mark.parametrize("change", ["2026-03-29T01:00", "2026-10-25T01:00"])
async def test_step_and_range_hour_fields_follow_real_time_like_a_star(sqlite_store, expr,
                                                                       change):
    # London: 01:00 GMT -> 02:00 BST in March; 02:00 BST -> 01:00 GMT in October
    assert cron_follows_real_time(expr)
    s = Sched(sqlite_store, start=_at(change) - timedelta(hours=3))
    s.apply({"cron": expr, "timezone": "Europe/London"})
    await s.run_until(_at(change) + timedelta(hours=3))
    times = [t for t, *_ in s.runs()]
    assert len(times) == 6
    # one run an hour in real time: no 2-hour hole on the fall-back day (it jumped from
    # 00:30Z to 02:30Z), 01:30 GMT and 01:30 BST both run
    assert {b - a for a, b in itertools.pairwise(times)} == {timedelta(hours=1)}
    assert all(t.minute == 30 for t in times)


@pytest.mark.parametrize(("expr", "fixed"), [("30 2 * * *", True), ("0 6,18 * * *", True),
                                             ("0 0 2 * * *", True), ("0 1-3 * * *", False),
                                             ("0 */2 * * *", False), ("0 * * * *", False)])
def test_only_literal_hours_are_fixed_hours(expr, fixed):
    assert cron_follows_real_time(expr) is not fixed


async def test_a_90_minute_interval_across_spring_forward_fires_90_minutes_apart(
        sqlite_store):
    s = Sched(sqlite_store, start=_at("2026-03-28T20:00"))
    s.apply({"kind": "interval", "frequency": 90, "frequency_type": "minutes",
             "start_time": "00:00", "timezone": "Europe/Berlin"})
    await s.run_until(_at("2026-03-29T06:00"))
    times = [t for t, *_ in s.runs()]
    assert len(times) >= 6
    assert {b - a for a, b in itertools.pairwise(times)} == {timedelta(minutes=90)}
    assert "03-29 01:30 CET" in fires(s.runs(), "Europe/Berlin")
    assert "03-29 04:00 CEST" in fires(s.runs(), "Europe/Berlin")  # 01:30 CET + 90 min


def test_intervals_count_elapsed_time_also_in_autumn_and_from_a_dated_start():
    trig = IntervalTrigger(frequency=2, start_time="2026-10-24T23:00",
                           timezone="Europe/Berlin")
    t, seen = _at("2026-10-20T00:00"), []
    for _ in range(5):
        t = next_fire(trig, t)
        seen.append(t)
    assert seen[0] == _at("2026-10-24T21:00")  # nothing before the start
    assert {b - a for a, b in itertools.pairwise(seen)} == {timedelta(hours=2)}


def _brute(expr: str, tz: ZoneInfo, after: datetime, step: timedelta) -> datetime:
    """The first instant after *after* (on a *step* grid) whose local wall time matches."""
    t = after.replace(second=0, microsecond=0) if step >= timedelta(minutes=1) else \
        after.replace(microsecond=0)
    seconds_first = len(expr.split()) == 6
    first = croniter(expr, second_at_beginning=seconds_first).expanded[0]
    wanted = None if first == ["*"] else set(first)  # a cheap filter before match()
    while True:
        t += step
        wall = t.astimezone(tz).replace(tzinfo=None)
        if wanted is not None and (wall.second if seconds_first else wall.minute) not in wanted:
            continue
        if t > after and croniter.match(expr, wall, second_at_beginning=seconds_first):
            return t


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                                  "America/Sao_Paulo", "Pacific/Chatham"])
@pytest.mark.parametrize("expr", ["*/7 * * * *", "30 */1 * * *", "15 0-23 * * *",
                                  "0 1-3 * * *", "45 */2 * * *"])
def test_real_time_crons_match_a_brute_force_walk_over_instants(zone, expr):
    tz = ZoneInfo(zone)
    for year in (2019, 2026):
        for change in transitions(tz, year):
            after = change - timedelta(hours=3, seconds=11)
            while after < change + timedelta(hours=3):
                found = next_cron(expr, tz, after)
                assert found == _brute(expr, tz, after, timedelta(minutes=1)), (zone, after)
                after = found


def test_seconds_crons_match_a_brute_force_walk_across_both_changes():
    for change in (SPRING, AUTUMN):
        after = change - timedelta(seconds=40)
        while after < change + timedelta(seconds=40):
            found = next_cron("*/13 * * * * *", BERLIN, after)
            assert found == _brute("*/13 * * * * *", BERLIN, after, timedelta(seconds=1))
            after = found
