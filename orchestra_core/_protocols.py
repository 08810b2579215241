"""The async objects plugins register: job runners, destinations, channels, webhook handlers.

Hooks are synchronous and only register or select these objects; the core awaits their
methods under anyio (so they work on asyncio and trio alike). A method signals failure by
raising an :class:`~orchestra_core.OrchestraError` subclass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ._models import (
        Delivery,
        DeliveryReceipt,
        ExternalRun,
        Intent,
        JobResult,
        Notification,
        WebhookEvent,
        WebhookRequest,
    )

__all__ = (
    "DeliveryCheckpoints",
    "Destination",
    "JobRunner",
    "NotificationChannel",
    "RecoveringJobRunner",
    "TaskContext",
    "WebhookHandler",
)


@runtime_checkable
class TaskContext(Protocol):
    """What the engine hands a runner for one attempt of one task run.

    :ivar task: the :class:`~orchestra_core.Task` as validated.
    :ivar parameters: the job's structured parameter object (an instance of the job's model).
    :ivar idempotency_key: stable for this attempt, also after a crash and resume
        (``"{run_id}/{task_id}/{attempt}"``); send it to vendors that deduplicate triggers.
    :ivar connection: the :class:`~orchestra_core.Connection` named by
        ``secondary_configuration_id`` (its credential decrypted), else one built from the
        environment variables of the integration's ``ConnectionSpec.env``, else ``None``.
    :ivar run_type: the pipeline run's type, ``"full"``, ``"refresh"`` or ``"source"``.
    :ivar started_at: when this attempt began running (kept across a resume), or ``None``;
        ``recover`` looks for vendor runs created after it.
    :ivar clock: the engine's clock (the vendor HTTP layer times backoff and rate limits on it).
    :ivar intent: the :class:`~orchestra_core.Intent` this attempt recorded before its
        trigger (also one recorded by an interrupted process, on resume), or ``None``.

    ``record_intent`` records durably, and before the trigger is sent, that the attempt is
    about to trigger, with what the vendor said just before (see :class:`RecoveringJobRunner`).

    ``log`` writes to the run log; ``sleep`` and ``now`` go through the engine's clock (a fake
    one in tests); ``next_event`` waits for a webhook event matching *key*, or returns ``None``
    after *timeout* seconds (the caller then polls).
    """

    task_id: str
    run_id: str
    pipeline: str
    attempt: int
    task: Any
    parameters: Any
    idempotency_key: str
    connection: Any
    run_type: str
    started_at: Any
    clock: Any
    intent: Intent | None

    async def record_intent(self, facts: Any = None) -> Intent:
        """Record durably, before sending the trigger, that this attempt is about to
        trigger, with *facts* (JSON values: what the vendor said just before)."""

    def log(self, message: str, *, level: str = "info") -> None:
        """Append a line to the run log (secrets are masked by the core)."""

    async def sleep(self, seconds: float) -> None:
        """Sleep on the engine's clock."""

    def now(self) -> Any:
        """The engine clock's current UTC datetime."""

    async def next_event(self, key: str, timeout: float) -> WebhookEvent | None:
        """The next webhook event for *key*, or ``None`` after *timeout* seconds."""


@runtime_checkable
class JobRunner(Protocol):
    """Executes one integration job. One instance serves every task of that job in a process.

    The engine calls ``start``, stores the returned :class:`ExternalRun` durably, then calls
    ``wait`` (again in a later process when a run is resumed after a crash, so ``wait`` must
    work from the stored ``ExternalRun`` alone). ``cancel`` is called when the run is
    cancelled or the task times out, and must reach the vendor where the vendor allows it.
    """

    async def start(self, ctx: TaskContext) -> ExternalRun:
        """Trigger the external job; return as soon as it is triggered."""

    async def wait(self, ctx: TaskContext, run: ExternalRun) -> JobResult:
        """Wait (poll with backoff, or woken by webhook events) until the job finishes."""

    async def cancel(self, ctx: TaskContext, run: ExternalRun) -> None:
        """Stop the external job; a no-op where the vendor cannot cancel."""


class RecoveringJobRunner(JobRunner, Protocol):
    """A runner that can find a job it may have triggered just before a crash.

    When a resumed run finds a task whose ``start`` was called but whose :class:`ExternalRun`
    was never stored, the engine calls ``recover`` (with the same ``ctx.idempotency_key``)
    before starting again: return the external run if the vendor has it, else ``None``.
    Runners without ``recover`` are started again with the same idempotency key.

    The rule (checked by the contract tests in ``orchestra_core.testing``): **record intent,
    then trigger; recover adopts only what began after the intent.** ``start`` calls
    ``await ctx.record_intent(facts)`` right before it sends the trigger, with what the
    vendor said just before (a completion time, the newest run id). ``recover`` returns
    ``None`` when ``ctx.intent`` is ``None`` (nothing was sent), and otherwise adopts a
    vendor run only when it provably began after the intent, else returns ``None`` so the
    task is triggered. A run that ended after the attempt began is not proof: it may be
    someone else's, and adopting it reports an outcome for a task that never triggered.
    """

    async def recover(self, ctx: TaskContext) -> ExternalRun | None:
        """The run the interrupted ``start`` created (one that began after ``ctx.intent``),
        or ``None`` if there is none or no intent was recorded."""


@runtime_checkable
class Destination(Protocol):
    """Delivers a stream of rows or files somewhere (a file drop, a REST API, a table).

    ``deliver`` receives a :class:`~orchestra_core.Delivery` and pulls the data from it as an
    async iterator, ``delivery.batches()`` (record batches) or ``delivery.files()`` (formatted
    files in chunks), never the whole data set at once. It must deliver each batch or file
    exactly once across a crash and resume: write files under a temporary name and rename
    them when complete, skip batches ``delivery.checkpoints`` holds and record each one it
    delivers there (send ``batch.key`` as an idempotency key), or deliver everything in one
    transaction. Optionally ``async check()`` tests reachability and permissions without
    delivering anything (``orchestra destinations test``).
    """

    async def deliver(self, delivery: Delivery) -> DeliveryReceipt:
        """Deliver *delivery*; raise :class:`~orchestra_core.DeliveryFailed` naming the
        destination on failure (refused auth, unreachable host, permission denied, full
        disk), leaving nothing half-written where a receiver can see it."""


@runtime_checkable
class DeliveryCheckpoints(Protocol):
    """The batches and files of one delivery already delivered, kept in the store, so a
    resumed delivery skips them. Keys are :attr:`RecordBatch.key` / :attr:`DeliveryFile.key`.
    """

    async def done(self, key: str) -> bool:
        """Whether the batch or file *key* was delivered (and recorded) before."""

    async def mark(self, key: str, *, rows: int = 0, size: int = 0,
                   checksum: str | None = None) -> None:
        """Record that *key* was delivered (acknowledged by the receiver)."""


@runtime_checkable
class NotificationChannel(Protocol):
    """Tells people about a :class:`Notification` (a stored list, a webhook, Slack, e-mail)."""

    async def notify(self, notification: Notification) -> None:
        """Send *notification*; raise :class:`~orchestra_core.DeliveryFailed` on failure."""


@runtime_checkable
class WebhookHandler(Protocol):
    """Verifies one vendor's webhook requests and turns them into events."""

    async def handle(self, request: WebhookRequest) -> Sequence[WebhookEvent]:
        """Verify *request* (raise :class:`~orchestra_core.WebhookRejected` with status
        401 when the signature is wrong, 400 when the body is malformed) and parse it."""
