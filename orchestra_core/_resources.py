"""Named resources (``resource: NAME`` on a task): a mutex across every worker of a store.

A task that names a resource holds a lease row in ``resource_leases`` while it executes: the
row names its holder and an expiry the holder pushes forward every third of the lease; a
holder killed without releasing blocks others for at most :data:`LEASE_SECONDS`. Taking the
lease is an insert (the name is the primary key) or a compare-and-swap of an expired row, so
exactly one worker wins on SQLite and PostgreSQL alike. Waiters look again every
:data:`POLL_SECONDS` on the engine's clock.

:class:`ResourceLease` has the interface of the capacity limiters an attempt takes in its
``QUEUE`` step (``acquire_nowait``, ``acquire``, ``release``), so the engine holds it like
them: the task shows ``queued`` while another worker holds the resource.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import anyio
import sqlalchemy as sa

from ._committer import in_thread
from ._store import utc
from ._store.schema import resource_leases

__all__ = ("LEASE_SECONDS", "POLL_SECONDS", "ResourceLease", "holders", "try_take")

#: Seconds a lease lasts unless renewed.
LEASE_SECONDS = 60.0
#: Seconds between looks while another holder has the resource.
POLL_SECONDS = 1.0


def try_take(store: Any, name: str, holder: str, now: datetime, *, owner: str | None = None,
             run_id: str | None = None, task_id: str | None = None,
             lease: float = LEASE_SECONDS) -> bool:
    """Take resource *name* for *holder* if it is free or its lease expired."""
    c = resource_leases.c
    values = {"holder": holder, "owner": owner, "run_id": run_id, "task_id": task_id,
              "acquired_at": now, "expires_at": now + timedelta(seconds=lease)}
    with store.engine.begin() as conn:
        row = conn.execute(sa.select(c.holder, c.expires_at).where(c.name == name)).first()
        if row is not None:
            if row.holder != holder and utc(row.expires_at) > now:
                return False
            done = conn.execute(resource_leases.update().where(
                c.name == name, c.holder == row.holder, c.expires_at == row.expires_at)
                .values(**values))
            return done.rowcount == 1
    try:
        with store.engine.begin() as conn:
            conn.execute(resource_leases.insert().values(name=name, **values))
    except sa.exc.IntegrityError:
        return False  # another worker inserted it first
    return True


def _renew(store: Any, name: str, holder: str, until: datetime) -> bool:
    c = resource_leases.c
    with store.engine.begin() as conn:
        return conn.execute(resource_leases.update().where(c.name == name, c.holder == holder)
                            .values(expires_at=until)).rowcount == 1


def _release(store: Any, name: str, holder: str) -> None:
    c = resource_leases.c
    with store.engine.begin() as conn:
        conn.execute(resource_leases.delete().where(c.name == name, c.holder == holder))


def holders(store: Any) -> list[dict[str, Any]]:
    """The held resources (name, holder, owner, run, task, times)."""
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(resource_leases).order_by(resource_leases.c.name)).mappings()]


class ResourceLease:
    """One attempt's hold on resource *name* (see the module docstring).

    :param spawn: starts a background task (the run's task group ``start_soon``): the
        renewal while held, the release afterwards.
    :param log: ``log(message, level=...)`` for the task's log.
    """

    def __init__(self, store: Any, clock: Any, name: str, *, spawn: Callable[..., Any],
                 log: Callable[..., None], owner: str | None = None,
                 run_id: str | None = None, task_id: str | None = None,
                 lease: float = LEASE_SECONDS, poll: float = POLL_SECONDS) -> None:
        self.store, self.clock, self.name = store, clock, name
        self.spawn, self.log = spawn, log
        self.owner, self.run_id, self.task_id = owner, run_id, task_id
        self.lease, self.poll = lease, poll
        self.holder = uuid.uuid4().hex
        self._renewal: anyio.CancelScope | None = None

    def acquire_nowait(self) -> None:
        """Never takes it at once: the store is read off the event loop, in :meth:`acquire`."""
        raise anyio.WouldBlock

    async def acquire(self) -> None:
        """Wait until this attempt holds the resource, then keep renewing the lease."""
        said = False
        while not await in_thread(self.clock, self._take):
            if not said:
                self.log(f"waiting for resource {self.name!r}, held by another task")
                said = True
            await self.clock.sleep(self.poll)
        if said:
            self.log(f"resource {self.name!r} taken")
        self._renewal = anyio.CancelScope()
        self.spawn(self._renew_loop, self._renewal)

    def release(self) -> None:
        """Stop renewing and delete the lease (in the background, shielded)."""
        if self._renewal is not None:
            self._renewal.cancel()
            self._renewal = None
        self.spawn(self._release)

    def _take(self) -> bool:
        return try_take(self.store, self.name, self.holder, self.clock.now(), owner=self.owner,
                        run_id=self.run_id, task_id=self.task_id, lease=self.lease)

    async def _renew_loop(self, scope: anyio.CancelScope) -> None:
        with scope:
            while True:
                await self.clock.sleep(self.lease / 3)
                until = self.clock.now() + timedelta(seconds=self.lease)
                if not await in_thread(self.clock, _renew, self.store, self.name,
                                       self.holder, until):
                    self.log(f"lost the lease of resource {self.name!r} (it expired and was "
                             "taken over)", level="warning")
                    return

    async def _release(self) -> None:
        with anyio.CancelScope(shield=True):
            await in_thread(self.clock, _release, self.store, self.name, self.holder)
