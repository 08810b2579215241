"""Delivery benchmarks (issue 14): PostgreSQL -> gzip CSV file and PostgreSQL -> PostgreSQL
table, against the psql pipes that do the same, interleaved; peak RSS of the delivery.

    uv run python benchmarks/delivery.py                 # 1,000,000 rows, 3 rounds
    uv run python benchmarks/delivery.py --rows 5000000 --rounds 1

Needs a PostgreSQL (ORCHESTRA_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1/test)
and psql. Works in a schema of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PG = os.environ.get("ORCHESTRA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
COLUMNS = "id, a, b, c, d, e, f, g, h, i"


def psql(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["psql", PG, "-v", "ON_ERROR_STOP=1", "-q", *args], check=True,
                          capture_output=True, text=True, **kwargs)  # type: ignore[arg-type]


def setup(schema: str, rows: int) -> None:
    psql("-c", f"CREATE SCHEMA {schema}")
    psql("-c", f"""CREATE TABLE {schema}.src AS SELECT g AS id, (g % 1000)::int AS a,
        'customer ' || g AS b, (g * 1.37)::numeric(12,2) AS c,
        timestamp '2026-01-01' + g * interval '1 second' AS d,
        date '2026-01-01' + (g % 365) AS e, g % 2 = 0 AS f, md5(g::text) AS g,
        g / 7.0::float8 AS h, CASE WHEN g % 10 = 0 THEN NULL ELSE 'x' || (g % 97) END AS i
        FROM generate_series(1, {rows}) AS g""")
    psql("-c", f"CREATE TABLE {schema}.dst (LIKE {schema}.src)")
    psql("-c", f"CREATE TABLE {schema}.pipe (LIKE {schema}.src)")


def worker(kind: str, schema: str, out: str) -> None:
    """One delivery in this process; prints seconds and peak RSS in MB."""
    import anyio

    from orchestra_core import Orchestra
    from orchestra_core._delivery.sources import engine_for
    from orchestra_core._store import Store

    engine_for(PG).dispose()  # imports the driver before the clock starts, as psql has it
    host = Orchestra(load_entrypoints=False)
    if kind == "file":
        destination = {"type": "filedrop", "options": {"directory": out, "fsync": False}}
        template = {"format": "csv", "compression": "gzip", "file_name": "bench.csv.gz"}
    else:
        destination = {"type": "sql", "options": {"url": PG, "table": f"{schema}.dst",
                                                  "mode": "append"}}
        template = {}
    pipeline = host.pipeline_from_data({"name": "bench", "tasks": [{
        "id": "deliver", "integration": "orchestration", "integration_job": "orchestration_run",
        "parameters": {"source": {"url": PG, "query": f"SELECT {COLUMNS} FROM {schema}.src",
                                  "batch_size": 20_000},
                       "template": template, "destination": destination}}]})
    store = Store.open(str(Path(out) / "o.db"))
    started = time.perf_counter()
    result = anyio.run(lambda: host.run(pipeline, store=store))
    seconds = time.perf_counter() - started
    assert result.state == "succeeded", result.tasks["deliver"]["error"]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds:.3f} {rss:.1f} {result.tasks['deliver']['meta']['rows']}")


def orchestra(kind: str, schema: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([sys.executable, __file__, "--worker", kind, schema, out],
                              check=True, capture_output=True, text=True)
    seconds, rss, _ = done.stdout.split()
    return float(seconds), float(rss)


def pipe(kind: str, schema: str) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        if kind == "file":
            cmd = (f"psql '{PG}' -q -c \"\\copy (SELECT {COLUMNS} FROM {schema}.src) to stdout "
                   f"csv header\" | gzip > {out}/bench.csv.gz")
        else:
            cmd = (f"psql '{PG}' -q -c \"COPY (SELECT {COLUMNS} FROM {schema}.src) TO STDOUT\""
                   f" | psql '{PG}' -q -c \"COPY {schema}.pipe FROM STDIN\"")
        subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", nargs=3)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    schema = "bench_delivery_" + uuid.uuid4().hex[:8]
    setup(schema, args.rows)
    try:
        for kind, label, target in (("file", "PostgreSQL -> gzip CSV", 1.5),
                                    ("table", "PostgreSQL -> PostgreSQL", 2.0)):
            ours, theirs, rss = [], [], []
            for n in range(args.rounds):
                order = (True, False) if n % 2 == 0 else (False, True)
                for mine in order:
                    if mine:
                        s, r = orchestra(kind, schema)
                        ours.append(s)
                        rss.append(r)
                    else:
                        theirs.append(pipe(kind, schema))
                if kind == "table":
                    psql("-c", f"TRUNCATE {schema}.dst, {schema}.pipe")
            o, t = statistics.median(ours), statistics.median(theirs)
            print(f"{label}, {args.rows:,} rows x 10 columns: orchestra {o:.2f} s, psql pipe "
                  f"{t:.2f} s, ratio {o / t:.2f} (target <= {target}), peak RSS "
                  f"{max(rss):.0f} MB (target < 200) "
                  f"{'PASS' if o / t <= target and max(rss) < 200 else 'FAIL'}")
    finally:
        psql("-c", f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
