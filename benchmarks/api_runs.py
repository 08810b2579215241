"""REST API: 50 concurrent clients listing runs of a store holding 100,000 runs, on SQLite and
(when reachable) PostgreSQL. Target: p99 latency under 100 ms.

    uv run python benchmarks/api_runs.py [--runs 100000] [--clients 50] [--requests 20]

The store gets one client's 20 pipelines and --runs runs spread over a year (plus a second
client's 10% more, which the listing must filter out); on PostgreSQL, ``ANALYZE`` then gives
the planner the statistics autovacuum keeps for a store that grew to that size. The API
runs under uvicorn in its own process (as ``orchestra serve`` serves it); the clients are
httpx in this process, each sending its requests one after another: the first page of
``GET /runs?limit=50``, a page filtered by pipeline, one by state, and the page after a
cursor, in turn. Prints p50, p90,
p99 and max per store. Not a timed test: a measurement, PASS/FAIL against the target.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa

from orchestra_core._api.tokens import ApiTokens
from orchestra_core._store import Store
from orchestra_core._store.schema import clients, pipeline_runs, pipelines

PG = os.environ.get("ORCHESTRA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
STATES = ["succeeded"] * 8 + ["failed", "cancelled"]


def seed(store: Store, runs: int) -> str:
    """Fill *store*; return a read token of client ``bench``."""
    now = datetime.now(UTC)
    rng = random.Random(7)
    with store.engine.begin() as conn:
        pipeline_ids: dict[str, list[str]] = {}
        for client, count in (("bench", 20), ("other", 2)):
            client_id = str(uuid.uuid4())
            conn.execute(clients.insert().values(id=client_id, name=client, created_at=now))
            for i in range(count):
                pid = str(uuid.uuid4())
                pipeline_ids.setdefault(client, []).append(pid)
                conn.execute(pipelines.insert().values(
                    id=pid, client_id=client_id, name=f"p{i}", tags=[], created_at=now,
                    updated_at=now, definition={}, num_tasks=3, status="active", active=True))
    for client, total in (("bench", runs), ("other", runs // 10)):
        for start in range(0, total, 5000):
            rows = []
            for _ in range(min(5000, total - start)):
                created = now - timedelta(seconds=rng.randint(0, 365 * 86400))
                rows.append(dict(
                    id=str(uuid.uuid4()), pipeline_id=rng.choice(pipeline_ids[client]),
                    run_type="full", trigger=rng.choice(["cron:nightly", "manual", "api:ci"]),
                    state=rng.choice(STATES), definition={}, created_at=created,
                    started_at=created, ended_at=created + timedelta(minutes=5),
                    cancel_requested=False))
            with store.engine.begin() as conn:
                conn.execute(pipeline_runs.insert(), rows)
    if store.engine.dialect.name == "postgresql":  # the statistics autovacuum keeps
        with store.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    return ApiTokens(store).create("bench", client="bench", scope="read")[0]


def serve(url: str, port: int) -> None:
    """The server process: the API on *url* under uvicorn on 127.0.0.1:*port*."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from orchestra_core import Orchestra, create_api

    app = Starlette(routes=[Mount("/api/v1", create_api(Orchestra(load_entrypoints=False),
                                                       Store.open(url)))])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                timeout_keep_alive=120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load(base: str, token: str, clients_: int, requests: int) -> list[float]:
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients_)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits,
                                 timeout=30) as client:
        first = (await client.get("/runs", params={"limit": 50})).json()
        cursor = first["next_cursor"]
        queries = [{"limit": 50}, {"limit": 50, "pipeline": "p3"},
                   {"limit": 50, "state": "failed"}, {"limit": 50, "cursor": cursor}]

        async def one_client(n: int) -> None:
            for i in range(requests):
                params = queries[(n + i) % len(queries)]
                start = time.perf_counter()
                resp = await client.get("/runs", params=params)
                latencies.append(time.perf_counter() - start)
                assert resp.status_code == 200 and len(resp.json()["runs"]) == 50, resp.text

        for _ in range(2):  # warm-up
            await client.get("/runs", params={"limit": 50})
        async with asyncio.TaskGroup() as tg:
            for n in range(clients_):
                tg.create_task(one_client(n))
    return latencies


def measure(name: str, url: str, args: argparse.Namespace) -> bool:
    store = Store.open(url)
    started = time.perf_counter()
    token = seed(store, args.runs)
    print(f"{name}: seeded {args.runs:,} runs (+{args.runs // 10:,} of another client) in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    store.close()
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", url, str(port)])
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/openapi.json", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
                time.sleep(0.2)
        lat = sorted(asyncio.run(load(base, token, args.clients, args.requests)))
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000

    ok = pct(99) < 100
    print(f"{name:<11} {len(lat)} requests by {args.clients} clients: p50 {pct(50):.1f} ms, "
          f"p90 {pct(90):.1f} ms, p99 {pct(99):.1f} ms, max {lat[-1] * 1000:.1f} ms  "
          f"[{'PASS' if ok else 'FAIL'}: p99 < 100 ms]", flush=True)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="per client")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--serve", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    on_each_store(measure, args)


def on_each_store(measure, args) -> None:
    """Call ``measure(name, url, args)`` on a fresh SQLite file and on a fresh schema of the
    local PostgreSQL (skipped, saying so, when it does not answer); ``args.only`` picks one."""
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as tmp:
            measure("sqlite", f"sqlite:///{tmp}/bench.db", args)
    if args.only == "sqlite":
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = sa.create_engine(PG.replace("postgresql://", "postgresql+psycopg://"))
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:
        print(f"postgresql: skipped ({type(exc).__name__})", file=sys.stderr)
        return
    try:
        measure("postgresql", PG + f"?options=-csearch_path%3D{schema}", args)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


if __name__ == "__main__":
    main()
