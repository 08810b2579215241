"""Worker pool throughput in one process: how fast ``RunWorker`` claims and starts runs.

    uv run python benchmarks/worker_claim.py [--n 2000] [--tasks 1] [--pipelines 20]
        [--triggers 0] [--slots 16] [--postgres URL | --sqlite] [--profile FILE] [--repeat 3]

N pending runs of small pipelines (``--tasks`` ``noop`` tasks each, spread over
``--pipelines`` registered pipelines, each with ``--triggers`` cron triggers in its definition
as in ``benchmarks/scheduler_pg.py``; no scheduler runs) are inserted in one transaction, the
way the scheduler inserts them (``insert_pending_runs``); then one :class:`RunWorker`
(``--slots`` run slots, the default of ``orchestra serve``) on a real :class:`Engine`
executes them all, and the figures are taken from when it starts until every run has ended:
wall runs/s, CPU ms per run (``time.process_time``: every thread of this process), the
worker's claim round trips, and the runs executing at once on average (sampled every 10 ms).
``--profile FILE`` writes a cProfile (CPU time) of the measured part; with it the blocking
store calls the engine and the worker make in worker threads run inline on the event loop's
thread instead, so that their CPU shows in the profile (the figures of a profiled run are
not the real ones).

The store is a SQLite file in a temporary directory (``--sqlite``, the default) or a fresh
schema of the PostgreSQL at ``--postgres`` (default ``ORCHESTRA_TEST_POSTGRES_URL``, else
``postgresql://postgres@127.0.0.1:5432/test``). Prints one JSON line per repeat and the
medians.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = os.environ.get("ORCHESTRA_TEST_POSTGRES_URL",
                             "postgresql://postgres@127.0.0.1:5432/test")


def _pg_schema(url: str, name: str | None = None) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if name:
            conn.execute(f"DROP SCHEMA {name} CASCADE")
            return name
        name = f"wc_{uuid.uuid4().hex[:10]}"
        conn.execute(f"CREATE SCHEMA {name}")
    return name


def _prepare(store: Any, host: Any, n: int, tasks: int, pipelines: int, triggers: int) -> None:
    import sqlalchemy as sa

    from orchestra_core._scheduling.pending_runs import insert_pending_runs
    from orchestra_core._scheduling.registry import PipelineRegistry
    from orchestra_core._store.schema import pipeline_versions

    registry = PipelineRegistry(store)
    ids = []
    for p in range(pipelines):
        registry.apply(host.pipeline_from_data({
            "name": f"wc_{p:03d}",
            "triggers": [{"id": f"t{i}", "cron": "*/15 * * * * *"} for i in range(triggers)],
            "tasks": [{"id": f"t{i}", "integration": "noop", "integration_job": "noop_run",
                       **({"depends_on": [f"t{i - 1}"]} if i else {})}
                      for i in range(tasks)]}))
        ids.append(registry.get(f"wc_{p:03d}")["id"])
    with store.engine.begin() as conn:
        defs = {r.pipeline_id: r.definition for r in conn.execute(
            sa.select(pipeline_versions.c.pipeline_id, pipeline_versions.c.definition))}
        insert_pending_runs(conn, [(ids[i % pipelines], defs[ids[i % pipelines]], "full",
                                    "bench", None) for i in range(n)], datetime.now(UTC))


async def _drive(worker: Any, n: int) -> dict[str, Any]:
    claims = 0
    inner = worker._claim

    def counting(*args: Any) -> Any:
        nonlocal claims
        claims += 1
        return inner(*args)

    worker._claim = counting
    busy: list[int] = []
    async with anyio.create_task_group() as tg:
        await tg.start(worker.run)
        while len(worker.finished) < n:
            busy.append(len(worker.running))
            await anyio.sleep(0.01)
        worker.stop()
        tg.cancel_scope.cancel()
    return {"claims": claims, "mean_running": round(statistics.fmean(busy), 1) if busy else 0}


def one(args: argparse.Namespace) -> dict[str, Any]:
    """One measurement on a fresh store."""
    from orchestra_core import Engine, Orchestra
    from orchestra_core._scheduling.worker import RunWorker
    from orchestra_core._store import Store

    schema = None
    tmp = tempfile.TemporaryDirectory()
    if args.sqlite:
        url = f"sqlite:///{tmp.name}/wc.db"
    else:
        schema = _pg_schema(args.postgres)
        sep = "&" if "?" in args.postgres else "?"
        url = f"{args.postgres}{sep}options=-csearch_path%3D{schema}"
    try:
        store = Store.open(url)
        host = Orchestra(load_entrypoints=False)
        _prepare(store, host, args.n, args.tasks, args.pipelines, args.triggers)
        engine = Engine(host, store)
        worker = RunWorker(engine, slots=args.slots)
        prof = cProfile.Profile(time.process_time) if args.profile else None
        if prof is not None:
            async def inline(fn: Any, *a: Any, **_: Any) -> Any:
                return fn(*a)

            anyio.to_thread.run_sync = inline  # type: ignore[assignment]
        cpu, wall = time.process_time(), time.perf_counter()
        if prof is not None:
            prof.enable()
        extra = anyio.run(_drive, worker, args.n)
        if prof is not None:
            prof.disable()
            prof.dump_stats(args.profile)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        states: dict[str, int] = {}
        for state in worker.finished.values():
            states[state] = states.get(state, 0) + 1
        store.close()
    finally:
        if schema:
            _pg_schema(args.postgres, schema)
        tmp.cleanup()
    return {"store": "sqlite" if args.sqlite else "postgresql", "runs": args.n,
            "tasks": args.tasks, "triggers": args.triggers, "slots": args.slots,
            "wall_s": round(wall, 2),
            "runs_per_s": round(args.n / wall, 1), "cpu_ms_per_run": round(cpu / args.n * 1e3, 2),
            "states": states, **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=1)
    parser.add_argument("--pipelines", type=int, default=20)
    parser.add_argument("--triggers", type=int, default=0)
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_URL, default=None, metavar="URL")
    parser.add_argument("--sqlite", action="store_true", help="the default")
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    args.sqlite = args.postgres is None
    print(f"load average {os.getloadavg()}", file=sys.stderr)
    results = []
    for _ in range(args.repeat):
        results.append(one(args))
        print(json.dumps(results[-1]), flush=True)
    if len(results) > 1:
        print(json.dumps({"median_runs_per_s": statistics.median(r["runs_per_s"] for r in results),
                          "median_cpu_ms_per_run": statistics.median(
                              r["cpu_ms_per_run"] for r in results)}))


if __name__ == "__main__":
    main()
