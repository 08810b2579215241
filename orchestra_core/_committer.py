"""Group commit: many tasks' transitions written in one transaction, each writer waiting
until its own transition is durable before it acts on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import attrs

from ._redaction import Redactor
from ._store import Store, Write


def _masked(write: Write, redactor: Redactor) -> Write:
    """*write* with registered secrets masked in its free-text fields."""
    names = write.FREE_TEXT
    if not names:
        return write
    if hasattr(write, "fields"):
        fields = write.fields
        masked = {n: fields[n] for n in names if fields.get(n) is not None}
        if not masked:
            return write
        return attrs.evolve(write, fields={**fields, **{
            n: redactor.mask(v) if isinstance(v, str) else redactor.mask_obj(v)
            for n, v in masked.items()}})
    return attrs.evolve(write, **{n: redactor.mask(getattr(write, n)) for n in names})


async def in_thread(clock: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking store call in a thread, telling a fake clock that work is in flight
    (so it does not move time while the call runs)."""
    busy = getattr(clock, "busy", None)
    if busy is not None:
        busy(1)
    try:
        return await anyio.to_thread.run_sync(fn, *args)
    finally:
        if busy is not None:
            busy(-1)


class Committer:
    """Batches writes from concurrent tasks into single transactions.

    A batch commits on the event loop's thread when the store can do so without waiting
    for another writer (:meth:`Store.apply_now`: SQLite with its write lock free, a
    PostgreSQL server of this machine with no lock held against the batch), which costs a
    fraction of a trip to a worker thread; otherwise (a remote server, another process
    holding a lock) on a worker thread, so the loop never waits for a lock or a network.

    Secrets registered with *redactor* (the engine's host's) are masked in every write's
    free-text fields before it is queued.

    :param store: the store written to.
    :param clock: the engine's clock (a fake one in tests), or ``None``.
    :param redactor: the :class:`~orchestra_core.Redactor` of the engine's host.
    """

    def __init__(self, store: Store, clock: Any, redactor: Redactor) -> None:
        self.store = store
        self.clock = clock
        self.redactor = redactor
        self._pending: list[Write] = []
        #: set once the batch now being collected has committed (one event per batch: the
        #: writers of a batch all wait on it)
        self._batch_done = anyio.Event()
        self._wake = anyio.Event()
        self._error: BaseException | None = None
        self._closed = False
        self.batches = 0

    async def write(self, *writes: Write) -> None:
        """Queue *writes* and return once they are committed."""
        await self.queue(writes).wait()
        self.check()

    def queue(self, writes: tuple[Write, ...] | list[Write]) -> anyio.Event:
        """Queue *writes*; the event returned is set once they are committed (or the batch
        failed: check :meth:`check` after waiting). The engine's transitions wait on it
        directly, one coroutine frame less per waiting task than :meth:`write`."""
        if self._error is not None:
            raise self._error
        if self.redactor:
            writes = [_masked(w, self.redactor) for w in writes]
        self._pending.extend(writes)
        self._wake.set()
        return self._batch_done

    def check(self) -> None:
        """Raise the error of a failed batch (after waiting on the event of :meth:`queue`)."""
        if self._error is not None:
            raise self._error

    def write_nowait(self, *writes: Write) -> None:
        """Queue *writes* (log lines) to go with the next batch; do not wait."""
        if self.redactor:
            writes = tuple(_masked(w, self.redactor) for w in writes)
        self._pending.extend(writes)
        self._wake.set()

    async def run(self) -> None:
        """The writer loop; runs until :meth:`close` and the queue is empty. Shielded: when the
        run is cancelled, the cancelled tasks' last transitions must still be written."""
        with anyio.CancelScope(shield=True):
            await self._loop()

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            if not self._pending:
                if self._closed:
                    return
                continue
            batch, done = self._pending, self._batch_done
            self._pending, self._batch_done = [], anyio.Event()
            try:
                # on the event loop's thread when the store can commit at once (only the
                # disk's sync to wait for); else in a thread
                if not self.store.apply_now(batch):
                    await in_thread(self.clock, self.store.apply, batch)
                self.batches += 1
            except Exception as exc:
                self._error = exc
            finally:
                done.set()
                del batch  # freed now, not when the next batch is taken: its room is reused
            if self._error is not None:
                self._batch_done.set()  # writers queued meanwhile learn of the error
                return
            if self._closed and not self._pending:
                return  # closed while this batch was queued: nobody will wake us again

    def close(self) -> None:
        """Finish after writing what is queued."""
        self._closed = True
        self._wake.set()
