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
from collections.abc import Callable
from datetime import datetime
from typing import Any

import anyio
import sqlalchemy as sa
from attrs import frozen

from .._committer import in_thread
from .._store import utc
from .._store.schema import clients, pipeline_versions, pipelines, triggers
from .._triggers.model import AfterTrigger, ChangesTrigger, QueueTrigger
from .._triggers.times import next_fire
from .._waiting import sleep_until_set
from . import misfires
from .conditions import after_completions, changes_since, queue_count
from .overlap import admit
from .pending_runs import PendingRun, insert_pending_runs
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
            runs: list[PendingRun] = []
            labels: list[tuple[dict[str, Any], datetime]] = []
            definitions: dict[str, Any] = {}
            created: dict[str, int] = {}
            updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for row in rows:
                times, nxt, values = self._decide(conn, dict(row), now)
                pid = row["pipeline_id"]
                if times and pid not in definitions:
                    definitions[pid] = conn.execute(
                        sa.select(pipeline_versions.c.definition)
                        .where(pipeline_versions.c.pipeline_id == pid)
                        .order_by(pipeline_versions.c.version.desc()).limit(1)).scalar()
                definition = definitions.get(pid)
                if times and definition is not None:
                    times, note = admit(conn, pid, definition, times, created.get(pid, 0), now)
                    values["last_result"] += note
                    if not times:
                        values.pop("last_fire_at", None)
                    created[pid] = created.get(pid, 0) + len(times)
                    run_type = trigger_from_row(row).run_type
                    for when in times:
                        runs.append((pid, definition, run_type, f"{row['kind']}:{row['name']}",
                                     when))
                        labels.append((dict(row), when))
                values = {"next_fire_at": nxt, "updated_at": now, **values}
                updates.setdefault(tuple(sorted(values)), []).append(
                    {"b_id": row["id"], "b_due": row["next_fire_at"],
                     **{f"v_{k}": v for k, v in values.items()}})
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
            last = {row["id"]: run_id for (row, _), run_id in zip(labels, ids, strict=True)}
            if last:
                conn.execute(triggers.update().where(t.id == sa.bindparam("b_id")).values(
                    last_run_id=sa.bindparam("b_run")),
                    [{"b_id": k, "b_run": v} for k, v in last.items()])
            for (row, due), run_id in zip(labels, ids, strict=True):
                fired.append(Fired(row["pipeline"], row["name"], row["kind"], due, run_id, now))
        for f in fired:
            log.info("trigger %s/%s (%s) fired: run %s", f.pipeline, f.trigger, f.kind,
                     f.run_id)
        return fired, len(rows) >= self.batch

    def _decide(self, conn: sa.Connection, row: dict[str, Any], now: datetime
                ) -> tuple[list[datetime], datetime | None, dict[str, Any]]:
        """``(scheduled times of the runs to create, next fire time, other columns to set)``
        for a due trigger row."""
        trigger = trigger_from_row(row)
        due = utc(row["next_fire_at"])
        assert due is not None
        values: dict[str, Any] = {}
        times: list[datetime] = []
        nxt = next_fire(trigger, now)
        scheduled = row["kind"] in _TIMED or (isinstance(trigger, ChangesTrigger)
                                             and trigger.cron is not None)
        if scheduled:
            times, result = misfires.missed_times(trigger, due, now)
            if len(times) >= misfires.MAX_RUN_ALL:  # the rest of the missed times in the next pass
                nxt = next_fire(trigger, times[-1])
            if times and isinstance(trigger, ChangesTrigger):
                fire, result = changes_since(conn, trigger, row, due, now)
                times = times if fire else []
        elif isinstance(trigger, QueueTrigger):
            fire, result, seq = queue_count(conn, trigger, row)
            if fire:
                times, values["cursor_seq"] = [now], seq
        elif isinstance(trigger, AfterTrigger):
            times, result, seq = after_completions(conn, trigger, row)
            if times:
                values["cursor"], values["cursor_seq"] = times[-1], seq
        elif isinstance(trigger, ChangesTrigger):
            fire, result = changes_since(conn, trigger, row, None, now)
            times = [now] if fire else []
        else:
            result = "never fires by itself"
        values["last_result"] = result
        if times:
            values["last_fire_at"] = now
        return times, nxt, values

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
