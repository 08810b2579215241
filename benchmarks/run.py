"""Run every benchmark workload against the engine and the floor; write the results.

    uv run python benchmarks/run.py [--quick] [--repeat 3] [--only W1-10000,W3-500]

Each measurement is a fresh ``python benchmarks/worker.py`` process on a fresh SQLite store
file (WAL, ``synchronous=FULL``) in its own temporary directory; W3 gets a fresh job server
process (``python -m orchestra_core.testing.jobserver --duration 2``). Engine and floor
measurements alternate (E F, F E, E F, ...) so a drift in machine load hits both; each figure
is the median of the repetitions. Writes ``benchmarks/results/latest.json`` and
``benchmarks/results/latest.md``; then runs the scheduler benchmark
(``benchmarks/scheduler.py``, results in ``benchmarks/results/scheduler.{json,md}``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import resource
import shlex
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "worker.py"

DESCRIPTIONS = {
    "W1": "fan-out/fan-in: 1 root, N parallel noop tasks, 1 final task",
    "W2": "chain of N noop tasks",
    "W3": "N external jobs via the http integration (POST, poll every 0.5 s; jobs take 2 s)",
}
#: Engine wall time / floor wall time must stay within these.
RATIO_TARGETS = {"W1": 2.0, "W2": 2.0, "W3": 1.25}
#: W3's engine peak RSS must stay under this (MiB).
W3_RSS_LIMIT_MB = 250.0
FULL = [("W1", 1000), ("W1", 10000), ("W2", 1000), ("W3", 500)]
QUICK = [("W1", 200), ("W2", 200), ("W3", 200)]
#: Connection pools behind the floor's one httpx client in W3 (see the README: a single
#: httpcore pool of 500 busy connections is CPU-bound and would make a floor 4x slower
#: than the engine).
FLOOR_POOLS = 64
JOB_DURATION = 2.0
#: Floor variants measured once after the workloads, to show what the floor's choices buy.
REFERENCES = [
    {"id": "W1-10000", "label": "floor with Python's default GC thresholds",
     "options": {"gc_mode": "default"},
     "why": "The engine raises the GC thresholds while it runs; the verdict's floor runs "
            "with the same thresholds, so the ratio measures the engine's work, not the GC "
            "setting."},
    {"id": "W3-500", "label": "floor through one pool of 500 connections",
     "options": {"pools": 1},
     "why": "The brief's literal W3 floor (one httpx.AsyncClient, one pool sized for 500). "
            "httpcore scans every connection of a pool for each request it queues or "
            f"releases, so one pool of 500 busy connections is CPU-bound; the verdict's floor "
            f"spreads the same 500 connections over {FLOOR_POOLS} pools of one client."},
]


# -- machine state -----------------------------------------------------------------------------

def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat (0, 0 elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0, 0
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


def _busy_fraction(seconds: float) -> float:
    """Share of the whole machine's CPU time that was busy over the next *seconds*."""
    b0, t0 = _cpu_ticks()
    time.sleep(seconds)
    b1, t1 = _cpu_ticks()
    return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


def wait_for_quiet(threshold: float, max_wait: float) -> float:
    """Wait (at most *max_wait* s) until other work keeps under *threshold* of the machine
    busy; return the last busy fraction seen."""
    deadline = time.monotonic() + max_wait
    busy = _busy_fraction(0.5)
    while busy > threshold and time.monotonic() < deadline:
        busy = _busy_fraction(1.0)
    return busy


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _fs_type(path: Path) -> str:
    best, kind = "", "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mount = parts[1]
            if str(path).startswith(mount) and len(mount) > len(best):
                best, kind = mount, f"{parts[2]} ({parts[0]} on {mount})"
    return kind


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine_info(tmp: Path) -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    versions = {}
    for dist in ("orchestra-core", "anyio", "httpx", "httpcore", "SQLAlchemy", "trio"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    dirty = [line[3:] for line in _git("status", "--porcelain", "--", "orchestra_core")
             .splitlines() if line.strip()]
    return {
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_gib": mem,
        "sqlite": sqlite3.sqlite_version,
        "packages": versions,
        "store_dir": str(tmp),
        "store_filesystem": _fs_type(tmp),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "orchestra_core_uncommitted_changes": dirty,
        "load_average_at_start": list(os.getloadavg()),
    }


# -- one measurement ---------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A server the benchmark runs as its own process (``self.proc``): its CPU time, and
    stopping it."""

    proc: subprocess.Popen

    def cpu_s(self) -> float | None:
        """CPU seconds the server used so far (Linux), or None."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class JobServer(ServerProcess):
    """The fake job API as its own process, on a free port."""

    def __init__(self, duration: float) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestra_core.testing.jobserver", "--port",
             str(self.port), "--duration", str(duration)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.5):
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                self.stop()
                raise RuntimeError(f"the job server did not start: {err}")
            time.sleep(0.05)


