"""The floor: the least work a Python orchestrator with durable run records can do.

Plain anyio and the stdlib ``sqlite3`` module: no ``Store``, no SQLAlchemy, nothing of
Orchestra's. It writes the same rows as the engine, with the same durability:

- one transaction inserts the run and a ``pending`` row per task;
- every task is an anyio task in one task group, started when its dependency counter
  reaches zero;
- every transition (``running``, ``succeeded``; for W3 also the external id) is an UPDATE of
  the task's row, committed before the task goes on;
- commits are batched across tasks ready together (group commit, leader-based: the first
  writer of an empty batch yields once to the event loop so that every task made ready by
  the same event joins the batch, then commits it and wakes the others); the commit runs
  on the event loop's thread, the cheapest place for it;
- the SQLite file is in WAL mode with ``synchronous=FULL`` (``durability="full"``) or
  ``NORMAL`` (``"normal"``), as the engine's store.

W3 tasks POST a job, poll it every 0.5 s, with one ``httpx.AsyncClient`` over several
connection pools (see the README). What the floor does not do, and the engine does:
parameter validation, conditions, limits, retries, timeouts, cancel watching, progress
callbacks, run-log rows, secrets masking.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, pipeline TEXT NOT NULL, state TEXT NOT NULL,
    definition TEXT NOT NULL, created_at REAL NOT NULL, started_at REAL, ended_at REAL);
CREATE TABLE IF NOT EXISTS task_runs (
    run_id INTEGER NOT NULL, task_id TEXT NOT NULL, state TEXT NOT NULL,
    attempt INTEGER NOT NULL, updated_at REAL NOT NULL, started_at REAL, ended_at REAL,
    external_id TEXT, external TEXT, meta TEXT, PRIMARY KEY (run_id, task_id));
"""

SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}

_RUNNING = ("UPDATE task_runs SET state='running', attempt=1, updated_at=?, started_at=? "
            "WHERE run_id=? AND task_id=?")
_EXTERNAL = ("UPDATE task_runs SET updated_at=?, external_id=?, external=? "
             "WHERE run_id=? AND task_id=?")
_FINISHED = ("UPDATE task_runs SET state=?, updated_at=?, ended_at=?, meta=? "
             "WHERE run_id=? AND task_id=?")


class Recorder:
    """The run's rows in a SQLite file, written with group commit."""

    def __init__(self, path: str, durability: str = "full") -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={SYNCHRONOUS[durability]}")
        self.db.executescript(SCHEMA)
        self.commits = 0
        self.writes = 0
        self._pending: list[tuple[str, tuple]] = []
        self._batch: anyio.Event | None = None

    def create_run(self, name: str, definition: dict[str, Any], task_ids: list[str]) -> int:
        """Insert the run and its pending task rows in one transaction."""
        now = time.time()
        db = self.db
        db.execute("BEGIN")
        run_id = db.execute("INSERT INTO runs (pipeline, state, definition, created_at) "
                            "VALUES (?, 'pending', ?, ?)",
                            (name, json.dumps(definition), now)).lastrowid
        db.executemany("INSERT INTO task_runs (run_id, task_id, state, attempt, updated_at) "
                       "VALUES (?, ?, 'pending', 0, ?)", [(run_id, t, now) for t in task_ids])
        db.execute("COMMIT")
        self.commits += 1
        assert run_id is not None
        return run_id

    def set_run(self, run_id: int, state: str, column: str) -> None:
        """The run's state, and the time in *column* (``started_at`` or ``ended_at``)."""
        self.db.execute(f"UPDATE runs SET state=?, {column}=? WHERE id=?",
                        (state, time.time(), run_id))
        self.commits += 1

    async def write(self, sql: str, params: tuple) -> None:
        """Queue one UPDATE; return once it is committed."""
        self._pending.append((sql, params))
        if self._batch is not None:  # a leader is collecting this batch
            await self._batch.wait()
            return
        done = self._batch = anyio.Event()
        await anyio.sleep(0)  # let every task made ready by the same event join
        batch, self._pending, self._batch = self._pending, [], None
        db = self.db
        db.execute("BEGIN")
        for statement, values in batch:
            db.execute(statement, values)
        db.execute("COMMIT")
        self.commits += 1
        self.writes += len(batch)
        done.set()

    def close(self) -> None:
        self.db.close()


TaskBody = Callable[[int, str, Recorder], Awaitable[None]]


async def run_dag(rec: Recorder, data: dict[str, Any], body: TaskBody) -> int:
    """Record a run of the pipeline *data* and run *body* for each task in dependency order;
    return the run id."""
    tasks = data["tasks"]
    remaining = {t["id"]: len(t.get("depends_on", ())) for t in tasks}
    dependents: dict[str, list[str]] = {}
    for t in tasks:
        for dep in t.get("depends_on", ()):
            dependents.setdefault(dep, []).append(t["id"])
    run_id = rec.create_run(data["name"], data, list(remaining))
    rec.set_run(run_id, "running", "started_at")
    async with anyio.create_task_group() as tg:
        async def run_task(task_id: str) -> None:
            await body(run_id, task_id, rec)
            for dep in dependents.get(task_id, ()):
                remaining[dep] -= 1
                if remaining[dep] == 0:
                    tg.start_soon(run_task, dep)

        for task_id, count in remaining.items():
            if count == 0:
                tg.start_soon(run_task, task_id)
    rec.set_run(run_id, "succeeded", "ended_at")
    return run_id


