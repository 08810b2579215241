"""Scheduler benchmark S1: 10,000 active cron triggers in a DST-observing zone, on one core,
across both daylight-saving change days.

    uv run python benchmarks/scheduler.py [--triggers 10000] [--minutes 2] [--idle 60]
        [--zone Europe/Berlin] [--year 2026]

The scheduler runs on a **simulated clock**: real time, shifted so that it starts shortly
before a change of the zone's UTC offset (``--zone``'s spring-forward and fall-back
instants in ``--year``). Everything else is real: the store, the scheduler's work, the CPU
it spends. Two measurements per change day, each in a fresh SQLite store (WAL,
``synchronous=FULL``), with this process pinned to one CPU core:

- **delay**: 10,000 cron triggers in the zone (100 registered pipelines x 100 triggers),
  each firing once a minute at its own second (``S * * * * *``, S = trigger number mod 60),
  so about 167 triggers fall due together every second. The scheduler runs for
  ``--minutes``, centred on the change; for every run it creates, the delay is the time from
  the trigger's due time to the commit of the transaction that created the run. Reported:
  median, p99, max, runs created, and the runs every trigger should have created in that
  time (each trigger exactly once per minute).
- **idle CPU**: the service's scheduler and worker pool (``Service`` without HTTP) with
  10,000 active cron triggers in the zone none of which is due for months (``0 0 1 1 *``),
  for ``--idle`` seconds centred on the change; the CPU time the process used (user +
  system), as seconds per minute and as a share of one core.

Targets, on both days: p99 delay < 1 s; idle CPU < 2 %. Writes
``benchmarks/results/scheduler.json`` and ``scheduler.md``; ``benchmarks/run.py`` runs it
after the engine workloads.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

TARGET_P99_S = 1.0
TARGET_IDLE_CPU = 0.02


def _pin() -> str:
    try:
        cpu = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    except (AttributeError, OSError):
        return "not pinned"


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class ShiftedClock:
    """Real time, shifted to start at *start* (a simulated date; seconds last real seconds)."""

    def __init__(self, start: dt.datetime) -> None:
        self._start = start
        self._t0 = time.monotonic()

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=time.monotonic() - self._t0)

    def monotonic(self) -> float:
        return time.monotonic()

    def busy(self, delta: int) -> None:
        """Real time passes by itself."""

    async def sleep(self, seconds: float) -> None:
        import anyio

        await anyio.sleep(max(0.0, seconds))


class FixedClock:
    """A clock standing at *at* (the triggers are registered "at" the simulated start)."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at


def changes(zone: str, year: int) -> list[dt.datetime]:
    """The instants *zone* changes its UTC offset in *year*."""
    from zoneinfo import ZoneInfo

    from orchestra_core._triggers._offsets import transitions

    return list(transitions(ZoneInfo(zone), year))


