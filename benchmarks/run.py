"""Run every benchmark workload against the engine and the floor; write the results.

    uv run python benchmarks/run.py [--quick] [--repeat 3] [--only W1-10000,W3-500]

Each measurement is a fresh ``python benchmarks/worker.py`` process on a fresh SQLite store
file (WAL, ``synchronous=FULL``) in its own temporary directory; W3 gets a fresh job server
process (``python -m orchestra_core.testing.jobserver --duration 2``). Engine and floor
measurements alternate (E F, F E, E F, ...) so a drift in machine load hits both; each figure
is the median of the repetitions. Writes ``benchmarks/results/latest.json`` and
``benchmarks/results/latest.md`` (with ``--postgres``: ``with-postgres.{json,md}``, the
engine on PostgreSQL measured beside the engine on SQLite in every repetition, target
within 2x); then runs the scheduler benchmark
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
#: Engine wall time / floor wall time must stay within these (at durability full).
RATIO_TARGETS = {"W1": 2.0, "W2": 2.0, "W3": 1.1}
#: The engine's peak RSS must stay under these (MiB), by workload id.
RSS_LIMITS_MB = {"W3-500": 150.0, "W1-10000": 120.0, "W1-100000": 1024.0}
#: The engine on PostgreSQL: wall time at most this multiple of the engine on SQLite.
PG_TARGET = 2.0
#: Scale: the engine's time per task at W1-100000 at most this multiple of W1-10000's.
SCALE_FACTOR = 1.5
FULL = [("W1", 1000), ("W1", 10000), ("W2", 1000), ("W3", 500)]
#: Measured with --scale (or named in --only): many tasks, for memory and per-task cost.
SCALE = [("W1", 100000)]
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


def postgres_info(url: str) -> dict[str, Any]:
    """The PostgreSQL server's version and the settings that decide a commit's cost."""
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=5) as conn:
            return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in (
                "server_version", "synchronous_commit", "fsync", "wal_sync_method",
                "commit_delay")}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


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
            gc_mode: str = "engine", durability: str = "full",
            postgres: str | None = None) -> dict[str, Any]:
    """One fresh worker process on a fresh store; its JSON line, plus the machine's state."""
    busy_before = wait_for_quiet(*quiet) if quiet else None
    tmp = Path(tempfile.mkdtemp(prefix="orchestra-bench-"))
    server = None
    try:
        cmd = [sys.executable, str(WORKER), impl, workload, "--n", str(n),
               "--db", str(tmp / "store.db"), "--backend", backend,
               "--durability", durability]
        if impl == "floor":
            cmd += ["--pools", str(pools), "--gc", gc_mode]
        if postgres:
            cmd += ["--postgres", postgres]
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


def yardstick(folder: Path, workload: str, n: int, durability: str,
              timeout: float) -> dict[str, Any]:
    """One run of the independent floor in *folder* (``shared/floorbench``), W1 or W2, on a
    fresh SQLite file: its ``RESULT`` line's wall time."""
    script = folder / "floor" / f"floor_{workload.lower()}.py"
    tmp = Path(tempfile.mkdtemp(prefix="orchestra-yardstick-"))
    env = {**os.environ, "FLOOR_SYNC": durability.upper(), "FLOOR_DB": str(tmp / "f.db")}
    try:
        proc = subprocess.run([sys.executable, str(script), str(n)], capture_output=True,
                              text=True, timeout=timeout, env=env)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"}
        return {"wall_s": json.loads(line[len("RESULT "):])["wall_s"]}
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s"}
    finally:
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


