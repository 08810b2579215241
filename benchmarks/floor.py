"""The floor: plain anyio doing the same work as the engine with the same durable writes.

- the run and one row per task are inserted with the same :meth:`Store.create_run`;
- every task is an anyio task in one task group, launched when its dependency counter drops
  to zero;
- every transition goes through :meth:`Store.apply` (the engine's write path, same columns)
  and is committed before the task proceeds; a group-commit writer batches the transitions
  of tasks that move together into one transaction, exactly like the engine's committer;
- noop tasks write ``running`` then ``succeeded``; http tasks write ``running``, then
  ``running`` with the external id once ``POST /jobs`` returned, poll ``GET /jobs/{id}``
  every 0.5 s with one shared :class:`httpx.AsyncClient` (its pool sized for the
  concurrency), then write ``succeeded``.

What the floor does *not* do, and the engine does: validate parameters per task, conditions,
limits, retries, timeouts, cancel watching, progress callbacks, and the run log (one or more
``events`` rows per task, written with the transitions' batches).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread
import httpx

from orchestra_core._store import RunUpdate, Store, TaskUpdate

TaskBody = Callable[[str, str, "GroupCommit"], Awaitable[None]]


def _now() -> datetime:
    return datetime.now(UTC)


class GroupCommit:
    """Writes queued while a transaction is in flight go together in the next one; each
    writer resumes once the transaction holding its write has committed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: list[tuple] = []
        self._done = anyio.Event()
        self._wake = anyio.Event()
        self._closed = False

    async def write(self, write: tuple) -> None:
        """Queue *write*; return once it is committed."""
        self._pending.append(write)
        done = self._done
        self._wake.set()
        await done.wait()

    async def run(self) -> None:
        """The writer loop, until :meth:`close` and nothing is queued."""
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            if not self._pending:
                if self._closed:
                    return
                continue
            batch, done = self._pending, self._done
            self._pending, self._done = [], anyio.Event()
            await anyio.to_thread.run_sync(self.store.apply, batch)
            done.set()

    def close(self) -> None:
        """Stop once the queue is empty."""
        self._closed = True
        self._wake.set()


async def run_dag(store: Store, data: dict[str, Any], body: TaskBody) -> str:
    """Record a run of the pipeline *data* and run *body* for each task in dependency order;
    return the run id."""
    tasks = data["tasks"]
    remaining = {t["id"]: len(t.get("depends_on", ())) for t in tasks}
    dependents: dict[str, list[str]] = {}
    for t in tasks:
        for dep in t.get("depends_on", ()):
            dependents.setdefault(dep, []).append(t["id"])
    nodes = [{"task_id": t["id"], "kind": "task", "integration": t["integration"],
              "job": t["integration_job"]} for t in tasks]
    owner = f"{socket.gethostname()}:{os.getpid()}"
    run_id = await anyio.to_thread.run_sync(lambda: store.create_run(
        name=data["name"], client=data["client"], definition=data, source=None,
        run_type="full", trigger="manual", nodes=nodes, owner=owner))
    commit = GroupCommit(store)
    async with anyio.create_task_group() as outer:
        outer.start_soon(commit.run)
        now = _now()
        await commit.write(RunUpdate(run_id, {"state": "running", "started_at": now,
                                            "owner": owner, "heartbeat_at": now}))
        async with anyio.create_task_group() as tg:
            async def run_task(task_id: str) -> None:
                await body(run_id, task_id, commit)
                for dep in dependents.get(task_id, ()):
                    remaining[dep] -= 1
                    if remaining[dep] == 0:
                        tg.start_soon(run_task, dep)

            for task_id, count in remaining.items():
                if count == 0:
                    tg.start_soon(run_task, task_id)
        await commit.write(RunUpdate(run_id, {"state": "succeeded", "ended_at": _now(),
                                            "error": None}))
        commit.close()
    return run_id


def _running(started: datetime) -> dict[str, Any]:
    return {"state": "running", "attempt": 1, "updated_at": started, "started_at": started,
            "external": None, "external_id": None, "next_attempt_at": None}


def _finished(state: str, meta: dict[str, Any]) -> dict[str, Any]:
    now = _now()
    return {"state": state, "attempt": 1, "updated_at": now, "ended_at": now, "error": None,
            "meta": meta}


async def noop_task(run_id: str, task_id: str, commit: GroupCommit) -> None:
    """A noop task: ``running`` committed, (no work), ``succeeded`` committed."""
    await commit.write(TaskUpdate(run_id, task_id, _running(_now())))
    await commit.write(TaskUpdate(run_id, task_id, _finished("succeeded", {})))


def http_task(client: httpx.AsyncClient, base_url: str, poll: dict[str, Any]) -> TaskBody:
    """A task body that triggers a job on the fake job API and polls it until done."""
    interval = float(poll["interval"])
    success, failure = set(poll["success"]), set(poll["failure"])

    async def body(run_id: str, task_id: str, commit: GroupCommit) -> None:
        started = _now()
        await commit.write(TaskUpdate(run_id, task_id, _running(started)))
        response = await client.post(f"{base_url}/jobs",
                                     headers={"Idempotency-Key": f"{run_id}/{task_id}/1"})
        response.raise_for_status()
        job_id = str(response.json()[poll["id_field"]])
        poll_url = base_url + poll["endpoint"].replace("{id}", job_id)
        await commit.write(TaskUpdate(run_id, task_id, {
            "state": "running", "attempt": 1, "updated_at": _now(), "external_id": job_id,
            "external": {"id": job_id, "started_at": started.isoformat(),
                         "data": {"status_code": response.status_code, "poll_url": poll_url}}}))
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
        await commit.write(TaskUpdate(run_id, task_id, _finished(state, {
            "status_code": response.status_code, "polls": polls, "id": job_id,
            "status": status, "poll_status_code": reply.status_code})))

    return body


class Pools(httpx.AsyncBaseTransport):
    """*count* connection pools (one SSL context) taking requests in turn: one httpcore pool
    scans all its connections for every request it queues or releases, which makes a single
    pool of 500 busy connections CPU-bound (see the README)."""

    def __init__(self, connections: int, count: int) -> None:
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


class Stopwatch:
    """Wall and CPU (all threads) seconds between :meth:`start` and :meth:`stop`."""

    def start(self) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()

    def stop(self) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


async def run(store: Store, data: dict[str, Any], workload: str, base_url: str | None,
              clock: Stopwatch, pools: int = 1) -> str:
    """Run *workload* on the floor, timed by *clock*; return the run id."""
    clock.start()
    if workload == "W3":
        assert base_url is not None
        poll = data["tasks"][0]["parameters"]["poll"]
        n = len(data["tasks"])
        if pools > 1:
            client = httpx.AsyncClient(transport=Pools(n, pools), timeout=30.0)
        else:
            limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
            client = httpx.AsyncClient(limits=limits, timeout=30.0)
        async with client:
            run_id = await run_dag(store, data, http_task(client, base_url, poll))
            clock.stop()  # closing the pool is not part of the run
    else:
        run_id = await run_dag(store, data, noop_task)
        clock.stop()
    return run_id
