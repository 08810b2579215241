"""One measurement, in a fresh process (so its peak RSS is its own); prints one JSON line.

    python benchmarks/worker.py {engine|floor} {W1|W2|W3} --n N --db PATH [--url URL]
        [--durability full|normal]

The floor imports neither Orchestra nor SQLAlchemy (its peak RSS is plain anyio + sqlite3).

``benchmarks/run.py`` starts it; run it by hand to look at one workload (or to profile it:
``uv run --with py-spy py-spy record -o w1.svg -- python benchmarks/worker.py engine W1
--n 10000 --db /tmp/w1.db``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import floor
import workloads


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class CountingStore:
    """Counts the transactions (``Store.apply`` calls, and ``Store.apply_now`` calls that
    committed) and writes that go through *store*."""

    def __init__(self, store: Any) -> None:
        self.commits = 0
        self.writes = 0
        inner = store.apply

        def apply(writes: Any) -> None:
            self.commits += 1
            self.writes += len(writes)
            inner(writes)

        store.apply = apply  # type: ignore[method-assign]
        inner_now = store.apply_now

        def apply_now(writes: Any) -> bool:
            done = inner_now(writes)
            if done:  # committed on the event loop's thread
                self.commits += 1
                self.writes += len(writes)
            return done

        store.apply_now = apply_now  # type: ignore[method-assign]


def run_engine(data: dict[str, Any], store: Any, backend: str, clock: floor.Stopwatch,
               out: dict[str, Any]) -> str:
    from orchestra_core import Orchestra
    from orchestra_core._engine import Engine

    host = Orchestra(load_entrypoints=False)
    t0 = time.perf_counter()
    pipeline = host.pipeline_from_data(data)
    out["validate_s"] = round(time.perf_counter() - t0, 4)
    engine = Engine(host, store, max_concurrency=len(data["tasks"]) + 2)
    # the runners of the pipeline's jobs are made before the clock starts, as the floor makes
    # its HTTP client before its clock starts: making one imports its machinery (httpx for the
    # http job), a once-per-process cost, not the run's
    for key in {(t.integration, t.integration_job) for t in pipeline.tasks}:
        host.runner(host.find_job(*key))
    out["rss_before_run_mb"] = round(peak_rss_mb(), 1)

    out["tune_gc"] = getattr(engine, "tune_gc", None)

    async def main() -> str:
        clock.start()
        result = await engine.run(pipeline)
        clock.stop()
        if not result.succeeded:
            bad = {k: v["state"] for k, v in result.tasks.items() if v["state"] != "succeeded"}
            raise SystemExit(f"the engine's run did not succeed: {result.error} "
                             f"({len(bad)} tasks not succeeded, e.g. {list(bad.items())[:3]})")
        return result.run_id

    return anyio.run(main, backend=backend)


@contextlib.contextmanager
def engine_gc(mode: str, out: dict[str, Any]) -> Iterator[None]:
    """For the floor: the garbage collector's thresholds the engine sets while it runs
    (``mode="engine"``, the values of ``orchestra_core._engine._gc``), or Python's defaults
    (``"default"``); records them in *out*."""
    saved = gc.get_threshold()
    if mode == "engine":
        gc.set_threshold(50_000, max(saved[1], 50), max(saved[2], 100))
    try:
        out["gc_threshold"] = list(gc.get_threshold())
        yield
    finally:
        gc.set_threshold(*saved)


def run_floor(data: dict[str, Any], db: str, durability: str, backend: str, workload: str,
              url: str | None, clock: floor.Stopwatch, pools: int, gc_mode: str,
              out: dict[str, Any]) -> None:
    rec = floor.Recorder(db, durability)
    out["rss_before_run_mb"] = round(peak_rss_mb(), 1)
    with engine_gc(gc_mode, out):
        run_id = anyio.run(floor.run, rec, data, workload, url, clock, pools, backend=backend)
    out["commits"] = rec.commits
    out["writes"] = rec.writes
    out.update(floor.check(rec, run_id, data, workload))
    rec.close()


def check(store: Any, run_id: str, data: dict[str, Any], workload: str,
          out: dict[str, Any]) -> None:
    """After the clock stopped: every task succeeded (and, for W3, has its external id)."""
    import sqlalchemy as sa

    from orchestra_core._store.schema import events

    rows = store.task_runs(run_id)
    tasks = [r for r in rows if r["kind"] == "task"]
    out["succeeded"] = sum(r["state"] == "succeeded" for r in tasks)
    with store.engine.connect() as conn:
        out["event_rows"] = conn.execute(sa.select(sa.func.count()).select_from(events)
                                         .where(events.c.run_id == run_id)).scalar()
    problems = []
    if len(tasks) != len(data["tasks"]) or out["succeeded"] != len(tasks):
        problems.append(f"{out['succeeded']} of {len(data['tasks'])} tasks succeeded")
    if workload == "W3":
        out["external_ids"] = sum(r["external_id"] is not None for r in tasks)
        if out["external_ids"] != len(tasks):
            problems.append(f"only {out['external_ids']} tasks stored an external id")
    if store.get_run(run_id)["state"] != "succeeded":
        problems.append("the run is not recorded as succeeded")
    if problems:
        raise SystemExit("check failed: " + "; ".join(problems))


def pg_schema(url: str, *, create: bool = False, drop: str | None = None) -> str:
    """Create a fresh schema in the PostgreSQL database at *url* (return its name), or drop
    the schema *drop*."""
    import uuid

    import psycopg

    name = drop or f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {name} CASCADE" if drop else f"CREATE SCHEMA {name}")
    return name


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one benchmark measurement")
    parser.add_argument("impl", choices=["engine", "floor"])
    parser.add_argument("workload", choices=["W1", "W2", "W3"])
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--db", required=True, help="a path for a fresh SQLite store")
    parser.add_argument("--url", help="the job server (W3)")
    parser.add_argument("--pools", type=int, default=1,
                        help="floor, W3: connection pools behind the one httpx client")
    parser.add_argument("--gc", default="engine", choices=["engine", "default"],
                        help="floor: run with the GC thresholds the engine sets during its "
                        "runs (default) or with Python's")
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--postgres", metavar="URL",
                        help="engine: run on a fresh schema of this PostgreSQL database "
                        "instead of the SQLite file (the schema is dropped after)")
    parser.add_argument("--durability", default="full", choices=["full", "normal"],
                        help="SQLite synchronous=FULL or NORMAL (engine's store and floor)")
    args = parser.parse_args(argv)

    data = workloads.build(args.workload, args.n, args.url)
    if Path(args.db).exists():
        raise SystemExit(f"{args.db} exists: every measurement needs a fresh store")
    out: dict[str, Any] = {"impl": args.impl, "workload": args.workload, "n": args.n,
                           "tasks": len(data["tasks"]), "backend": args.backend,
                           "durability": args.durability}
    clock = floor.Stopwatch()
    if args.impl == "engine":
        from orchestra_core._store import Store

        if args.postgres:
            schema = pg_schema(args.postgres, create=True)
            out["store"] = "postgresql"
            store = Store.open(f"{args.postgres}?options=-csearch_path%3D{schema}")
        else:
            store = Store.open(args.db, durability=args.durability)
        counter = CountingStore(store)
        run_id = run_engine(data, store, args.backend, clock, out)
        out["commits"] = counter.commits
        out["writes"] = counter.writes
    else:
        run_floor(data, args.db, args.durability, args.backend, args.workload, args.url,
                  clock, args.pools, args.gc, out)
        out["pools"] = args.pools
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    out["wall_s"] = round(clock.wall, 4)
    out["cpu_s"] = round(clock.cpu, 4)
    out["tasks_per_s"] = round(len(data["tasks"]) / clock.wall, 1)
    if args.impl == "engine":
        check(store, run_id, data, args.workload, out)
        store.close()
        if args.postgres:
            pg_schema(args.postgres, drop=schema)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
