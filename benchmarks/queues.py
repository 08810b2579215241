"""Queue throughput: N elements pushed, then drained by C concurrent consumers (threads), each
claiming and completing one element at a time, on SQLite and (when reachable) PostgreSQL.

    uv run python benchmarks/queues.py [--elements 2000] [--consumers 8]

Prints pushes/s and claim+complete/s per store, and checks that no element was claimed twice.
No target: this is a measurement to watch, not a pass/fail gate.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid

from orchestra_core._queues import Queues
from orchestra_core._store import Store

PG = os.environ.get("ORCHESTRA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def measure(store: Store, elements: int, consumers: int) -> dict[str, float]:
    queues = Queues(store, identity="bench")
    start = time.perf_counter()
    queues.push_many("bench", [({"i": i}, None) for i in range(elements)])
    pushed = time.perf_counter() - start
    seen: list[int] = []
    lock = threading.Lock()

    def consume() -> None:
        own = Queues(store, identity=threading.current_thread().name)
        while (element := own.claim("bench")) is not None:
            own.complete(element.id)
            with lock:
                seen.append(element.id)

    threads = [threading.Thread(target=consume) for _ in range(consumers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    drained = time.perf_counter() - start
    assert len(seen) == len(set(seen)) == elements, "an element was claimed twice or lost"
    return {"push_per_s": elements / pushed, "claim_complete_per_s": elements / drained}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=2000)
    parser.add_argument("--consumers", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(os.path.join(tmp, "bench.db"))
        report("sqlite", measure(store, args.elements, args.consumers), args)
        store.close()
    try:
        import sqlalchemy as sa

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG.replace("postgresql://", "postgresql+psycopg://"))
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:
        print(f"postgresql: skipped ({type(exc).__name__})", file=sys.stderr)
        return
    try:
        store = Store.open(PG + f"?options=-csearch_path%3D{schema}")
        report("postgresql", measure(store, args.elements, args.consumers), args)
        store.close()
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def report(name: str, figures: dict[str, float], args: argparse.Namespace) -> None:
    print(f"{name:<11} {args.elements} elements, {args.consumers} consumers: "
          f"push {figures['push_per_s']:,.0f}/s, claim+complete "
          f"{figures['claim_complete_per_s']:,.0f}/s")


if __name__ == "__main__":
    main()
