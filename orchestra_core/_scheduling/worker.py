"""The worker pool: executes pending runs and takes over abandoned ones.

A run is picked up when it is ``pending`` with no owner (created by a trigger, by
``orchestra pipelines run --queue`` or by the API), or when it is ``pending``/``running``
and its owner's lease has expired (a process that died; see
:mod:`orchestra_core._scheduling.lease`). Picking up is a conditional ``UPDATE`` of the
owner, so two workers never execute one run. Runs execute on one
:class:`~orchestra_core.Engine`, at most ``slots`` at once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import anyio
import sqlalchemy as sa

from .._committer import in_thread
from .._store.schema import pipeline_runs, pipelines
from .._waiting import sleep_until_set
from .lease import RunOwned, owner_alive, try_claim
from .overlap import room_to_start

__all__ = ("RunWorker",)

log = logging.getLogger("orchestra.worker")


class RunWorker:
    """Executes runs from the store on *engine*.

    :param slots: runs executing at once.
    :param poll: longest sleep between looks for runs (it is woken at once by the
        in-process scheduler).
    """

    def __init__(self, engine: Any, *, slots: int = 16, poll: float = 2.0) -> None:
        self.engine = engine
        self.store = engine.store
        self.clock = engine.clock
        self.slots = slots
        self.poll = poll
        self.running: set[str] = set()
        self.finished: dict[str, str] = {}
        self.started = 0
        self._wake = anyio.Event()
        self._scope: anyio.CancelScope | None = None
        self._tg: anyio.abc.TaskGroup | None = None

    def wake(self) -> None:
        """Look for runs now (call from the event loop)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop executing: running runs are left resumable (see ``Engine.detach``)."""
        self.engine.detach()
        if self._scope is not None:
            self._scope.cancel()

    def _claim(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """Claim up to *limit* runs; ``[(run_id, why)]``."""
        r = pipeline_runs.c
        me = self.engine.owner
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(r.id, r.owner, r.heartbeat_at, r.state, r.started_at, r.created_at,
                          r.pipeline_id)
                .where(r.state.in_(("pending", "running")),
                       sa.or_(r.owner.is_(None), r.owner != me))
                .order_by(r.created_at).limit(max(limit * 4, 50))).mappings().all()
            limited = set(conn.execute(sa.select(pipelines.c.id).where(
                pipelines.c.id.in_({row["pipeline_id"] for row in rows}),
                pipelines.c.max_active_runs.is_not(None))).scalars()) if rows else set()
        out: list[tuple[str, str]] = []
        for row in rows:
            if len(out) >= limit:
                break
            if row["id"] in self.running:
                continue
            beat = row["heartbeat_at"] or row["created_at"]
            if row["owner"] is not None and owner_alive(row["owner"], beat, now):
                continue
            fresh = row["owner"] is None and row["started_at"] is None and \
                row["pipeline_id"] in limited
            if fresh and not self._room(row, me, claimed=False):
                continue  # the pipeline's max_active_runs: it waits for an active run to end
            if not try_claim(self.store, dict(row), me, now):
                continue
            if fresh and not self._room(row, me, claimed=True):
                continue
            if row["owner"] is None and row["started_at"] is None:
                why = "pending"
            else:
                why = f"interrupted (owner {row['owner'] or 'none'} is gone)"
            out.append((row["id"], why))
        return out

    def _room(self, row: Any, me: str, *, claimed: bool) -> bool:
        """Whether the pending run *row* may start under its pipeline's active-run limit;
        a run claimed by a worker that finds no room after all is released again (two
        workers claiming at once: the older run starts first)."""
        with self.store.engine.begin() as conn:
            if room_to_start(conn, row["pipeline_id"], row["id"]):
                return True
            if claimed:
                conn.execute(pipeline_runs.update().where(
                    pipeline_runs.c.id == row["id"], pipeline_runs.c.owner == me,
                    pipeline_runs.c.started_at.is_(None)).values(owner=None,
                                                                 heartbeat_at=None))
        return False

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Pick up and execute runs until :meth:`stop` (or cancellation)."""
        with anyio.CancelScope() as scope:
            self._scope = scope
            async with anyio.create_task_group() as tg:
                self._tg = tg
                task_status.started()
                while True:
                    self._wake = anyio.Event()
                    free = self.slots - len(self.running)
                    if free > 0 and not getattr(self.engine, "draining", False):
                        try:
                            claimed = await in_thread(self.clock, self._claim, self.clock.now(),
                                                      free)
                        except Exception as exc:
                            log.error("looking for runs failed: %s: %s", type(exc).__name__,
                                      exc)
                            claimed = []
                        for run_id, why in claimed:
                            self.running.add(run_id)
                            self.started += 1
                            if why == "pending":
                                log.info("starting run %s", run_id)
                            else:
                                log.warning("resuming run %s: %s", run_id, why)
                            tg.start_soon(self._execute, run_id)
                    await self._sleep(self.poll)

    async def _execute(self, run_id: str) -> None:
        try:
            result = await self.engine.resume(run_id)
            self.finished[run_id] = result.state
            log.info("run %s %s%s", run_id, result.state,
                     f": {result.error}" if result.error else "")
        except anyio.get_cancelled_exc_class():
            if self.engine.detaching:
                log.warning("run %s left to be resumed (shutting down)", run_id)
            raise
        except RunOwned as exc:
            log.warning("run %s not executed: %s", run_id, exc)
        except Exception as exc:
            log.exception("run %s stopped by an error: %s", run_id, exc)
        finally:
            self.running.discard(run_id)
            self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        await sleep_until_set(self.clock, seconds, self._wake)