def _register(store: Any, n: int, cron_for: Any, zone: str, clock: Any) -> float:
    from orchestra_core import Orchestra
    from orchestra_core._scheduling.registry import PipelineRegistry

    host = Orchestra(load_entrypoints=False)
    registry = PipelineRegistry(store, clock=clock)
    per = 100
    started = time.monotonic()
    for p in range((n + per - 1) // per):
        count = min(per, n - p * per)
        registry.apply(host.pipeline_from_data({
            "name": f"bench_{p:03d}",
            "triggers": [{"id": f"t{i}", "cron": cron_for(p * per + i), "timezone": zone}
                         for i in range(count)],
            "tasks": [{"id": "a", "integration": "noop", "integration_job": "noop_run"}]}))
    return time.monotonic() - started


def measure_delay(n: int, minutes: float, workdir: Path, zone: str,
                  change: dt.datetime) -> dict[str, Any]:
    """Run the scheduler against *n* every-minute triggers in *zone* for *minutes* centred
    on *change*; delays of the runs it creates."""
    import anyio

    from orchestra_core._scheduling.scheduler import Scheduler
    from orchestra_core._store import Store

    store = Store.open(str(workdir / f"delay-{change:%m%d}.db"))
    half = dt.timedelta(seconds=minutes * 30)
    setup_s = _register(store, n, lambda i: f"{i % 60} * * * * *", zone,
                        FixedClock(change - half))
    clock = ShiftedClock(change - half)
    delays: list[float] = []
    scheduler = Scheduler(store, clock=clock)
    scheduler.keep_fired = 10**7
    seen = 0
    start = clock.now()
    backlog = 0

    def committed(ids: list[str]) -> None:
        nonlocal seen, backlog
        now = clock.now()
        for fired in scheduler.fired[seen:]:
            if fired.due < start:  # fell due while the triggers were being registered
                backlog += 1
            else:
                delays.append((now - fired.due).total_seconds())
        seen = len(scheduler.fired)

    scheduler.on_runs = committed

    async def main() -> float:
        nonlocal start
        # fire what fell due while the triggers were being registered, then measure
        start = clock.now() + dt.timedelta(days=1)
        await scheduler.tick()
        start = clock.now()
        cpu0 = _cpu_s()
        with anyio.move_on_after(minutes * 60):
            await scheduler.run()
        return _cpu_s() - cpu0

    cpu = anyio.run(main)
    store.close()
    delays.sort()
    expected_per_minute = n
    return {
        "zone": zone, "change_utc": change.isoformat(),
        "simulated_from": start.isoformat(timespec="seconds"),
        "triggers": n, "minutes": minutes, "setup_s": round(setup_s, 1),
        "runs": len(delays), "expected_runs_about": int(expected_per_minute * minutes),
        "backlog_runs_excluded": backlog,
        "median_s": round(statistics.median(delays), 4) if delays else None,
        "p99_s": round(delays[int(len(delays) * 0.99) - 1], 4) if delays else None,
        "max_s": round(delays[-1], 4) if delays else None,
        "cpu_s": round(cpu, 2), "cpu_share": round(cpu / (minutes * 60), 4),
        "passes": scheduler.passes,
    }


def measure_idle(n: int, seconds: float, workdir: Path, zone: str,
                 change: dt.datetime) -> dict[str, Any]:
    """CPU used by the service's scheduler and worker pool while nothing is due, for
    *seconds* centred on *change*."""
    import anyio

    from orchestra_core import Orchestra
    from orchestra_core._service import Service
    from orchestra_core._store import Store

    store = Store.open(str(workdir / f"idle-{change:%m%d}.db"))
    half = dt.timedelta(seconds=seconds / 2 + 2)
    _register(store, n, lambda i: "0 0 1 1 *", zone, FixedClock(change - half))
    clock = ShiftedClock(change - half)
    service = Service(Orchestra(load_entrypoints=False), store, clock=clock, http_host=None)

    async def main() -> float:
        async with anyio.create_task_group() as tg:
            await tg.start(service.run)
            await anyio.sleep(2)  # settle
            cpu0 = _cpu_s()
            await anyio.sleep(seconds)
            used = _cpu_s() - cpu0
            service.stop()
        return used

    used = anyio.run(main)
    store.close()
    passes = service.scheduler.passes if service.scheduler else 0
    return {"zone": zone, "change_utc": change.isoformat(), "triggers": n,
            "seconds": seconds, "cpu_s": round(used, 3),
            "cpu_s_per_minute": round(used * 60 / seconds, 3),
            "cpu_share": round(used / seconds, 5), "scheduler_passes": passes,
            "runs_created": len(service.scheduler.fired) if service.scheduler else 0}


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Scheduler benchmark (S1)", "",
        f"`{report['command']}` on {report['machine']['python']}, {report['machine']['cpu']}"
        f", {report['pinned']}, {report['started_at']}, load average at start "
        f"{report['machine'].get('load_average_at_start')} (other processes share the "
        "machine). Triggers in "
        f"{report['zone']}; simulated clock centred on each change of its UTC offset.", "",
        "| change (UTC) | measure | value | target | verdict |", "|---|---|---|---|---|",
    ]
    for d, i in zip(report["delay"], report["idle"], strict=True):
        when = d["change_utc"][:16]
        ok = d["p99_s"] is not None and d["p99_s"] < TARGET_P99_S
        lines += [
            f"| {when} | delay due -> run committed, median | {d['median_s'] * 1000:.1f} ms "
            "| | |",
            f"| {when} | delay due -> run committed, p99 | {d['p99_s'] * 1000:.1f} ms | "
            f"< 1000 ms | {'PASS' if ok else 'FAIL'} |",
            f"| {when} | delay, max | {d['max_s'] * 1000:.1f} ms | | |",
            f"| {when} | runs created in {d['minutes']:g} min ({d['triggers']:,} triggers, "
            f"each once a minute) | {d['runs']:,} (about {d['expected_runs_about']:,} due) "
            "| | |",
            f"| {when} | scheduler CPU under that load | {d['cpu_share'] * 100:.1f} % of one "
            "core | | |",
            f"| {when} | idle CPU, {i['triggers']:,} active triggers, scheduler + worker pool "
            f"| {i['cpu_s_per_minute']:.3f} s per minute ({i['cpu_share'] * 100:.2f} %) | "
            f"< 2 % | {'PASS' if i['cpu_share'] < TARGET_IDLE_CPU else 'FAIL'} |",
        ]
    lines += ["", "How it is measured: see the docstring of `benchmarks/scheduler.py`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--triggers", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=2.0,
                        help="how long the delay measurement runs")
    parser.add_argument("--idle", type=float, default=60.0,
                        help="seconds of the idle CPU measurement")
    parser.add_argument("--zone", default="Europe/Berlin",
                        help="the triggers' timezone (one that observes DST)")
    parser.add_argument("--year", type=int, default=2026,
                        help="measure around the zone's offset changes in this year")
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    pinned = _pin()
    report: dict[str, Any] = {
        "command": "uv run python benchmarks/scheduler.py" + "".join(
            f" {a}" for a in (sys.argv[1:] if argv is None else argv)),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "pinned": pinned,
        "machine": {"python": platform.python_version(), "cpu": platform.processor()
                    or platform.machine(), "cores": os.cpu_count(),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
    }
    report["zone"] = args.zone
    report["delay"], report["idle"] = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for change in changes(args.zone, args.year):
            print(f"S1 delay: {args.triggers:,} triggers in {args.zone} for {args.minutes:g} "
                  f"min around {change:%Y-%m-%d %H:%M}Z ...", flush=True)
            report["delay"].append(measure_delay(args.triggers, args.minutes, Path(tmp),
                                                 args.zone, change))
            print(f"  {report['delay'][-1]}", flush=True)
            print(f"S1 idle: {args.triggers:,} triggers for {args.idle:g} s around "
                  f"{change:%Y-%m-%d %H:%M}Z ...", flush=True)
            report["idle"].append(measure_idle(args.triggers, args.idle, Path(tmp),
                                               args.zone, change))
            print(f"  {report['idle'][-1]}", flush=True)
    report["delay_passed"] = bool(report["delay"]) and all(
        d["p99_s"] is not None and d["p99_s"] < TARGET_P99_S for d in report["delay"])
    report["idle_passed"] = bool(report["idle"]) and all(
        i["cpu_share"] < TARGET_IDLE_CPU for i in report["idle"])
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "scheduler.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.output / "scheduler.md").write_text(markdown(report))
    print(f"wrote {args.output / 'scheduler.json'} and {args.output / 'scheduler.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