def measure(impl: str, workload: str, n: int, *, backend: str, pools: int,
            quiet: tuple[float, float] | None, timeout: float,
            gc_mode: str = "engine") -> dict[str, Any]:
    """One fresh worker process on a fresh store; its JSON line, plus the machine's state."""
    busy_before = wait_for_quiet(*quiet) if quiet else None
    tmp = Path(tempfile.mkdtemp(prefix="orchestra-bench-"))
    server = None
    try:
        cmd = [sys.executable, str(WORKER), impl, workload, "--n", str(n),
               "--db", str(tmp / "store.db"), "--backend", backend]
        if impl == "floor":
            cmd += ["--pools", str(pools), "--gc", gc_mode]
        if workload == "W3":
            server = JobServer(JOB_DURATION)
            cmd += ["--url", server.url]
        server_cpu0 = server.cpu_s() if server else None
        children0, (busy0, total0), t0 = _children_cpu(), _cpu_ticks(), time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        elapsed = time.monotonic() - t0
        busy1, total1 = _cpu_ticks()
        server_cpu = (server.cpu_s() or 0.0) - server_cpu0 if server and server_cpu0 is not None \
            else None
        if proc.returncode != 0 or not proc.stdout.strip():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            return {"impl": impl, "error": f"exit {proc.returncode}: " + " | ".join(tail)}
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        # CPU used by everything but this measurement's processes while the worker ran
        # (the worker's whole life, imports included): other load on the machine.
        ours = _children_cpu() - children0 + (server_cpu or 0.0)
        ticks = os.sysconf("SC_CLK_TCK")
        cpus = (total1 - total0) / ticks / elapsed if elapsed > 0 else 1
        if total1 > total0:
            other = max(0.0, (busy1 - busy0) / ticks - ours) / (elapsed * cpus)
            out["other_load"] = round(other, 3)
        if busy_before is not None:
            out["busy_before"] = round(busy_before, 3)
        if server_cpu is not None:
            out["jobserver_cpu_s"] = round(server_cpu, 2)
        return out
    except subprocess.TimeoutExpired:
        return {"impl": impl, "error": f"timed out after {timeout:g} s"}
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# -- summary -----------------------------------------------------------------------------------

SUMMARY_FIELDS = ("wall_s", "tasks_per_s", "cpu_s", "peak_rss_mb", "commits", "writes",
                  "event_rows", "rss_before_run_mb", "jobserver_cpu_s", "other_load")


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in runs if "error" not in r]
    out: dict[str, Any] = {"runs": runs, "ok": len(good) == len(runs) and bool(good)}
    if not good:
        return out
    median = {}
    for key in SUMMARY_FIELDS:
        values = [r[key] for r in good if r.get(key) is not None]
        if values:
            median[key] = round(statistics.median(values), 4)
    median["wall_s_min"] = min(r["wall_s"] for r in good)
    median["wall_s_max"] = max(r["wall_s"] for r in good)
    median["peak_rss_mb_max"] = max(r["peak_rss_mb"] for r in good)
    out["median"] = median
    return out


