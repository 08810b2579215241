"""Scheduler benchmark S2: runs started per second by ``orchestra serve`` on PostgreSQL, with
one and with three processes sharing one store, and exactly-once firing.

    uv run python benchmarks/scheduler_pg.py [--quick] [--triggers 2000] [--waves 2]
        [--every 60] [--processes 1,3] [--postgres URL]

Everything is real: the local PostgreSQL (``ORCHESTRA_TEST_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``), a fresh schema per configuration, the real
clock, and N real ``python -m orchestra_core serve --db URL --port 0`` processes (scheduler,
worker pool of 16 run slots and HTTP server each, as started in production).

- ``--triggers`` cron triggers (100 per registered pipeline of one ``noop`` task), each
  ``*/E * * * * *`` (every ``--every`` seconds, on the same seconds): every E seconds all of
  them fall due at the same instant, a **wave**. They are registered with
  ``PipelineRegistry.apply`` (what ``orchestra pipelines apply`` does) before the processes
  start.
- The processes start; waves that fell due while they started are fired late (misfire
  grace) and counted for exactly-once only. The next ``--waves`` waves after every process
  has logged ``scheduler started`` are measured.
- For each run the time its creating transaction committed is the time of the scheduler's
  ``trigger ... fired: run ID`` log line (written after the commit); a worker's ``starting
  run ID`` and ``run ID succeeded`` lines give when it started executing and ended. All
  from the processes' own logs (millisecond timestamps); the benchmark looks at the
  database (once a second, whether the last wave's runs have all ended) only from one
  period after the last wave's due time.
- Per wave: **runs created per second** = runs of the wave / (last commit - due time),
  the delay from the due time to the commit (median, p99, max), which process created how
  many, and the same for runs started and ended by the worker pools.
- **Exactly once**: after the processes stopped, the runs are counted per (pipeline,
  trigger, scheduled time): duplicates must be 0, and every trigger must have exactly one
  run for each measured wave (missing = 0).

Reported: the median over the measured waves of each figure, the CPU seconds of every
serve process, the load average. Writes ``benchmarks/results/scheduler_pg.json`` and
``scheduler_pg.md``. ``--quick``: 500 triggers, one measured wave every 15 s (about 1.5
minutes in all).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = os.environ.get("ORCHESTRA_TEST_POSTGRES_URL",
                             "postgresql://postgres@127.0.0.1:5432/test")
PER_PIPELINE = 100
_TIME = "%Y-%m-%d %H:%M:%S,%f"


def _schema(url: str, *, drop: str | None = None) -> str:
    import psycopg

    name = drop or f"s2_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {name} CASCADE" if drop else f"CREATE SCHEMA {name}")
    return name


def _register(store_url: str, n: int, every: int) -> float:
    from orchestra_core import Orchestra
    from orchestra_core._scheduling.registry import PipelineRegistry
    from orchestra_core._store import Store

    store = Store.open(store_url)
    host = Orchestra(load_entrypoints=False)
    registry = PipelineRegistry(store)
    started = time.monotonic()
    for p in range((n + PER_PIPELINE - 1) // PER_PIPELINE):
        count = min(PER_PIPELINE, n - p * PER_PIPELINE)
        registry.apply(host.pipeline_from_data({
            "name": f"s2_{p:03d}",
            "triggers": [{"id": f"t{i}", "cron": "0 * * * * *" if every == 60
                          else f"*/{every} * * * * *"}
                         for i in range(count)],
            "tasks": [{"id": "a", "integration": "noop", "integration_job": "noop_run"}]}))
    store.close()
    return time.monotonic() - started


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process *pid* so far (Linux), or ``None``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _logged(line: str) -> float | None:
    try:
        return dt.datetime.strptime(line[:23], _TIME).replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        return None


def _parse_logs(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Per run id: when it was created (and by which process), started and ended."""
    runs: dict[str, dict[str, Any]] = {}
    for proc, path in enumerate(paths):
        for line in path.read_text(errors="replace").splitlines():
            t = _logged(line)
            if t is None:
                continue
            if "orchestra.scheduler:" in line and " fired: run " in line:
                rid = line.rsplit(" fired: run ", 1)[1].strip()
                runs.setdefault(rid, {}).update(created=t, by=proc)
            elif "orchestra.worker:" in line and "starting run " in line:
                rid = line.rsplit("starting run ", 1)[1].split()[0]
                runs.setdefault(rid, {}).update(started=t, worker=proc)
            elif "orchestra.worker:" in line and " succeeded" in line and ": run " in line:
                rid = line.split(": run ", 1)[1].split()[0]
                runs.setdefault(rid, {}).update(ended=t)
    return runs


