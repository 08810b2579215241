"""The scheduler: turns due triggers into pending runs, exactly once.

Each trigger row holds ``next_fire_at``. The scheduler takes the due rows (``next_fire_at <=
now``), decides for each whether it fires (misfire policy, or the condition of a queue,
after or changes trigger), and in **one transaction** moves ``next_fire_at`` on with a
conditional ``UPDATE ... WHERE next_fire_at = <the value it read>`` and inserts the run. On
PostgreSQL the due rows are also read ``FOR UPDATE SKIP LOCKED``, so several schedulers
share the work; on either database a trigger fires once per due time however many
schedulers run.

Between passes it sleeps until the earliest ``next_fire_at`` (at most ``reread`` seconds, so
triggers added by other processes are seen), or until :meth:`Scheduler.wake` is called. It
never polls faster than that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import anyio
import sqlalchemy as sa
from attrs import frozen

from .._committer import in_thread
from .._store import utc
from .._store.schema import (
    asset_events,
    clients,
    pipeline_runs,
    pipeline_versions,
    pipelines,
    task_runs,
    triggers,
)
from .._triggers.model import AfterTrigger, ChangesTrigger, Misfire, QueueTrigger
from .._triggers.times import next_fire
from .._waiting import sleep_until_set
from .pending_runs import insert_pending_runs
from .trigger_rows import trigger_from_row

__all__ = ("Fired", "Scheduler")

log = logging.getLogger("orchestra.scheduler")

_TIMED = ("cron", "interval", "single")


@frozen
class Fired:
    """One trigger that created a run."""

    pipeline: str
    trigger: str
    kind: str
    due: datetime
    run_id: str
    created_at: datetime


class _Contended(Exception):
    """Another scheduler changed a trigger this pass was firing (the pass is rolled back)."""




def _like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


class Scheduler:
    """Fires due triggers of the store's registered pipelines.

    :param store: the :class:`~orchestra_core.Store`.
    :param clock: the clock (``SystemClock`` by default; a ``FakeClock`` in tests).
    :param batch: triggers handled per transaction.
    :param reread: longest sleep between looks at the triggers table, in seconds.
    :param on_runs: called with the ids of the runs a pass created (a worker pool wakes up).
    """

    def __init__(self, store: Any, *, clock: Any = None, batch: int = 500,
                 reread: float = 5.0,
                 on_runs: Callable[[list[str]], None] | None = None) -> None:
        from .._clock import SystemClock

        self.store = store
        self.clock = clock or SystemClock()
        self.batch = batch
        self.reread = reread
        self.on_runs = on_runs
        self.fired: list[Fired] = []
        self.keep_fired = 1000
        self.passes = 0
        self._wake = anyio.Event()
        self._queues: Any = None
        self._postgres = store.engine.dialect.name == "postgresql"

    # -- one pass --------------------------------------------------------------------------------

    async def tick(self) -> list[Fired]:
        """Fire every trigger due now; return what fired."""
        out: list[Fired] = []
        while True:
            try:
                fired, full = await in_thread(self.clock, self._batch, self.clock.now())
            except _Contended as exc:
                log.info("scheduler pass rolled back and retried: %s", exc)
                continue
            out += fired
            if not full:
                break
        self.passes += 1
        if out:
            self.fired = (self.fired + out)[-self.keep_fired:]
            if self.on_runs is not None:
                self.on_runs([f.run_id for f in out])
        return out

    def _batch(self, now: datetime) -> tuple[list[Fired], bool]:
        t = triggers.c
        query = (sa.select(triggers, pipelines.c.name.label("pipeline"),
                           clients.c.name.label("client"))
                 .join(pipelines, pipelines.c.id == t.pipeline_id)
                 .join(clients, clients.c.id == pipelines.c.client_id)
                 .where(t.next_fire_at <= now, t.active.is_(True))
                 .order_by(t.next_fire_at).limit(self.batch))
        if self._postgres:
            query = query.with_for_update(skip_locked=True, of=triggers)
        fired: list[Fired] = []
        with self.store.engine.begin() as conn:
            if not self._postgres:
                # take SQLite's write lock first: the due rows read next stay ours
                conn.execute(triggers.update().where(t.id == "").values(updated_at=now))
            rows = conn.execute(query).mappings().all()
            runs: list[tuple[str, Mapping[str, Any], str, str]] = []
            labels: list[tuple[dict[str, Any], datetime]] = []
            definitions: dict[str, Any] = {}
            updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for row in rows:
                fire, nxt, values = self._decide(conn, dict(row), now)
                values = {"next_fire_at": nxt, "updated_at": now, **values}
                updates.setdefault(tuple(sorted(values)), []).append(
                    {"b_id": row["id"], "b_due": row["next_fire_at"],
                     **{f"v_{k}": v for k, v in values.items()}})
                if not fire:
                    continue
                if row["pipeline_id"] not in definitions:
                    definitions[row["pipeline_id"]] = conn.execute(
                        sa.select(pipeline_versions.c.definition)
                        .where(pipeline_versions.c.pipeline_id == row["pipeline_id"])
                        .order_by(pipeline_versions.c.version.desc()).limit(1)).scalar()
                definition = definitions[row["pipeline_id"]]
                if definition is None:
                    continue
                runs.append((row["pipeline_id"], definition,
                             trigger_from_row(row).run_type, f"{row['kind']}:{row['name']}"))
                labels.append((dict(row), utc(row["next_fire_at"])))
            for keys, params in updates.items():
                # conditional on the due time read: a row another scheduler moved is an error
                # (the transaction rolls back) rather than a second run
                stmt = triggers.update().where(
                    t.id == sa.bindparam("b_id"), t.next_fire_at == sa.bindparam("b_due")
                ).values({k: sa.bindparam(f"v_{k}") for k in keys})
                changed = conn.execute(stmt, params).rowcount
                if changed != len(params):
                    raise _Contended(f"{len(params) - changed} trigger(s) changed under us")
            ids = insert_pending_runs(conn, runs, now)
            if ids:
                conn.execute(triggers.update().where(t.id == sa.bindparam("b_id")).values(
                    last_run_id=sa.bindparam("b_run")),
                    [{"b_id": row["id"], "b_run": run_id}
                     for (row, _), run_id in zip(labels, ids, strict=True)])
            for (row, due), run_id in zip(labels, ids, strict=True):
                fired.append(Fired(row["pipeline"], row["name"], row["kind"], due, run_id, now))
        for f in fired:
            log.info("trigger %s/%s (%s) fired: run %s", f.pipeline, f.trigger, f.kind,
                     f.run_id)
        return fired, len(rows) >= self.batch

    def _decide(self, conn: sa.Connection, row: dict[str, Any], now: datetime
                ) -> tuple[bool, datetime | None, dict[str, Any]]:
        """``(fire?, next fire time, other columns to set)`` for a due trigger row."""
        trigger = trigger_from_row(row)
        due = utc(row["next_fire_at"])
        assert due is not None
        values: dict[str, Any] = {}
        scheduled = row["kind"] in _TIMED or (isinstance(trigger, ChangesTrigger)
                                             and trigger.cron is not None)
        if scheduled:
            nxt = next_fire(trigger, now)
            late = (now - due).total_seconds()
            fire, result = True, "fired"
            if late > trigger.misfire_grace:
                if trigger.misfire is Misfire.SKIP:
                    fire, result = False, (f"skipped the time(s) missed while no scheduler "
                                           f"ran (due {due:%Y-%m-%d %H:%M:%S}Z; misfire: skip)")
                else:
                    result = (f"fired {late:.0f} s late for the time(s) missed while no "
                              f"scheduler ran (misfire: run_once)")
            if fire and isinstance(trigger, ChangesTrigger):
                fire, result = self._changes(conn, trigger, row, due, now)
        else:
            nxt = next_fire(trigger, now)
            if isinstance(trigger, QueueTrigger):
                fire, result = self._queue(conn, trigger, row)
            elif isinstance(trigger, AfterTrigger):
                fire, result, cursor = self._after(conn, trigger, row)
                if cursor is not None:
                    values["cursor"] = cursor
            elif isinstance(trigger, ChangesTrigger):
                fire, result = self._changes(conn, trigger, row, None, now)
            else:
                fire, result = False, "never fires by itself"
        values["last_result"] = result
        if fire:
            values["last_fire_at"] = now
        return fire, nxt, values

    # -- conditions ------------------------------------------------------------------------------

    def _queue(self, conn: sa.Connection, trigger: QueueTrigger, row: dict[str, Any]
               ) -> tuple[bool, str]:
        if row["last_run_id"]:
            state = conn.execute(sa.select(pipeline_runs.c.state).where(
                pipeline_runs.c.id == row["last_run_id"])).scalar()
            if state in ("pending", "running"):
                return False, f"waiting for its run {row['last_run_id']} to finish"
        if self._queues is None:
            try:
                from .._queues import Queues
            except ImportError:
                return False, "queues are not available in this installation"
            self._queues = Queues(self.store, clock=self.clock)
        count = self._queues.count_new(trigger.queue, since=utc(row["last_fire_at"]))
        if count >= trigger.min_elements:
            return True, f"fired: {count} new element(s) in queue {trigger.queue!r}"
        return False, (f"{count} new element(s) in queue {trigger.queue!r}, waiting for "
                       f"{trigger.min_elements}")

    def _after(self, conn: sa.Connection, trigger: AfterTrigger, row: dict[str, Any]
               ) -> tuple[bool, str, datetime | None]:
        client = trigger.client or row["client"]
        upstream = conn.execute(sa.select(pipelines.c.id).join(
            clients, clients.c.id == pipelines.c.client_id).where(
            pipelines.c.name == trigger.pipeline, clients.c.name == client)).scalar()
        if upstream is None:
            return False, f"pipeline {trigger.pipeline!r} has not run yet", None
        cursor = utc(row["cursor"])
        r = pipeline_runs.c
        if trigger.stage:
            query = (sa.select(sa.func.count(), sa.func.max(task_runs.c.ended_at))
                     .select_from(task_runs.join(pipeline_runs, r.id == task_runs.c.run_id))
                     .where(r.pipeline_id == upstream, task_runs.c.kind == "stage",
                            task_runs.c.task_id == trigger.stage,
                            task_runs.c.outcome.in_(trigger.outcome)))
            if cursor is not None:
                query = query.where(task_runs.c.ended_at > cursor)
            what = f"stage {trigger.stage!r} of {trigger.pipeline!r}"
        else:
            query = sa.select(sa.func.count(), sa.func.max(r.ended_at)).where(
                r.pipeline_id == upstream, r.state.in_(trigger.outcome), r.ended_at.is_not(None))
            if cursor is not None:
                query = query.where(r.ended_at > cursor)
            what = f"pipeline {trigger.pipeline!r}"
        count, latest = conn.execute(query).first() or (0, None)
        if not count:
            return False, f"waiting for {what} to end {'/'.join(trigger.outcome)}", None
        return True, f"fired: {what} ended {'/'.join(trigger.outcome)}", utc(latest)

    def _changes(self, conn: sa.Connection, trigger: ChangesTrigger, row: dict[str, Any],
                 due: datetime | None, now: datetime) -> tuple[bool, str]:
        e = asset_events.c
        last_run = conn.execute(sa.select(sa.func.max(pipeline_runs.c.created_at)).where(
            pipeline_runs.c.pipeline_id == row["pipeline_id"])).scalar()
        query = sa.select(sa.func.count()).select_from(asset_events).where(
            sa.or_(e.pipeline.is_(None), e.pipeline != row["pipeline"]), e.time <= now)
        if trigger.assets:
            query = query.where(sa.or_(*(e.asset.like(_like(p), escape="\\")
                                         for p in trigger.assets)))
        if trigger.pipeline:
            query = query.where(e.pipeline == trigger.pipeline)
        if last_run is not None:
            query = query.where(e.time > utc(last_run))
        if trigger.offset is not None and due is not None:
            query = query.where(e.time >= due - timedelta(seconds=trigger.offset))
        count = conn.execute(query).scalar() or 0
        if count:
            return True, f"fired: {count} asset update(s) since the pipeline last ran"
        return False, "no asset updates since the pipeline last ran"

    # -- the loop --------------------------------------------------------------------------------

    def _next_due(self) -> datetime | None:
        with self.store.engine.connect() as conn:
            return utc(conn.execute(sa.select(sa.func.min(triggers.c.next_fire_at)).where(
                triggers.c.active.is_(True))).scalar())

    async def wait_time(self) -> float:
        """Seconds until the earliest due trigger (bounded by ``reread``)."""
        nxt = await in_thread(self.clock, self._next_due)
        if nxt is None:
            return self.reread
        seconds = (nxt - self.clock.now()).total_seconds()
        # rows still due are locked by another scheduler: look again shortly
        return min(self.reread, max(seconds, 0.05))

    def wake(self) -> None:
        """Look at the triggers now (call from the event loop after changing them)."""
        self._wake.set()

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Fire due triggers until cancelled."""
        log.info("scheduler started (store %s)", self.store.url)
        task_status.started()
        while True:
            self._wake = anyio.Event()
            try:
                await self.tick()
            except Exception as exc:  # a database outage must not stop the scheduler
                log.error("scheduler pass failed: %s: %s", type(exc).__name__, exc)
                await self._sleep(min(self.reread, 5.0))
                continue
            await self._sleep(await self.wait_time())

    async def _sleep(self, seconds: float) -> None:
        await sleep_until_set(self.clock, seconds, self._wake)
