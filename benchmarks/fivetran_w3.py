"""W3 with Fivetran: N ``fivetran_sync_all`` tasks against the Fivetran simulator as a real
server on 127.0.0.1, engine against floor; writes ``results/fivetran_w3.{json,md}``.

    uv run python benchmarks/fivetran_w3.py                 # N = 500, 3 repetitions
    uv run python benchmarks/fivetran_w3.py --n 200 --repeat 1
    uv run python benchmarks/fivetran_w3.py worker engine --n 500 --db /tmp/f.db --url URL

Each measurement is a fresh worker process (its own peak RSS) on a fresh SQLite store, and a
fresh simulator process (``python -m orchestra_fivetran.testing --duration 2 --connectors
N``): every connection's sync takes 2 s. Each task does what the plugin does for a sync:
``GET /v1/connections/{id}`` (paused? baseline), ``POST .../sync``, polls
``GET /v1/connections/{id}`` every 0.5 s until ``succeeded_at`` moves past the trigger time,
then ``GET .../schemas`` (the tables, as assets).

- engine: ``Orchestra(plugins=[orchestra_fivetran.plugin])``, the quick-start connection from
  ``FIVETRAN_API_KEY`` / ``FIVETRAN_API_SECRET`` / ``FIVETRAN_BASE_URL``, ``Engine(host, store,
  max_concurrency=N + 2)``; only ``await engine.run(pipeline)`` is timed. The plugin's
  account rate limit is lifted (``FIVETRAN_REQUESTS_PER_HOUR``): the simulator has none, and
  Fivetran's 20,000/hour would pace these ~4,000 requests over 12 minutes.
- floor: plain anyio doing the same HTTP calls with the same durable writes as W3's floor
  (``benchmarks/floor.py``: group-committed running / running with the external run /
  succeeded), through one httpx client over 64 connection pools.

Targets (as W3's): engine wall time within 1.25x of the floor's, engine peak RSS < 250 MB.
After each run the worker checks that every task succeeded and the simulator counted exactly
one trigger per connection.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from run import ServerProcess  # noqa: E402  (benchmarks/run.py, importable after the line above)

KEY, SECRET = "bench-key", "bench-secret-0123456789"
DURATION = 2.0
POLL = 0.5
RATIO_TARGET = 1.25
RSS_LIMIT_MB = 250.0


def pipeline(n: int) -> dict[str, Any]:
    """N independent syncs, one per simulated connection."""
    return {"name": f"bench_fivetran_w3_{n}", "client": "bench", "tasks": [
        {"id": f"sync{i}", "integration": "fivetran", "integration_job": "fivetran_sync_all",
         "parameters": {"connectionid": f"conn_{i}", "poll_interval": POLL}}
        for i in range(n)]}


# -- the worker (one measurement, in a fresh process) -------------------------------------------


def _env(url: str) -> None:
    os.environ.update({"FIVETRAN_API_KEY": KEY, "FIVETRAN_API_SECRET": SECRET,
                       "FIVETRAN_BASE_URL": url, "FIVETRAN_REQUESTS_PER_HOUR": "100000000"})


def run_engine(data: dict[str, Any], store: Any, clock: Any, out: dict[str, Any]) -> str:
    import anyio
    import orchestra_fivetran.plugin
    from worker import peak_rss_mb

    from orchestra_core import Orchestra
    from orchestra_core._engine import Engine

    host = Orchestra(plugins=[orchestra_fivetran.plugin], load_entrypoints=False)
    pipeline_ = host.pipeline_from_data(data)
    engine = Engine(host, store, max_concurrency=len(data["tasks"]) + 2)
    out["rss_before_run_mb"] = round(peak_rss_mb(), 1)

    async def main() -> str:
        clock.start()
        result = await engine.run(pipeline_)
        clock.stop()
        if not result.succeeded:
            bad = {k: (v["state"], v["error"]) for k, v in result.tasks.items()
                   if v["state"] != "succeeded"}
            raise SystemExit(f"the engine's run did not succeed: {result.error} "
                             f"({len(bad)} tasks, e.g. {list(bad.items())[:3]})")
        return result.run_id

    return anyio.run(main)


def run_floor(data: dict[str, Any], store: Any, url: str, clock: Any, pools: int,
              out: dict[str, Any]) -> str:
    import anyio
    import floor
    import httpx
    from worker import engine_gc, peak_rss_mb



    out["rss_before_run_mb"] = round(peak_rss_mb(), 1)
    auth = httpx.BasicAuth(KEY, SECRET)
    headers = {"Accept": "application/json;version=2"}

    def body_for(client: httpx.AsyncClient) -> Any:
        async def body(run_id: str, task_id: str, commit: Any) -> None:
            cid = "conn_" + task_id[4:]
            started = floor._now()
            await commit.write(("task", run_id, task_id, floor._running(started)))
            details = (await client.get(f"{url}/connections/{cid}", auth=auth,
                                        headers=headers)).raise_for_status().json()["data"]
            if details["paused"]:
                raise RuntimeError("paused")
            triggered = floor._now()
            (await client.post(f"{url}/connections/{cid}/sync", json={"force": False},
                               auth=auth, headers=headers)).raise_for_status()
            await commit.write(("task", run_id, task_id, {
                "state": "running", "attempt": 1, "updated_at": floor._now(),
                "external_id": None, "external": {"id": None, "started_at": triggered.isoformat(),
                                                  "data": {"connection_id": cid}}}))
            polls = 0
            while True:
                await anyio.sleep(POLL)
                polls += 1
                details = (await client.get(f"{url}/connections/{cid}", auth=auth,
                                            headers=headers)).raise_for_status().json()["data"]
                done = details["succeeded_at"]
                if done and dt.datetime.fromisoformat(done.replace("Z", "+00:00")) > triggered:
                    break
            schemas = (await client.get(f"{url}/connections/{cid}/schemas", auth=auth,
                                        headers=headers)).raise_for_status().json()["data"]
            tables = sorted(f"{s['name_in_destination']}.{t['name_in_destination']}"
                            for s in schemas["schemas"].values()
                            for t in s["tables"].values() if t["enabled"])
            await commit.write(("task", run_id, task_id, floor._finished("succeeded", {
                "connection_id": cid, "polls": polls, "succeeded_at": done,
                "assets": tables})))
        return body

    async def main() -> str:
        n = len(data["tasks"])
        clock.start()
        async with httpx.AsyncClient(transport=floor.Pools(n, pools), timeout=30.0) as client:
            run_id = await floor.run_dag(store, data, body_for(client))
            clock.stop()
        return run_id

    with engine_gc("engine", out):
        return anyio.run(main)


def worker(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="fivetran_w3.py worker")
    parser.add_argument("impl", choices=["engine", "floor"])
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--pools", type=int, default=64)
    args = parser.parse_args(argv)
    import floor
    import httpx
    from worker import CountingStore, peak_rss_mb

    from orchestra_core._store import Store

    _env(args.url)
    data = pipeline(args.n)
    store = Store.open(args.db)
    counter = CountingStore(store)
    out: dict[str, Any] = {"impl": args.impl, "n": args.n, "tasks": args.n}
    clock = floor.Stopwatch()
    if args.impl == "engine":
        run_id = run_engine(data, store, clock, out)
    else:
        run_id = run_floor(data, store, args.url, clock, args.pools, out)
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    out["wall_s"] = round(clock.wall, 4)
    out["cpu_s"] = round(clock.cpu, 4)
    out["tasks_per_s"] = round(args.n / clock.wall, 1)
    out["commits"], out["writes"] = counter.commits, counter.writes
    # checks, after the clock stopped
    tasks = [r for r in store.task_runs(run_id) if r["kind"] == "task"]
    out["succeeded"] = sum(r["state"] == "succeeded" for r in tasks)
    counts = httpx.get(args.url.rsplit("/v1", 1)[0] + "/_simulator/connections").json()
    triggers = [c["triggers"] for c in counts.values()]
    out["triggers"] = sum(triggers)
    problems = []
    if out["succeeded"] != args.n:
        problems.append(f"only {out['succeeded']} of {args.n} tasks succeeded")
    if len(triggers) != args.n or set(triggers) != {1}:
        problems.append(f"triggers per connection: {sorted(set(triggers))} over "
                        f"{len(triggers)} connections")
    if args.impl == "engine" and any(len(r["meta"].get("assets", ())) != 2 for r in tasks):
        problems.append("a task recorded no tables")
    store.close()
    if problems:
        raise SystemExit("check failed: " + "; ".join(problems))
    print(json.dumps(out), flush=True)


# -- the harness ------------------------------------------------------------------------------


class SimServer(ServerProcess):
    """The Fivetran simulator in its own process, with N connections."""

    def __init__(self, n: int) -> None:
        from run import _free_port

        self.port = _free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestra_fivetran.testing", "--port", str(self.port),
             "--duration", str(DURATION), "--connectors", str(n), "--key", KEY,
             "--secret", SECRET], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("ready "):
            self.stop()
            raise RuntimeError(f"the simulator did not start: {line}"
                               f"{self.proc.stderr.read() if self.proc.stderr else ''}")
        self.url = line.split()[1]


def measure(impl: str, n: int, quiet: tuple[float, float] | None) -> dict[str, Any]:
    from run import wait_for_quiet

    busy = wait_for_quiet(*quiet) if quiet else None
    tmp = Path(tempfile.mkdtemp(prefix="orchestra-ftw3-"))
    server = SimServer(n)
    try:
        cpu0 = server.cpu_s()
        proc = subprocess.run([sys.executable, str(Path(__file__)), "worker", impl, "--n",
                               str(n), "--db", str(tmp / "store.db"), "--url", server.url],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or not proc.stdout.strip():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            return {"impl": impl, "error": f"exit {proc.returncode}: " + " | ".join(tail)}
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        cpu1 = server.cpu_s()
        if cpu0 is not None and cpu1 is not None:
            out["simulator_cpu_s"] = round(cpu1 - cpu0, 2)
        if busy is not None:
            out["busy_before"] = round(busy, 3)
        return out
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return round(statistics.median(values), 4) if values else None


def harness(argv: list[str]) -> int:
    from run import machine_info

    parser = argparse.ArgumentParser(prog="fivetran_w3.py")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quiet-threshold", type=float, default=0.25)
    parser.add_argument("--quiet-max-wait", type=float, default=30.0)
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    quiet = None if args.quiet_threshold >= 1 else (args.quiet_threshold, args.quiet_max_wait)
    started = time.monotonic()
    runs: dict[str, list[dict[str, Any]]] = {"engine": [], "floor": []}
    for rep in range(args.repeat):
        for impl in ("engine", "floor") if rep % 2 == 0 else ("floor", "engine"):
            r = measure(impl, args.n, quiet)
            runs[impl].append(r)
            shown = r.get("error") or (f"{r['wall_s']:.3f} s, {r['peak_rss_mb']:.0f} MB, "
                                       f"simulator CPU {r.get('simulator_cpu_s')} s")
            print(f"  fivetran W3-{args.n} {impl:6} #{rep + 1}: {shown}", flush=True)
    good = {k: [r for r in v if "error" not in r] for k, v in runs.items()}
    e_wall, f_wall = _median(good["engine"], "wall_s"), _median(good["floor"], "wall_s")
    rss = max((r["peak_rss_mb"] for r in good["engine"]), default=None)
    ratio = round(e_wall / f_wall, 3) if e_wall and f_wall else None
    passed = (ratio is not None and ratio <= RATIO_TARGET and rss is not None
              and rss < RSS_LIMIT_MB and len(good["engine"]) == len(good["floor"]) == args.repeat)
    report = {
        "command": "uv run python benchmarks/fivetran_w3.py " + " ".join(argv),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "n": args.n, "repeat": args.repeat, "sync_duration_s": DURATION, "poll_s": POLL,
        "engine_wall_s": e_wall, "floor_wall_s": f_wall, "ratio": ratio,
        "ratio_target": RATIO_TARGET, "engine_peak_rss_mb": rss, "rss_limit_mb": RSS_LIMIT_MB,
        "passed": passed,
        "runs": runs, "duration_s": round(time.monotonic() - started, 1),
        "machine": machine_info(Path(tempfile.gettempdir())),
        "method": (__doc__ or "").split("\n\n", 2)[2].strip(),
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "fivetran_w3.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.output / "fivetran_w3.md").write_text(markdown(report))
    verdict = "PASS" if passed else "FAIL"
    print(f"fivetran W3-{args.n}: {verdict}: engine {e_wall} s, floor {f_wall} s, ratio {ratio}"
          f" (target <= {RATIO_TARGET}), engine peak RSS {rss} MB (target < {RSS_LIMIT_MB:g})",
          flush=True)
    return 0 if all(len(v) == args.repeat for v in good.values()) else 1


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# W3 with Fivetran: {report['n']} `fivetran_sync_all` tasks",
        "",
        f"Command: `{report['command']}`  ",
        f"Started {report['started_at']}, took {report['duration_s']:.0f} s; "
        f"{report['repeat']} repetition(s), medians shown. Syncs take "
        f"{report['sync_duration_s']:g} s; tasks poll every {report['poll_s']:g} s.",
        "",
        "| engine wall s | floor wall s | engine/floor | engine peak RSS MB | target | result |",
        "|--:|--:|--:|--:|---|---|",
        f"| {report['engine_wall_s']} | {report['floor_wall_s']} | {report['ratio']}x "
        f"| {report['engine_peak_rss_mb']} | <= {report['ratio_target']}x, RSS < "
        f"{report['rss_limit_mb']:g} MB | **{'PASS' if report['passed'] else 'FAIL'}** |",
        "",
        "## Every run",
        "",
        "| impl | # | wall s | CPU s | peak RSS MB | commits | writes | simulator CPU s "
        "| triggers |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for impl in ("engine", "floor"):
        for i, r in enumerate(report["runs"][impl], 1):
            if "error" in r:
                lines.append(f"| {impl} | {i} | error: {r['error']} | | | | | | |")
                continue
            lines.append(f"| {impl} | {i} | {r['wall_s']:.3f} | {r['cpu_s']:.3f} "
                         f"| {r['peak_rss_mb']:.1f} | {r['commits']} | {r['writes']} "
                         f"| {r.get('simulator_cpu_s', '-')} | {r['triggers']} |")
    m = report["machine"]
    lines += ["", "## Machine", "", f"- {m['platform']}, {m['python']}, {m['cpu']}, "
              f"{m['cpus_usable']} CPUs usable, SQLite {m['sqlite']}, commit {m['git_commit']}",
              "", "## Method", "", report["method"], ""]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2:])
    else:
        with contextlib.suppress(KeyboardInterrupt):
            sys.exit(harness(sys.argv[1:]))