def _stats(delays: list[float], n: int) -> dict[str, Any]:
    if not delays:
        return {"runs": 0}
    delays = sorted(delays)
    last = delays[-1]
    return {"runs": len(delays), "first_s": round(delays[0], 3),
            "median_s": round(statistics.median(delays), 3),
            "p99_s": round(delays[max(0, int(len(delays) * 0.99) - 1)], 3),
            "last_s": round(last, 3),
            "per_s": round(n / last, 1) if last > 0 else None}


def _wait_started(logs: list[Path], procs: list[subprocess.Popen], timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p, log in zip(procs, logs, strict=True):
            if p.poll() is not None:
                raise SystemExit(f"orchestra serve exited ({p.returncode}): "
                                 f"{log.read_text()[-2000:]}")
        if all("scheduler started" in log.read_text(errors="replace") for log in logs):
            return time.time()
        time.sleep(0.1)
    raise SystemExit("orchestra serve did not start in time")


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def measure(url: str, processes: int, triggers: int, waves: int, every: int,
            workdir: Path) -> dict[str, Any]:
    """One configuration: *processes* serve processes, *triggers* triggers, *waves* waves."""
    import psycopg

    schema = _schema(url)
    store_url = f"{url}?options=-csearch_path%3D{schema}"
    out: dict[str, Any] = {"processes": processes, "triggers": triggers, "every_s": every,
                           "schema": schema}
    procs: list[subprocess.Popen] = []
    try:
        out["register_s"] = round(_register(store_url, triggers, every), 2)
        home = workdir / f"home-{processes}"
        home.mkdir()
        env = {**os.environ, "ORCHESTRA_HOME": str(home), "PYTHONUNBUFFERED": "1"}
        logs = [workdir / f"serve-{processes}-{i}.log" for i in range(processes)]
        out["load_before"] = [round(x, 2) for x in os.getloadavg()]
        for log in logs:
            with log.open("wb") as f:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "orchestra_core", "serve", "--db", store_url,
                     "--port", "0"], stdout=f, stderr=subprocess.STDOUT, env=env, cwd=home))
        ready = _wait_started(logs, procs, 120)
        cpu0 = [_cpu_s(p.pid) for p in procs]
        first = (int(ready + 1) // every + 1) * every  # the first wave after every start
        dues = [first + k * every for k in range(waves)]
        out["waves_utc"] = [dt.datetime.fromtimestamp(d, dt.UTC).isoformat() for d in dues]
        # until the last wave's runs have all ended (or 3 periods more at most)
        deadline = dues[-1] + 3 * every
        last_due = dt.datetime.fromtimestamp(dues[-1], dt.UTC)
        with psycopg.connect(store_url, autocommit=True) as conn:
            time.sleep(max(0.0, dues[-1] + every - 1 - time.time()))
            while time.time() < deadline:
                time.sleep(1.0)
                done = conn.execute("SELECT count(*) FROM pipeline_runs WHERE scheduled_at = %s"
                                    " AND state IN ('succeeded', 'failed')",
                                    (last_due,)).fetchone()[0]
                if done >= triggers:
                    break
        cpu1 = [_cpu_s(p.pid) for p in procs]
        out["load_after"] = [round(x, 2) for x in os.getloadavg()]
        out["serve_cpu_s"] = [round(b - a, 2) if a is not None and b is not None else None
                              for a, b in zip(cpu0, cpu1, strict=True)]
        out["measured_s"] = round(time.time() - ready, 1)
    finally:
        _stop(procs)
    try:
        with psycopg.connect(store_url, autocommit=True) as conn:
            rows = conn.execute("SELECT id, pipeline_id, trigger, scheduled_at, state FROM "
                                "pipeline_runs").fetchall()
            dup = conn.execute(
                "SELECT count(*), coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM "
                "pipeline_runs GROUP BY pipeline_id, trigger, scheduled_at HAVING count(*) > 1)"
                " AS d").fetchone()
    finally:
        _schema(url, drop=schema)
    runs = _parse_logs(logs)
    out["runs_in_store"] = len(rows)
    out["duplicate_groups"], out["duplicate_runs"] = int(dup[0]), int(dup[1])
    out["waves"] = []
    by_due: dict[float, list[tuple]] = {}
    for row in rows:
        by_due.setdefault(row[3].timestamp(), []).append(row)
    for due in dues:
        wave = by_due.get(float(due), [])
        keys = {(r[1], r[2]) for r in wave}
        created = [runs[r[0]]["created"] - due for r in wave if "created" in runs.get(r[0], {})]
        started = [runs[r[0]]["started"] - due for r in wave if "started" in runs.get(r[0], {})]
        ended = [runs[r[0]]["ended"] - due for r in wave if "ended" in runs.get(r[0], {})]
        per_proc = [sum(1 for r in wave if runs.get(r[0], {}).get("by") == i)
                    for i in range(processes)]
        out["waves"].append({
            "due_utc": dt.datetime.fromtimestamp(due, dt.UTC).isoformat(),
            "runs": len(wave), "missing": triggers - len(keys),
            "created": _stats(created, len(wave)), "created_by_process": per_proc,
            "started": _stats(started, len(wave)), "ended": _stats(ended, len(wave)),
            "succeeded": sum(1 for r in wave if r[4] == "succeeded")})
    return out


def _median(values: list[Any]) -> Any:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def summary(config: dict[str, Any]) -> dict[str, Any]:
    """Medians over the measured waves of a configuration."""
    waves = config["waves"]
    return {
        "processes": config["processes"], "triggers": config["triggers"],
        "waves": len(waves),
        "created_per_s": _median([w["created"].get("per_s") for w in waves]),
        "created_median_delay_s": _median([w["created"].get("median_s") for w in waves]),
        "created_p99_delay_s": _median([w["created"].get("p99_s") for w in waves]),
        "created_last_s": _median([w["created"].get("last_s") for w in waves]),
        "started_per_s": _median([w["started"].get("per_s") for w in waves]),
        "ended_per_s": _median([w["ended"].get("per_s") for w in waves]),
        "duplicates": config["duplicate_runs"],
        "missing": sum(w["missing"] for w in waves),
        "serve_cpu_s": config["serve_cpu_s"],
        "load": [config["load_before"], config["load_after"]],
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Scheduler throughput on PostgreSQL (S2)", "",
        f"`{report['command']}`  ",
        f"Started {report['started_at']}, took {report['took_s']:.0f} s; "
        f"{report['machine']['cores']} cores shared with other work (load average at start "
        f"{report['machine']['load_average_at_start']}); PostgreSQL "
        f"{report['machine']['postgres']} on the same machine.", "",
        f"{report['triggers']:,} cron triggers ({PER_PIPELINE} per pipeline of one `noop` task), "
        f"all due together every {report['every_s']} s; each wave's figures are measured from "
        "its due time; medians over the measured waves.", "",
        "| serve processes | waves | runs created/s (scheduler) | created: median delay | "
        "p99 delay | last run | runs started/s (workers) | runs ended/s | duplicates | "
        "missing | serve CPU s | load before -> after |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for s in report["summary"]:
        lines.append(
            f"| {s['processes']} | {s['waves']} | **{s['created_per_s']:,.0f}** | "
            f"{s['created_median_delay_s']:.2f} s | {s['created_p99_delay_s']:.2f} s | "
            f"{s['created_last_s']:.2f} s | {s['started_per_s'] or 0:,.0f} | "
            f"{s['ended_per_s'] or 0:,.0f} | {s['duplicates']} | {s['missing']} | "
            f"{' + '.join(f'{c:.1f}' for c in s['serve_cpu_s'] if c is not None)} | "
            f"{s['load'][0][0]} -> {s['load'][1][0]} |")
    lines += ["", "Every wave:", "",
              "| serve processes | due (UTC) | runs | created/s | created by process | "
              "median delay | last created | started/s | ended/s | missing |",
              "|--:|---|--:|--:|---|--:|--:|--:|--:|--:|"]
    for c in report["configs"]:
        for w in c["waves"]:
            lines.append(
                f"| {c['processes']} | {w['due_utc'][11:19]} | {w['runs']:,} | "
                f"{w['created'].get('per_s') or 0:,.0f} | "
                f"{' / '.join(str(n) for n in w['created_by_process'])} | "
                f"{w['created'].get('median_s', 0):.2f} s | {w['created'].get('last_s', 0):.2f} s"
                f" | {w['started'].get('per_s') or 0:,.0f} | {w['ended'].get('per_s') or 0:,.0f}"
                f" | {w['missing']} |")
    lines += ["", "Exactly once: after the processes stopped, runs are counted per (pipeline, "
              "trigger, scheduled time) over the whole store (catch-up waves fired while the "
              "processes started included): `duplicates` is the number of runs beyond one per "
              "group; `missing` the measured waves' triggers without a run.", "",
              "How it is measured: see the docstring of `benchmarks/scheduler_pg.py`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="500 triggers, one measured wave every 15 s")
    parser.add_argument("--triggers", type=int, default=None, help="default 2000 (quick 500)")
    parser.add_argument("--waves", type=int, default=None, help="default 2 (quick 1)")
    parser.add_argument("--every", type=int, default=None, choices=[10, 12, 15, 20, 30, 60],
                        help="seconds between waves (default 60, quick 15): longer than the "
                        "worker pools take to execute a wave's runs")
    parser.add_argument("--processes", default="1,3",
                        help="serve processes per configuration, comma-separated")
    parser.add_argument("--postgres", default=DEFAULT_URL, metavar="URL")
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    triggers = args.triggers or (500 if args.quick else 2000)
    waves = args.waves or (1 if args.quick else 2)
    every = args.every or (15 if args.quick else 60)
    import psycopg

    with psycopg.connect(args.postgres) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
        sync = conn.execute("SHOW synchronous_commit").fetchone()[0]
    report: dict[str, Any] = {
        "command": "uv run python benchmarks/scheduler_pg.py" + "".join(
            f" {a}" for a in (sys.argv[1:] if argv is None else argv)),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "triggers": triggers, "every_s": every, "waves": waves,
        "machine": {"python": platform.python_version(), "cores": os.cpu_count(),
                    "postgres": pg_version, "synchronous_commit": sync,
                    "git_commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                                 cwd=ROOT, capture_output=True,
                                                 text=True).stdout.strip(),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "configs": [],
    }
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.processes.split(",")):
            print(f"S2: {n} serve process(es), {triggers:,} triggers every {every} s, "
                  f"{waves} wave(s) ...", flush=True)
            config = measure(args.postgres, n, triggers, waves, every, Path(tmp))
            report["configs"].append(config)
            print(f"  {json.dumps(summary(config))}", flush=True)
    report["took_s"] = round(time.monotonic() - t0, 1)
    report["summary"] = [summary(c) for c in report["configs"]]
    report["exactly_once"] = all(s["duplicates"] == 0 and s["missing"] == 0
                                 for s in report["summary"])
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "scheduler_pg.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.output / "scheduler_pg.md").write_text(markdown(report))
    print(f"wrote {args.output / 'scheduler_pg.json'} and {args.output / 'scheduler_pg.md'}")
    return 0 if report["exactly_once"] else 1


if __name__ == "__main__":
    sys.exit(main())