async def noop_task(run_id: int, task_id: str, rec: Recorder) -> None:
    """A noop task: ``running`` committed, (no work), ``succeeded`` committed."""
    now = time.time()
    await rec.write(_RUNNING, (now, now, run_id, task_id))
    now = time.time()
    await rec.write(_FINISHED, ("succeeded", now, now, "{}", run_id, task_id))


def http_task(client: Any, base_url: str, poll: dict[str, Any]) -> TaskBody:
    """A task body that triggers a job on the job server and polls it until done."""
    interval = float(poll["interval"])
    success, failure = set(poll["success"]), set(poll["failure"])

    async def body(run_id: int, task_id: str, rec: Recorder) -> None:
        started = time.time()
        await rec.write(_RUNNING, (started, started, run_id, task_id))
        response = await client.post(f"{base_url}/jobs",
                                     headers={"Idempotency-Key": f"{run_id}/{task_id}/1"})
        response.raise_for_status()
        job_id = str(response.json()[poll["id_field"]])
        poll_url = base_url + poll["endpoint"].replace("{id}", job_id)
        external = json.dumps({"id": job_id, "started_at": started,
                               "data": {"status_code": response.status_code,
                                        "poll_url": poll_url}})
        await rec.write(_EXTERNAL, (time.time(), job_id, external, run_id, task_id))
        polls = 0
        while True:
            await anyio.sleep(interval)
            polls += 1
            reply = await client.get(poll_url)
            reply.raise_for_status()
            status = str(reply.json()[poll["field"]])
            if status in success or status in failure:
                break
        state = "succeeded" if status in success else "failed"
        meta = json.dumps({"status_code": response.status_code, "polls": polls, "id": job_id,
                           "status": status, "poll_status_code": reply.status_code})
        now = time.time()
        await rec.write(_FINISHED, (state, now, now, meta, run_id, task_id))

    return body


def pooled_client(connections: int, count: int) -> Any:
    """One ``httpx.AsyncClient`` whose requests go in turn to *count* connection pools of
    together *connections* connections (one SSL context): one httpcore pool scans all its
    connections for every request it queues or releases, which makes a single pool of 500
    busy connections CPU-bound (see the README)."""
    import httpx

    class Pools(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            ssl_context = httpx.create_ssl_context()
            each = -(-connections // count)
            limits = httpx.Limits(max_connections=each, max_keepalive_connections=each)
            self.pools = [httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits)
                          for _ in range(count)]
            self.turn = 0

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            pool = self.pools[self.turn]
            self.turn = (self.turn + 1) % len(self.pools)
            return await pool.handle_async_request(request)

        async def aclose(self) -> None:
            for pool in self.pools:
                await pool.aclose()

    if count > 1:
        return httpx.AsyncClient(transport=Pools(), timeout=30.0)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(limits=limits, timeout=30.0)


class Stopwatch:
    """Wall and CPU (all threads) seconds between :meth:`start` and :meth:`stop`."""

    def start(self) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()

    def stop(self) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


async def run(rec: Recorder, data: dict[str, Any], workload: str, base_url: str | None,
              clock: Stopwatch, pools: int = 1) -> int:
    """Run *workload* on the floor, timed by *clock*; return the run id."""
    if workload == "W3":
        assert base_url is not None
        poll = data["tasks"][0]["parameters"]["poll"]
        async with pooled_client(len(data["tasks"]), pools) as client:
            clock.start()
            run_id = await run_dag(rec, data, http_task(client, base_url, poll))
            clock.stop()  # closing the pools is not part of the run
    else:
        clock.start()
        run_id = await run_dag(rec, data, noop_task)
        clock.stop()
    return run_id


def check(rec: Recorder, run_id: int, data: dict[str, Any], workload: str) -> dict[str, Any]:
    """After the clock stopped: how many tasks succeeded (and, for W3, stored an external
    id); raises ``SystemExit`` when the run did not do all its work."""
    db = rec.db
    out = {"succeeded": db.execute("SELECT count(*) FROM task_runs WHERE run_id=? AND "
                                   "state='succeeded'", (run_id,)).fetchone()[0],
           "event_rows": 0}
    problems = []
    if out["succeeded"] != len(data["tasks"]):
        problems.append(f"{out['succeeded']} of {len(data['tasks'])} tasks succeeded")
    if workload == "W3":
        out["external_ids"] = db.execute("SELECT count(*) FROM task_runs WHERE run_id=? AND "
                                         "external_id IS NOT NULL", (run_id,)).fetchone()[0]
        if out["external_ids"] != len(data["tasks"]):
            problems.append(f"only {out['external_ids']} tasks stored an external id")
    if db.execute("SELECT state FROM runs WHERE id=?", (run_id,)).fetchone()[0] != "succeeded":
        problems.append("the run is not recorded as succeeded")
    if problems:
        raise SystemExit("floor check failed: " + "; ".join(problems))
    return out
