"""Value types shared by the core and plugins: problems, external runs, results, webhooks.

All are ``attrs`` frozen classes; plugins construct them and the core stores them.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from attrs import field, frozen

__all__ = (
    "Connection",
    "Delivery",
    "DeliveryFile",
    "DeliveryReceipt",
    "ExternalRun",
    "Intent",
    "JobResult",
    "JobState",
    "Notification",
    "Problem",
    "RecordBatch",
    "WebhookEvent",
    "WebhookRequest",
)


@frozen(kw_only=True)
class Problem:
    """One thing wrong with user input, located as precisely as the input allows.

    :param path: JSON path into the document, e.g. ``$.tasks[2].parameters.connectionid``.
    :param message: what is wrong, phrased for the user.
    :param file: the file the document came from, when it came from a file.
    :param line: 1-based line of the offending value (or of the syntax error).
    :param column: 1-based column, as for *line*.
    :param code: a stable identifier of the rule, e.g. ``unknown-integration``.
    """

    path: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    code: str = "invalid"

    def format(self) -> str:
        """``file:line:column: path: message``, leaving out what is unknown."""
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        return f"{where}{self.path}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping of every field."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "code": self.code,
            "message": self.message,
        }


class JobState(enum.StrEnum):
    """Terminal outcome of an integration job as reported by its runner."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@frozen(kw_only=True)
class ExternalRun:
    """What a runner's ``start`` returns: enough to find the external job again after a crash.

    The engine stores it durably the moment ``start`` returns, and passes it back to ``wait``
    and ``cancel`` (also in a later process, when a run is resumed).

    :param id: the vendor's run id, or ``None`` where the vendor has none (Fivetran).
    :param started_at: when the job was triggered (used to recognise completion without an id).
    :param data: any other JSON-serialisable facts the runner needs to resume.
    """

    id: str | None
    started_at: datetime
    data: Mapping[str, Any] = field(factory=dict)


@frozen(kw_only=True)
class Intent:
    """What a runner recorded, durably, just before it sent a trigger
    (``await ctx.record_intent(facts)``); a resumed run hands it back as ``ctx.intent``.

    The runner protocol: *record intent, then trigger; recover adopts only what began after
    the intent*. No intent recorded means no trigger was sent, so ``recover`` returns
    ``None`` and the task is triggered (once).

    :param recorded_at: when it was recorded (the engine's clock, UTC).
    :param facts: what the vendor said just before the trigger, as JSON values (e.g.
        Fivetran's ``succeeded_at``/``failed_at``, the newest run id of a job): whatever
        lets ``recover`` prove that a vendor run began after the intent.
    """

    recorded_at: datetime
    facts: Mapping[str, Any] = field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"recorded_at": self.recorded_at.isoformat(), "facts": dict(self.facts)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Intent:
        """The intent stored as *raw* (by :meth:`to_json`)."""
        at = datetime.fromisoformat(str(raw["recorded_at"]))
        if at.tzinfo is None:

            at = at.replace(tzinfo=UTC)
        facts = raw.get("facts")
        return cls(recorded_at=at, facts=dict(facts) if isinstance(facts, Mapping) else {})


@frozen(kw_only=True)
class JobResult:
    """What a runner's ``wait`` returns once the external job has finished.

    :param state: the outcome.
    :param message: a human summary (error text on failure).
    :param metadata: JSON-serialisable vendor details to keep with the task run.
    :param assets: names of the data assets the job updated.
    :param retryable: on failure, whether a retry may help: ``None`` (unknown) retries as the
        task's retry policy says, ``False`` never retries (a configuration error).
    """

    state: JobState
    message: str = ""
    metadata: Mapping[str, Any] = field(factory=dict)
    assets: tuple[str, ...] = ()
    retryable: bool | None = None