def verdict(workload: str, tasks: int, engine: dict[str, Any],
            floor: dict[str, Any]) -> dict[str, Any]:
    target = RATIO_TARGETS[workload]
    result: dict[str, Any] = {"ratio_target": target}
    if not (engine.get("median") and floor.get("median")):
        result.update(passed=False, why="a measurement failed")
        return result
    e, f = engine["median"], floor["median"]
    ratio = e["wall_s"] / f["wall_s"]
    result["ratio"] = round(ratio, 3)
    result["ratio_range"] = [round(e["wall_s_min"] / f["wall_s_max"], 3),
                             round(e["wall_s_max"] / f["wall_s_min"], 3)]
    extra = (e["wall_s"] - f["wall_s"]) / tasks * 1e6
    result["engine_extra_us_per_task"] = round(extra, 1)
    checks = [ratio <= target]
    why = [f"engine/floor wall time {ratio:.2f}x (target <= {target:g}x), the engine's extra "
           f"{extra:,.0f} us per task"]
    if workload == "W3":
        result["rss_limit_mb"] = W3_RSS_LIMIT_MB
        rss = e["peak_rss_mb_max"]
        checks.append(rss < W3_RSS_LIMIT_MB)
        why.append(f"engine peak RSS {rss:.0f} MB, worst of the runs (target < "
                   f"{W3_RSS_LIMIT_MB:g} MB)")
    result["passed"] = all(checks) and engine["ok"] and floor["ok"]
    result["why"] = "; ".join(why)
    return result


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Orchestra benchmarks" + (" (--quick: a smoke check, small N)" if report["quick"]
                                    else ""),
        "",
        f"Command: `{report['command']}`  ",
        f"Started {report['started_at']}, took {report['duration_s']:.0f} s; "
        f"{report['repeat']} repetition(s) per figure, the median shown; "
        f"event loop: {report['backend']}.",
        "",
        "## Results",
        "",
        "| workload | tasks | engine wall s | engine tasks/s | engine peak RSS MB "
        "| floor wall s | floor tasks/s | floor peak RSS MB | engine/floor | target | result |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for w in report["workloads"]:
        e, f, v = w["engine"].get("median", {}), w["floor"].get("median", {}), w["verdict"]
        target = f"<= {v['ratio_target']:g}x"
        if "rss_limit_mb" in v:
            target += f", RSS < {v['rss_limit_mb']:g} MB"
        lines.append(
            f"| {w['id']} | {_fmt(w['tasks'])} | {_fmt(e.get('wall_s'))} "
            f"| {_fmt(e.get('tasks_per_s'), 0)} | {_fmt(e.get('peak_rss_mb'), 0)} "
            f"| {_fmt(f.get('wall_s'))} | {_fmt(f.get('tasks_per_s'), 0)} "
            f"| {_fmt(f.get('peak_rss_mb'), 0)} | {_fmt(v.get('ratio'), 2)}x | {target} "
            f"| **{'PASS' if v['passed'] else 'FAIL'}** |")
    lines += ["", "Verdicts:", ""]
    for w in report["workloads"]:
        v = w["verdict"]
        lines.append(f"- **{w['id']}** ({DESCRIPTIONS[w['workload']]}): "
                     f"{'PASS' if v['passed'] else 'FAIL'}: {v.get('why', '')}"
                     + (f"; ratio between the runs' extremes {v['ratio_range'][0]:.2f}x to "
                        f"{v['ratio_range'][1]:.2f}x" if "ratio_range" in v else ""))
    lines += ["", "## Every run", "",
              "Wall and CPU seconds of the timed run only; CPU counts all threads of the "
              "worker; commits are `Store.apply` transactions (one more creates the run), "
              "writes the transitions and log rows they held; "
              "`other load` is the share of the machine busy with processes that are not "
              "part of the measurement while it ran.", "",
              "| workload | impl | # | wall s | CPU s | tasks/s | peak RSS MB | commits "
              "| writes | log rows | job server CPU s | other load |",
              "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for w in report["workloads"]:
        for impl in ("engine", "floor"):
            for i, r in enumerate(w[impl]["runs"], 1):
                if "error" in r:
                    lines.append(f"| {w['id']} | {impl} | {i} | error: {r['error']} |"
                                 + " |" * 8)
                    continue
                lines.append(
                    f"| {w['id']} | {impl} | {i} | {_fmt(r['wall_s'])} | {_fmt(r['cpu_s'])} "
                    f"| {_fmt(r['tasks_per_s'], 0)} | {_fmt(r['peak_rss_mb'], 1)} "
                    f"| {_fmt(r['commits'])} | {_fmt(r['writes'])} | {_fmt(r['event_rows'])} "
                    f"| {_fmt(r.get('jobserver_cpu_s'), 2)} | {_fmt(r.get('other_load'), 2)} |")
    if report.get("references"):
        lines += ["", "## Reference runs (one each, not used for the verdicts)", ""]
        for ref in report["references"]:
            r = ref["result"]
            shown = (f"error: {r['error']}" if "error" in r else
                     f"wall {r['wall_s']:.3f} s, CPU {r['cpu_s']:.3f} s, "
                     f"{r['tasks_per_s']:,.0f} tasks/s, peak RSS {r['peak_rss_mb']:.0f} MB")
            lines.append(f"- {ref['id']} {ref['label']}: {shown}. {ref['why']}")
    lines += ["", "## Machine", ""]
    for key, value in m.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "none"
        lines.append(f"- {key.replace('_', ' ')}: {value}")
    thresholds = sorted({str(tuple(r["gc_threshold"])) for w in report["workloads"]
                         for r in w["floor"]["runs"] if "gc_threshold" in r})
    tune = sorted({str(r.get("tune_gc")) for w in report["workloads"]
                   for r in w["engine"]["runs"] if "error" not in r})
    lines.append(f"- GC: engine tune_gc {', '.join(tune) or '-'}; floor thresholds during its "
                 f"runs {', '.join(thresholds) or '-'}")
    lines += ["", "## Method", "", *[f"- {line}" for line in report["method"]], ""]
    return "\n".join(lines)


METHOD = [
    "Each measurement is a fresh `python benchmarks/worker.py` process (peak RSS is "
    "`getrusage(RUSAGE_SELF).ru_maxrss` of that process: interpreter, imports, pipeline and "
    "run) on a fresh SQLite store file (WAL, synchronous=FULL) in a fresh temporary directory.",
    "Engine: `Orchestra(load_entrypoints=False)`, `host.pipeline_from_data(...)` (not timed), "
    "`Store.open(path)`, `Engine(host, store, max_concurrency=tasks + 2)`; the clock runs "
    "around `await engine.run(pipeline)` under `anyio.run`.",
    "Floor (benchmarks/floor.py): plain anyio. `Store.create_run` inserts the run and its "
    "task rows, the run is marked running, each task is an anyio task in one task group, "
    "started when its dependency counter reaches zero; every transition goes through "
    "`Store.apply` with the engine's columns and is committed before the task goes on; a "
    "group-commit writer batches the transitions queued while a transaction is in flight. "
    "Noop tasks write running, succeeded; W3 tasks write running, running with the external "
    "id, succeeded. The floor writes no run log rows (the engine writes its own, see `log "
    "rows`).",
    "GC: the engine raises the cyclic garbage collector's thresholds while it runs "
    "(`Engine(tune_gc=True)`, the default); the floor runs inside the same context manager "
    "(`orchestra_core._engine._gc.gc_tuned`), so both run with the same thresholds.",
    f"W3: a fresh job server process per measurement (`python -m "
    f"orchestra_core.testing.jobserver --duration {JOB_DURATION:g}`); the floor sends through "
    f"one `httpx.AsyncClient` over {FLOOR_POOLS} connection pools of together N connections "
    "(one SSL context).",
    "Engine and floor runs alternate (E F, F E, ...); before each run the harness waits (up "
    "to a limit) until the machine is quiet; figures are medians over the repetitions, the "
    "ratio is median engine wall time / median floor wall time.",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="small N (200), one repetition: a smoke check")
    parser.add_argument("--repeat", type=int, help="repetitions per figure (default 3; "
                        "1 with --quick)")
    parser.add_argument("--only", help="comma-separated workload ids, e.g. W1-10000,W3-500")
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--pools", type=int, default=FLOOR_POOLS,
                        help="connection pools of the W3 floor's httpx client")
    parser.add_argument("--quiet-threshold", type=float, default=0.25,
                        help="wait before each run until at most this share of the machine "
                        "is busy (0 to 1; 1 disables waiting)")
    parser.add_argument("--quiet-max-wait", type=float, default=30.0,
                        help="longest wait for a quiet machine, seconds")
    parser.add_argument("--timeout", type=float, default=600.0, help="per run, seconds")
    parser.add_argument("--output", type=Path, default=HERE / "results")
    parser.add_argument("--skip-scheduler", action="store_true",
                        help="do not run the scheduler benchmark (benchmarks/scheduler.py)")
    args = parser.parse_args(argv)

    repeat = args.repeat or (1 if args.quick else 3)
    plan = QUICK if args.quick else FULL
    if args.only:
        wanted = {w.strip() for w in args.only.split(",")}
        plan = [(w, n) for w, n in plan if f"{w}-{n}" in wanted or w in wanted]
    quiet = None if args.quiet_threshold >= 1 else (args.quiet_threshold, args.quiet_max_wait)
    command = "uv run python benchmarks/run.py" + "".join(
        f" {shlex.quote(a)}" for a in (sys.argv[1:] if argv is None else argv))
    started = time.monotonic()
    report: dict[str, Any] = {
        "command": command,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick, "repeat": repeat, "backend": args.backend,
        "machine": machine_info(Path(tempfile.gettempdir())),
        "method": METHOD, "workloads": [],
    }
    opts = {"backend": args.backend, "pools": args.pools, "quiet": quiet,
            "timeout": args.timeout}

    print(f"{command}: {len(plan)} workloads x {repeat} x (engine, floor)", flush=True)
    for impl in ("engine", "floor"):  # warm-up: page cache, first-run effects; discarded
        measure(impl, "W1", 100, **opts)
    for workload, n in plan:
        runs: dict[str, list[dict[str, Any]]] = {"engine": [], "floor": []}
        for rep in range(repeat):
            for impl in ("engine", "floor") if rep % 2 == 0 else ("floor", "engine"):
                r = measure(impl, workload, n, **opts)
                runs[impl].append(r)
                shown = r.get("error") or (f"{r['wall_s']:.3f} s, {r['tasks_per_s']:,.0f} "
                                           f"tasks/s, {r['peak_rss_mb']:.0f} MB, "
                                           f"other load {r.get('other_load', 0):.2f}")
                print(f"  {workload}-{n} {impl:6} #{rep + 1}: {shown}", flush=True)
        engine, floor = summarize(runs["engine"]), summarize(runs["floor"])
        tasks = next((r["tasks"] for r in runs["engine"] + runs["floor"] if "tasks" in r), n)
        entry = {"id": f"{workload}-{n}", "workload": workload,
                 "description": DESCRIPTIONS[workload], "n": n, "tasks": tasks,
                 "engine": engine, "floor": floor,
                 "verdict": verdict(workload, tasks, engine, floor)}
        report["workloads"].append(entry)
        v = entry["verdict"]
        print(f"{entry['id']}: {'PASS' if v['passed'] else 'FAIL'}: {v.get('why')}", flush=True)
    if not args.quick:
        report["references"] = []
        for ref in REFERENCES:
            if not any(w["id"] == ref["id"] for w in report["workloads"]):
                continue
            workload, n = ref["id"].split("-")
            result = measure("floor", workload, int(n), **{**opts, **ref["options"]})
            report["references"].append({**ref, "result": result})
            print(f"  reference {ref['id']} {ref['label']}: "
                  f"{result.get('error') or format(result['wall_s'], '.3f') + ' s'}", flush=True)
    report["duration_s"] = round(time.monotonic() - started, 1)
    report["all_passed"] = all(w["verdict"]["passed"] for w in report["workloads"])
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.output / "latest.md").write_text(markdown(report))
    print(f"wrote {args.output / 'latest.json'} and {args.output / 'latest.md'}", flush=True)
    ran = all(w["engine"]["ok"] and w["floor"]["ok"] for w in report["workloads"])
    if not args.skip_scheduler and not args.only:  # S1: 10,000 cron triggers, own results file
        quick = ["--minutes", "0.5", "--idle", "20"] if args.quick else []
        ran = subprocess.run([sys.executable, str(HERE / "scheduler.py"), "--output",
                              str(args.output), *quick]).returncode == 0 and ran
    return 0 if ran else 1  # missed targets are results, not errors


if __name__ == "__main__":
    sys.exit(main())
