"""The worker pool: executes pending runs and takes over abandoned ones.

A run is picked up when it is ``pending`` with no owner (created by a trigger, by
``orchestra pipelines run --queue`` or by the API), or when it is ``pending``/``running``
and its owner's lease has expired (a process that died; see
:mod:`orchestra_core._scheduling.lease`). Picking up is a conditional ``UPDATE`` of the
owner, so two workers never execute one run. Runs execute on one
:class:`~orchestra_core.Engine`, at most ``slots`` at once.

Runs without an owner are claimed in one statement per look (an ``UPDATE ... RETURNING``
of up to the free slots' number of runs, skipping rows another worker is claiming), and
their task runs read in one more; the engine is handed both, and reads and claims nothing
again. Runs of a pipeline with ``max_active_runs`` (which need a look at its active runs)
and runs of another owner (whose lease is checked here, at most every ``poll`` seconds) are
claimed one by one.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, NamedTuple

import anyio
import sqlalchemy as sa

from .._committer import in_thread
from .._store.schema import pipeline_runs, pipelines, task_runs
from .._waiting import sleep_until_set
from .lease import RunOwned, owner_alive, try_claim
from .overlap import room_to_start

__all__ = ("Claimed", "RunWorker")

log = logging.getLogger("orchestra.worker")

_r = pipeline_runs.c
_ACTIVE = ("pending", "running")
#: pipelines whose runs start only while fewer than ``max_active_runs`` execute
_LIMITED = sa.select(pipelines.c.id).where(pipelines.c.max_active_runs.is_not(None))
_UNOWNED = sa.and_(_r.state.in_(_ACTIVE), _r.owner.is_(None))
#: a fresh run of a limited pipeline: claimed one by one, after a look at the active runs
_FRESH_LIMITED = sa.and_(_UNOWNED, _r.started_at.is_(None), _r.pipeline_id.in_(_LIMITED))
#: every other run without an owner, oldest first, claimed together: the ``UPDATE``
#: re-checks that it still has none (a worker claiming at the same time skips the rows
#: locked by this one on PostgreSQL; SQLite writes one at a time). The rows are picked in a
#: CTE, evaluated once (a subquery in the ``WHERE`` may be evaluated again for each row
#: updated, picking more rows than asked for, with ``SKIP LOCKED``)
_PICK = (sa.select(_r.id)
         .where(_UNOWNED, sa.or_(_r.started_at.is_not(None), _r.pipeline_id.not_in(_LIMITED)))
         .order_by(_r.created_at).limit(sa.bindparam("n", type_=sa.Integer))
         .with_for_update(skip_locked=True, of=pipeline_runs).cte("pick"))
_CLAIM_UNOWNED = (
    pipeline_runs.update()
    .where(_r.id == _PICK.c.id, _UNOWNED)
    .values(owner=sa.bindparam("me", type_=_r.owner.type),
            heartbeat_at=sa.bindparam("now", type_=_r.heartbeat_at.type))
    .returning(*pipeline_runs.c))
_TASK_RUNS = (sa.select(task_runs).where(task_runs.c.run_id.in_(sa.bindparam("ids",
                                                                             expanding=True)))
              .order_by(task_runs.c.id))


class Claimed(NamedTuple):
    """A run this worker claimed."""

    #: the run's id
    run_id: str
    #: ``pending``, or why an interrupted run is resumed
    why: str
    #: the run's record as read with the claim (its ``owner`` the one it had before), or
    #: ``None``: the engine reads it (and claims it again, which this owner may)
    run: dict[str, Any] | None = None
    #: its task runs, read after the claim (with *run*)
    rows: list[dict[str, Any]] | None = None


class RunWorker:
    """Executes runs from the store on *engine*.

    :param slots: runs executing at once.
    :param poll: longest sleep between looks for runs (it is woken at once by the
        in-process scheduler and when a run ends); also the time between looks for runs
        whose owner died.
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
        self._scanned: datetime | None = None  # the last look for runs of dead owners

    def wake(self) -> None:
        """Look for runs now (call from the event loop)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop executing: running runs are left resumable (see ``Engine.detach``)."""
        self.engine.detach()
        if self._scope is not None:
            self._scope.cancel()

    def _claim(self, now: datetime, limit: int) -> list[Claimed]:
        """Claim up to *limit* runs: first those claimed one by one (fresh runs of limited
        pipelines; runs of dead owners, looked for at most every ``poll`` seconds), then
        the other runs without an owner, together."""
        scan = self._scanned is None or (now - self._scanned).total_seconds() >= self.poll
        if scan:
            self._scanned = now
        together = self.store.engine.dialect.update_returning  # not on SQLite < 3.35
        out = self._claim_each(now, limit, scan=scan, unowned=not together)
        if together and len(out) < limit:
            out += self._claim_unowned(now, limit - len(out))
        return out

    def _claim_unowned(self, now: datetime, limit: int) -> list[Claimed]:
        """Claim up to *limit* runs without an owner (but fresh ones of limited pipelines) in
        one statement; read their task runs in one more."""
        with self.store.engine.connect() as conn:
            runs = [dict(row) for row in conn.execute(
                _CLAIM_UNOWNED, {"n": limit, "me": self.engine.owner, "now": now}).mappings()]
            conn.commit()
            if not runs:
                return []
            rows: dict[str, list[dict[str, Any]]] = {run["id"]: [] for run in runs}
            for row in conn.execute(_TASK_RUNS, {"ids": list(rows)}).mappings():
                rows[row["run_id"]].append(dict(row))
        runs.sort(key=lambda run: (run["created_at"], run["id"]))
        out = []
        for run in runs:
            run["owner"] = None  # as it was before the claim (it had none)
            why = "pending" if run["started_at"] is None else \
                "interrupted (owner none is gone)"
            out.append(Claimed(run["id"], why, run, rows[run["id"]]))
        return out

    def _claim_each(self, now: datetime, limit: int, *, scan: bool,
                    unowned: bool) -> list[Claimed]:
        """Claim up to *limit* fresh runs of limited pipelines that have room, (with
        *unowned*) every other run without an owner, and (with *scan*) runs whose owner is
        gone, one conditional ``UPDATE`` each."""
        me = self.engine.owner
        cond = _UNOWNED if unowned else _FRESH_LIMITED
        if scan:
            cond = sa.or_(cond, sa.and_(_r.owner.is_not(None), _r.owner != me))
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(_r.id, _r.owner, _r.heartbeat_at, _r.state, _r.started_at,
                          _r.created_at, _r.pipeline_id)
                .where(_r.state.in_(_ACTIVE), cond)
                .order_by(_r.created_at).limit(max(limit * 4, 50))).mappings().all()
            # without *unowned*, the fresh runs found are all of limited pipelines
            limited = set(conn.execute(sa.select(pipelines.c.id).where(
                pipelines.c.id.in_({row["pipeline_id"] for row in rows}),
                pipelines.c.max_active_runs.is_not(None))).scalars()) \
                if unowned and rows else None
        out: list[Claimed] = []
        for row in rows:
            if len(out) >= limit:
                break
            if row["id"] in self.running:
                continue
            beat = row["heartbeat_at"] or row["created_at"]
            if row["owner"] is not None and owner_alive(row["owner"], beat, now):
                continue
            fresh = row["owner"] is None and row["started_at"] is None
            held = fresh and (limited is None or row["pipeline_id"] in limited)
            if held and not self._room(row, me, claimed=False):
                continue  # the pipeline's max_active_runs: it waits for an active run to end
            if not try_claim(self.store, dict(row), me, now):
                continue
            if held and not self._room(row, me, claimed=True):
                continue
            out.append(Claimed(row["id"], "pending" if fresh else
                               f"interrupted (owner {row['owner'] or 'none'} is gone)"))
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
                        for run in claimed:
                            self.running.add(run.run_id)
                            self.started += 1
                            if run.why == "pending":
                                log.info("starting run %s", run.run_id)
                            else:
                                log.warning("resuming run %s: %s", run.run_id, run.why)
                            tg.start_soon(self._execute, run)
                    await self._sleep(self.poll)

    async def _execute(self, claimed: Claimed) -> None:
        run_id = claimed.run_id
        try:
            result = await self.engine.resume(run_id, run=claimed.run, rows=claimed.rows)
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