@frozen(kw_only=True)
class WebhookRequest:
    """An incoming webhook, exactly as received.

    :param integration: the integration named in the URL (``/webhooks/{integration}``).
    :param connection: the connection named in the URL, when the per-connection path is used.
    :param headers: header names lower-cased.
    :param body: the raw body bytes; signatures are computed over these, before any parsing.
    """

    integration: str
    method: str
    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str] = field(factory=dict)
    connection: str | None = None


@frozen(kw_only=True)
class WebhookEvent:
    """A verified webhook turned into something the engine can act on.

    :param integration: which integration the event belongs to.
    :param kind: the vendor's event name, e.g. ``sync_end`` or ``job.run.completed``.
    :param key: what identifies the external job the event is about (a run id, or a
        connector id for vendors without run ids); waiting task runs match on it.
    :param event_id: a stable id for idempotency; a replayed event is ignored.
    :param state: the outcome, when the event says the job finished.
    :param payload: the parsed body.
    :param signed_at: when the vendor says it sent the delivery, if that time is covered by
        the signature (an aware datetime): the server refuses a delivery signed longer ago
        than its replay window, so an old delivery cannot be replayed once its id is
        forgotten. ``None`` when the vendor signs no timestamp.
    """

    integration: str
    kind: str
    key: str
    event_id: str
    state: JobState | None = None
    payload: Mapping[str, Any] = field(factory=dict)
    signed_at: datetime | None = None


@frozen(kw_only=True)
class RecordBatch:
    """One batch of rows handed to a record destination (a REST API, a table).

    :param index: the batch's position in its delivery (0, 1, 2, ...).
    :param key: stable for this batch across a crash and resume
        (``"{delivery.key}/batch-{index}"``): send it as an idempotency key, checkpoint it.
    :param columns: the column names, in order (what the data template chose and renamed).
    :param rows: the rows, one tuple of values per row, in ``columns`` order.
    """

    index: int
    key: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def records(self) -> list[dict[str, Any]]:
        """The rows as mappings of column name to value."""
        cols = self.columns
        return [dict(zip(cols, row, strict=True)) for row in self.rows]


@frozen(kw_only=True, eq=False)
class DeliveryFile:
    """One file handed to a file destination (a file drop, SFTP, object storage).

    Read its bytes with ``async for chunk in file.chunks`` before asking for the next file;
    a file is never held in memory whole.

    :param index: the file's position in its delivery.
    :param key: stable across a crash and resume (``"{delivery.key}/file-{index}"``).
    :param name: the file name the data template made (``orders_20260103_0001.csv.gz``).
    :param chunks: the file's bytes, in order.
    :param kind: ``data``, ``manifest`` or ``done`` (the marker a receiver waits for).
    :param stats: filled in once ``chunks`` is exhausted: ``rows``, ``bytes`` and
        ``sha256`` of the file.
    """

    index: int
    key: str
    name: str
    chunks: AsyncIterator[bytes]
    kind: str = "data"
    stats: dict[str, Any] = field(factory=dict)