def verdict(workload_id: str, workload: str, tasks: int, engine: dict[str, Any],
            floor: dict[str, Any], durability: str,
            per_task_at_10000: float | None = None) -> dict[str, Any]:
    """PASS/FAIL against the targets (at durability ``full``; ``normal`` is reported)."""
    target = RATIO_TARGETS[workload] if durability == "full" else None
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
    result["engine_us_per_task"] = round(e["wall_s"] / tasks * 1e6, 1)
    checks = [engine["ok"], floor["ok"]]
    shown = (" (durability normal: reported)" if target is None else
             " (reported: at scale the targets are memory and per-task time)"
             if tasks >= 50000 else f" (target <= {target:g}x)")
    why = [f"engine/floor wall time {ratio:.2f}x" + shown
           + f", the engine's extra {extra:,.0f} us per task"]
    if target is not None and tasks < 50000:  # at scale: memory and per-task cost
        checks.append(ratio <= target)
    limit = RSS_LIMITS_MB.get(workload_id) if durability == "full" else None
    if limit is not None:
        result["rss_limit_mb"] = limit
        rss = e["peak_rss_mb_max"]
        checks.append(rss < limit)
        why.append(f"engine peak RSS {rss:.0f} MB, worst of the runs (target < {limit:g} MB)")
    if tasks >= 50000 and per_task_at_10000 and durability == "full":
        per_task = e["wall_s"] / tasks
        scale = per_task / per_task_at_10000
        result["scale"] = round(scale, 3)
        result["scale_target"] = SCALE_FACTOR
        checks.append(scale <= SCALE_FACTOR)
        why.append(f"per-task time {per_task * 1e6:,.0f} us, {scale:.2f}x that at W1-10000 "
                   f"(target <= {SCALE_FACTOR:g}x)")
    result["passed"] = all(checks)
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
        parts = []
        if v.get("ratio_target") and "scale_target" not in v and w["tasks"] < 50000:
            parts.append(f"<= {v['ratio_target']:g}x")
        if "rss_limit_mb" in v:
            parts.append(f"RSS < {v['rss_limit_mb']:g} MB")
        if "scale_target" in v:
            parts.append(f"per task <= {v['scale_target']:g}x W1-10000's")
        target = ", ".join(parts) or "-"
        shown = "PASS" if v["passed"] else "FAIL"
        if not parts and v["passed"]:
            shown = "reported"
        lines.append(
            f"| {w['id']} | {_fmt(w['tasks'])} | {_fmt(e.get('wall_s'))} "
            f"| {_fmt(e.get('tasks_per_s'), 0)} | {_fmt(e.get('peak_rss_mb'), 0)} "
            f"| {_fmt(f.get('wall_s'))} | {_fmt(f.get('tasks_per_s'), 0)} "
            f"| {_fmt(f.get('peak_rss_mb'), 0)} | {_fmt(v.get('ratio'), 2)}x | {target} "
            f"| **{shown}** |")
    pgs = [w for w in report["workloads"] if "postgres" in w]
    if pgs:
        lines += ["", "The engine on PostgreSQL (a fresh schema per run), beside the engine on "
                  "SQLite (durability full):", "",
                  "| workload | SQLite wall s | PostgreSQL wall s | SQLite CPU s "
                  "| PostgreSQL CPU s | PostgreSQL peak RSS MB | commits | other load "
                  "| PostgreSQL/SQLite | target | result |",
                  "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
        for w in pgs:
            pm, em, pv = w["postgres"].get("median", {}), w["engine"].get("median", {}), \
                w["postgres_verdict"]
            lines.append(f"| {w['id']} | {_fmt(em.get('wall_s'))} | {_fmt(pm.get('wall_s'))} "
                         f"| {_fmt(em.get('cpu_s'))} | {_fmt(pm.get('cpu_s'))} "
                         f"| {_fmt(pm.get('peak_rss_mb'), 0)} | {_fmt(pm.get('commits'))} "
                         f"| {_fmt(pm.get('other_load'), 2)} "
                         f"| {_fmt(pv.get('ratio_to_sqlite'), 2)}x | <= {PG_TARGET:g}x "
                         f"| **{'PASS' if pv['passed'] else 'FAIL'}** |")
        lines += ["", "Figures are medians of the repetitions; the engine on PostgreSQL ran "
                  "between the engine and the floor on SQLite in each repetition. "
                  "`other load`: the median share of the machine other processes kept busy "
                  "during the PostgreSQL runs (the server's own work included)."]
    sticks = [w for w in report["workloads"] if "yardstick" in w]
    if sticks:
        lines += ["", "The independent floor (`shared/floorbench`, one run beside each "
                  "workload): " + "; ".join(
                      f"{w['id']} {w['yardstick'].get('error') or _fmt(w['yardstick']['wall_s'])}"
                      + ("" if "error" in w["yardstick"] else " s") for w in sticks) + "."]
    lines += ["", "Verdicts:", ""]
    for w in report["workloads"]:
        v = w["verdict"]
        shown = "reported" if v["passed"] and w.get("durability", "full") != "full" else \
            "PASS" if v["passed"] else "FAIL"
        lines.append(f"- **{w['id']}** ({DESCRIPTIONS[w['workload']]}): "
                     f"{shown}: {v.get('why', '')}"
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
        for impl in ("engine", "floor", "postgres"):
            label = "engine on PostgreSQL" if impl == "postgres" else impl
            for i, r in enumerate(w.get(impl, {}).get("runs", []), 1):
                if "error" in r:
                    lines.append(f"| {w['id']} | {label} | {i} | error: {r['error']} |"
                                 + " |" * 8)
                    continue
                lines.append(
                    f"| {w['id']} | {label} | {i} | {_fmt(r['wall_s'])} | {_fmt(r['cpu_s'])} "
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
    "run) on a fresh SQLite store file (WAL, synchronous=FULL; NORMAL for the rows marked "
    "`normal`, which are reported without a target) in a fresh temporary directory.",
    "Engine: `Orchestra(load_entrypoints=False)`, `host.pipeline_from_data(...)` (not timed), "
    "`Store.open(path)`, `Engine(host, store, max_concurrency=tasks + 2)`; the clock runs "
    "around `await engine.run(pipeline)` under `anyio.run`.",
    "Floor (benchmarks/floor.py): plain anyio and the stdlib sqlite3 module (no Store, no "
    "SQLAlchemy, no Orchestra import). One transaction inserts the run and a pending row per "
    "task; each task is an anyio task in one task group, started when its dependency counter "
    "reaches zero; every transition is an UPDATE of its row committed before the task goes "
    "on, with leader-based group commit on the event loop's thread (tasks ready together "
    "share a transaction). Noop tasks write running, succeeded; W3 tasks write running, the "
    "external id, succeeded. The floor writes no run log rows (the engine writes its own, "
    "see `log rows`).",
    "GC: the engine raises the cyclic garbage collector's thresholds while it runs "
    "(`Engine(tune_gc=True)`, the default); the floor sets the same thresholds, so both run "
    "with the same.",
    "Yardstick: `shared/floorbench` (an independent floor written outside the project), run "
    "once beside each W1/W2 workload with the same synchronous setting.",
    f"W3: a fresh job server process per measurement (`python -m "
    f"orchestra_core.testing.jobserver --duration {JOB_DURATION:g}`); the floor sends through "
    f"one `httpx.AsyncClient` over {FLOOR_POOLS} connection pools of together N connections "
    "(one SSL context).",
    "Engine and floor runs alternate (E F, F E, ...); before each run the harness waits (up "
    "to a limit) until the machine is quiet; figures are medians over the repetitions, the "
    "ratio is median engine wall time / median floor wall time.",
]


def compile_bytecode() -> None:
    """Compile the environment's and the project's modules, and let every measured process
    keep its bytecode: a module a run imports for the first time is then read, not compiled
    from source inside the timed run (as after ``uv sync --compile-bytecode``; some
    containers set ``PYTHONDONTWRITEBYTECODE``)."""
    import sysconfig

    # in a child process: compiling in this one would grow its memory, and a measured
    # process starts with the peak RSS of the process it was forked from
    folders = {sysconfig.get_paths()["purelib"], str(ROOT / "orchestra_core"),
               str(ROOT / "benchmarks")}
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *sorted(folders)],
                   check=False, stdout=subprocess.DEVNULL)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="small N (200), one repetition: a smoke check")
    parser.add_argument("--repeat", type=int, help="repetitions per figure (default 3; "
                        "1 with --quick)")
    parser.add_argument("--only", help="comma-separated workload ids, e.g. W1-10000,W3-500 "
                        "(W1-100000 too)")
    parser.add_argument("--scale", action="store_true",
                        help="also W1-100000 (memory under 1 GB, per-task time at most "
                        "1.5x that at W1-10000); a few minutes")
    parser.add_argument("--postgres", metavar="URL", nargs="?", const=os.environ.get(
                            "ORCHESTRA_TEST_POSTGRES_URL",
                            "postgresql://postgres@127.0.0.1:5432/test"),
                        help="also run the engine on this PostgreSQL database (a fresh schema "
                        "per run) beside SQLite; target: within 2x of the SQLite engine "
                        "(default URL: ORCHESTRA_TEST_POSTGRES_URL or the local test database)")
    parser.add_argument("--durability", default="full,normal",
                        help="comma-separated: full (the targets), normal (reported); "
                        "default both")
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
    parser.add_argument("--yardstick", type=Path, default=next(
                            (p / "shared" / "floorbench" for p in ROOT.parents
                             if (p / "shared" / "floorbench").is_dir()), ROOT / "missing"),
                        help="the independent floor (shared/floorbench) run once beside "
                        "each W1/W2 workload, when the folder exists")
    parser.add_argument("--skip-scheduler", action="store_true",
                        help="do not run the scheduler benchmark (benchmarks/scheduler.py)")
    args = parser.parse_args(argv)
    compile_bytecode()

    repeat = args.repeat or (1 if args.quick else 3)
    plan = QUICK if args.quick else FULL + (SCALE if args.scale else [])
    if args.only:
        wanted = {w.strip() for w in args.only.split(",")}
        plan = [(w, n) for w, n in FULL + SCALE if f"{w}-{n}" in wanted or (w in wanted
                and (w, n) not in SCALE)]
    durabilities = [d.strip() for d in args.durability.split(",") if d.strip()]
    if not durabilities or set(durabilities) - {"full", "normal"}:
        parser.error("--durability takes full, normal or both")
    plan = [(w, n, d) for w, n in plan for d in durabilities]
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
    if args.postgres:
        report["machine"]["postgres"] = postgres_info(args.postgres)
    opts = {"backend": args.backend, "pools": args.pools, "quiet": quiet,
            "timeout": args.timeout}

    print(f"{command}: {len(plan)} workloads x {repeat} x (engine, floor)", flush=True)
    for impl in ("engine", "floor"):  # warm-up: page cache, first-run effects; discarded
        measure(impl, "W1", 100, **opts)
    per_task_at_10000: float | None = None
    for workload, n, durability in plan:
        runs: dict[str, list[dict[str, Any]]] = {"engine": [], "floor": []}
        wid = f"{workload}-{n}" + ("" if durability == "full" else f" {durability}")
        # the engine on PostgreSQL runs beside the engine on SQLite in every repetition
        # (E P F, F P E, ...), so a drift in the machine's load hits both alike
        on_pg = bool(args.postgres) and durability == "full" and n <= 10000
        pg_runs: list[dict[str, Any]] = []
        for rep in range(repeat):
            order = ("engine", "postgres", "floor") if on_pg else ("engine", "floor")
            for impl in order if rep % 2 == 0 else order[::-1]:
                if impl == "postgres":
                    r = measure("engine", workload, n, postgres=args.postgres, **opts)
                    pg_runs.append(r)
                    label = "engine on PostgreSQL"
                else:
                    r = measure(impl, workload, n, durability=durability, **opts)
                    runs[impl].append(r)
                    label = f"{impl:6}"
                shown = r.get("error") or (f"{r['wall_s']:.3f} s, {r['tasks_per_s']:,.0f} "
                                           f"tasks/s, {r['peak_rss_mb']:.0f} MB, "
                                           f"other load {r.get('other_load', 0):.2f}")
                print(f"  {wid} {label} #{rep + 1}: {shown}", flush=True)
        engine, floor = summarize(runs["engine"]), summarize(runs["floor"])
        tasks = next((r["tasks"] for r in runs["engine"] + runs["floor"] if "tasks" in r), n)
        if (workload, n, durability) == ("W1", 10000, "full") and engine.get("median"):
            per_task_at_10000 = engine["median"]["wall_s"] / tasks
        entry = {"id": wid, "workload": workload, "durability": durability,
                 "description": DESCRIPTIONS[workload], "n": n, "tasks": tasks,
                 "engine": engine, "floor": floor,
                 "verdict": verdict(f"{workload}-{n}", workload, tasks, engine, floor,
                                    durability, per_task_at_10000)}
        if on_pg:
            pg = summarize(pg_runs)
            entry["postgres"] = pg
            if pg.get("median") and engine.get("median"):
                ratio = pg["median"]["wall_s"] / engine["median"]["wall_s"]
                entry["postgres_verdict"] = {"ratio_to_sqlite": round(ratio, 3),
                                             "target": PG_TARGET,
                                             "passed": ratio <= PG_TARGET}
            else:
                entry["postgres_verdict"] = {"passed": False, "why": "a measurement failed"}
        if workload in ("W1", "W2") and args.yardstick.is_dir():
            entry["yardstick"] = yardstick(args.yardstick, workload, n, durability,
                                           args.timeout)
            print(f"  {wid} yardstick (shared/floorbench): "
                  f"{entry['yardstick'].get('error') or entry['yardstick']['wall_s']}",
                  flush=True)
        report["workloads"].append(entry)
        v = entry["verdict"]
        shown = "reported" if v["passed"] and durability != "full" else \
            "PASS" if v["passed"] else "FAIL"
        print(f"{entry['id']}: {shown}: {v.get('why')}", flush=True)
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
    report["machine"]["load_average_at_end"] = list(os.getloadavg())
    report["all_passed"] = all(w["verdict"]["passed"] and w.get("postgres_verdict", {}).get(
        "passed", True) for w in report["workloads"])
    args.output.mkdir(parents=True, exist_ok=True)
    # a run with --postgres has its own files: latest.* stay the SQLite figures
    name = "with-postgres" if args.postgres else "latest"
    (args.output / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.output / f"{name}.md").write_text(markdown(report))
    print(f"wrote {args.output / f'{name}.json'} and {args.output / f'{name}.md'}", flush=True)
    ran = all(w["engine"]["ok"] and w["floor"]["ok"] for w in report["workloads"])
    if not args.skip_scheduler and not args.only:  # S1: 10,000 cron triggers, own results file
        quick = ["--minutes", "0.5", "--idle", "20"] if args.quick else []
        ran = subprocess.run([sys.executable, str(HERE / "scheduler.py"), "--output",
                              str(args.output), *quick]).returncode == 0 and ran
    return 0 if ran else 1  # missed targets are results, not errors


if __name__ == "__main__":
    sys.exit(main())
