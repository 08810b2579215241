"""Scheduler benchmark S1: 10,000 active cron triggers on one core.

    uv run python benchmarks/scheduler.py [--triggers 10000] [--minutes 2] [--idle 60]

Two measurements, each in a fresh SQLite store (WAL, ``synchronous=FULL``), with this
process pinned to one CPU core:

- **delay**: 10,000 cron triggers (100 registered pipelines x 100 triggers), each firing
  once a minute at its own second (``S * * * * *``, S = trigger number mod 60), so about
  167 triggers fall due together every second. The scheduler runs for ``--minutes``; for
  every run it creates, the delay is the time from the trigger's due time to the commit of
  the transaction that created the run. Reported: median, p99, max, runs created, and the
  runs every trigger should have created in that time (each trigger exactly once per
  minute).
- **idle CPU**: the service's scheduler and worker pool (``Service`` without HTTP) with
  10,000 active cron triggers none of which is due for months (``0 0 1 1 *`` is not due
  before next New Year; the run fails when started on December 31 or January 1), for
  ``--idle`` seconds; the CPU time the process used (user + system), as seconds per minute
  and as a share of one core.

Targets: p99 delay < 1 s; idle CPU < 2 %. Writes ``benchmarks/results/scheduler.json`` and
``scheduler.md``; ``benchmarks/run.py`` runs it after the engine workloads.
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


def _register(store: Any, n: int, cron_for: Any) -> float:
    from orchestra_core import Orchestra
    from orchestra_core._scheduling.registry import PipelineRegistry

    host = Orchestra(load_entrypoints=False)
    registry = PipelineRegistry(store)
    per = 100
    started = time.monotonic()
    for p in range((n + per - 1) // per):
        count = min(per, n - p * per)
        registry.apply(host.pipeline_from_data({
            "name": f"bench_{p:03d}",
            "triggers": [{"id": f"t{i}", "cron": cron_for(p * per + i)} for i in range(count)],
            "tasks": [{"id": "a", "integration": "noop", "integration_job": "noop_run"}]}))
    return time.monotonic() - started


def measure_delay(n: int, minutes: float, workdir: Path) -> dict[str, Any]:
    """Run the scheduler against *n* every-minute triggers; delays of the runs it creates."""
    import anyio

    from orchestra_core._scheduling.scheduler import Scheduler
    from orchestra_core._store import Store

    store = Store.open(str(workdir / "delay.db"))
    setup_s = _register(store, n, lambda i: f"{i % 60} * * * * *")
    delays: list[float] = []
    scheduler = Scheduler(store)
    scheduler.keep_fired = 10**7
    seen = 0

    start = dt.datetime.now(dt.UTC)
    backlog = 0

    def committed(ids: list[str]) -> None:
        nonlocal seen, backlog
        now = dt.datetime.now(dt.UTC)
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
        start = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        await scheduler.tick()
        start = dt.datetime.now(dt.UTC)
        cpu0 = _cpu_s()
        with anyio.move_on_after(minutes * 60):
            await scheduler.run()
        return _cpu_s() - cpu0

    cpu = anyio.run(main)
    store.close()
    delays.sort()
    expected_per_minute = n
    return {
        "triggers": n, "minutes": minutes, "setup_s": round(setup_s, 1),
        "runs": len(delays), "expected_runs_about": int(expected_per_minute * minutes),
        "backlog_runs_excluded": backlog,
        "median_s": round(statistics.median(delays), 4) if delays else None,
        "p99_s": round(delays[int(len(delays) * 0.99) - 1], 4) if delays else None,
        "max_s": round(delays[-1], 4) if delays else None,
        "cpu_s": round(cpu, 2), "cpu_share": round(cpu / (minutes * 60), 4),
        "passes": scheduler.passes,
    }


def measure_idle(n: int, seconds: float, workdir: Path) -> dict[str, Any]:
    """CPU used by the service's scheduler and worker pool while nothing is due."""
    import anyio

    from orchestra_core import Orchestra
    from orchestra_core._service import Service
    from orchestra_core._store import Store

    store = Store.open(str(workdir / "idle.db"))
    _register(store, n, lambda i: "0 0 1 1 *")
    service = Service(Orchestra(load_entrypoints=False), store, http_host=None)

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
    return {"triggers": n, "seconds": seconds, "cpu_s": round(used, 3),
            "cpu_s_per_minute": round(used * 60 / seconds, 3),
            "cpu_share": round(used / seconds, 5), "scheduler_passes": passes,
            "runs_created": len(service.scheduler.fired) if service.scheduler else 0}


def markdown(report: dict[str, Any]) -> str:
    d, i = report["delay"], report["idle"]
    lines = [
        "# Scheduler benchmark (S1)", "",
        f"`{report['command']}` on {report['machine']['python']}, {report['machine']['cpu']}"
        f", {report['pinned']}, {report['started_at']}, load average at start "
        f"{report['machine'].get('load_average_at_start')} (other processes share the "
        "machine).", "",
        "| measure | value | target | verdict |", "|---|---|---|---|",
        f"| delay due -> run committed, median | {d['median_s'] * 1000:.1f} ms | | |",
        f"| delay due -> run committed, p99 | {d['p99_s'] * 1000:.1f} ms | < 1000 ms | "
        f"{'PASS' if report['delay_passed'] else 'FAIL'} |",
        f"| delay, max | {d['max_s'] * 1000:.1f} ms | | |",
        f"| runs created in {d['minutes']:g} min ({d['triggers']:,} triggers, each once a "
        f"minute) | {d['runs']:,} (about {d['expected_runs_about']:,} due) | | |",
        f"| scheduler CPU under that load | {d['cpu_share'] * 100:.1f} % of one core | | |",
        f"| idle CPU, {i['triggers']:,} active triggers, scheduler + worker pool | "
        f"{i['cpu_s_per_minute']:.3f} s per minute ({i['cpu_share'] * 100:.2f} %) | < 2 % | "
        f"{'PASS' if report['idle_passed'] else 'FAIL'} |",
        "", "How it is measured: see the docstring of `benchmarks/scheduler.py`.", "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--triggers", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=2.0,
                        help="how long the delay measurement runs")
    parser.add_argument("--idle", type=float, default=60.0,
                        help="seconds of the idle CPU measurement")
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
    with tempfile.TemporaryDirectory() as tmp:
        print(f"S1 delay: {args.triggers:,} triggers for {args.minutes:g} min ...", flush=True)
        report["delay"] = measure_delay(args.triggers, args.minutes, Path(tmp))
        print(f"  {report['delay']}", flush=True)
        print(f"S1 idle: {args.triggers:,} triggers for {args.idle:g} s ...", flush=True)
        report["idle"] = measure_idle(args.triggers, args.idle, Path(tmp))
        print(f"  {report['idle']}", flush=True)
    d = report["delay"]
    report["delay_passed"] = d["p99_s"] is not None and d["p99_s"] < TARGET_P99_S
    report["idle_passed"] = report["idle"]["cpu_share"] < TARGET_IDLE_CPU
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "scheduler.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.output / "scheduler.md").write_text(markdown(report))
    print(f"wrote {args.output / 'scheduler.json'} and {args.output / 'scheduler.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