@frozen(kw_only=True, eq=False)
class Delivery:
    """What a destination delivers: a stream of record batches or of files, never the whole
    data set in memory.

    A destination calls **one** of :meth:`batches` (records: REST APIs, tables) or
    :meth:`files` (formatted files: file drops, SFTP, object storage), once, and iterates it.

    :param destination: the destination's name (a stored destination, or its type).
    :param options: the destination's structured options.
    :param name: the orchestration's name, for logs and file names.
    :param key: stable for one task run across a crash and resume
        (``"{run_id}/{task_id}"``); batch and file keys derive from it.
    :param columns: the column names the data template produces, in order.
    :param secrets: the decrypted fields of the destination's credential (never logged).
    :param checkpoints: what the destination has already delivered for this key (see
        :class:`~orchestra_core.DeliveryCheckpoints`); skip those batches on a resume.
    :param source_batches: a callable returning the async iterator of :class:`RecordBatch`.
    :param source_files: a callable returning the async iterator of :class:`DeliveryFile`.
    :param log: writes a line to the run log.
    :param source_copy: see :meth:`copy`.
    :param copy_types: the PostgreSQL type of each column, with :meth:`copy`.
    """

    destination: str
    options: Any
    name: str
    key: str
    columns: tuple[str, ...]
    source_batches: Callable[[], AsyncIterator[RecordBatch]]
    source_files: Callable[[], AsyncIterator[DeliveryFile]]
    secrets: Mapping[str, str] = field(factory=dict, repr=False)
    checkpoints: Any = None
    log: Callable[..., None] = field(default=lambda message, **_: None, repr=False)
    source_copy: Callable[[], AsyncIterator[bytes]] | None = None
    copy_types: tuple[str, ...] = ()

    def batches(self) -> AsyncIterator[RecordBatch]:
        """The rows, as :class:`RecordBatch` objects, read from the source as you iterate."""
        return self.source_batches()

    def copy(self) -> AsyncIterator[bytes] | None:
        """The rows as PostgreSQL ``COPY`` text-format data, or ``None``.

        Offered when the source is PostgreSQL and the data template keeps every column as
        it is, so a PostgreSQL destination can bulk-load without building Python rows;
        :attr:`copy_types` then gives each column's PostgreSQL type. A destination that
        uses it calls neither :meth:`batches` nor :meth:`files`.
        """
        return self.source_copy() if self.source_copy is not None else None

    def files(self) -> AsyncIterator[DeliveryFile]:
        """The data formatted as files (the data template's format, compression, names and
        row limit per file; then the manifest or done file, if any)."""
        return self.source_files()


@frozen(kw_only=True)
class DeliveryReceipt:
    """What a destination reports after delivering.

    :param delivered: rows delivered (accepted by the receiver).
    :param location: where they went (a directory, a URL, a table).
    :param files: names of the files written, in order.
    :param bytes: bytes sent.
    :param rejected: rows the receiver refused (reported, not retried).
    :param metadata: other JSON-serialisable details (checksums, batch counts).
    """

    delivered: int
    location: str | None = None
    files: tuple[str, ...] = ()
    bytes: int = 0
    rejected: int = 0
    metadata: Mapping[str, Any] = field(factory=dict)


@frozen(kw_only=True)
class Notification:
    """An event worth telling people about (run succeeded, failed, runtime exceeded, ...).

    :param kind: e.g. ``run.succeeded``, ``run.failed``, ``run.runtime_exceeded``.
    :param pipeline: the pipeline's name.
    :param run_id: the pipeline run concerned, if any.
    :param message: a human summary.
    :param created_at: when it happened.
    :param data: extra JSON-serialisable details.
    """

    kind: str
    pipeline: str
    message: str
    created_at: datetime
    run_id: str | None = None
    data: Mapping[str, Any] = field(factory=dict)


@frozen(kw_only=True)
class Connection:
    """A resolved connection (secondary configuration) handed to a running task as
    ``ctx.connection``: what the task's ``secondary_configuration_id`` names.

    :param name: the connection's name.
    :param integration: the integration it is for (``fivetran``, ``dbt``, ``http``, ...).
    :param base_url: the API base URL, when it differs from the vendor's default (a
        simulator, a regional endpoint).
    :param auth: the auth scheme, e.g. ``basic``, ``bearer``, ``header``, ``oauth``.
    :param options: non-secret settings (account id, tenant, header names, ...).
    :param secrets: the decrypted fields of the connection's credential (e.g. ``username``
        and ``password``, ``api_key`` and ``api_secret``, ``token``). Never logged: the core
        masks every value in it wherever text leaves the process.
    :param credential: the name of the credential the secrets came from, if any.
    """

    name: str
    integration: str
    base_url: str | None = None
    auth: str | None = None
    options: Mapping[str, Any] = field(factory=dict)
    secrets: Mapping[str, str] = field(factory=dict, repr=False)
    credential: str | None = None

    def secret(self, key: str, default: str | None = None) -> str | None:
        """The decrypted secret field *key* (``None`` or *default* when absent)."""
        return self.secrets.get(key, default)
