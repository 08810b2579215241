"""The runner of ``orchestration_run``: read the source, shape it with the data template,
hand it to the destination as a stream, record rows, bytes, files and checksums in the task
run's metadata, and tell the notification pane how it went.

The delivery happens in ``wait``, so a run resumed after a crash calls ``wait`` again with
the same delivery key (``"{run_id}/{task_id}"``): file names are the same (run values come
from the run's creation time), acknowledged HTTP batches are skipped, a committed SQL
delivery is not applied twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any
from urllib.parse import quote

import anyio
from attrs import frozen

from .._config import structure
from .._errors import ConfigError, DeliveryFailed, OrchestraError, TaskFailed
from .._models import Delivery, DeliveryReceipt, ExternalRun, JobResult, JobState, Notification
from .._secrets import Secrets, register_secret_values
from .catalog import Checkpoints, DestinationInfo, Destinations, Templates, check_destination
from .model import InlineDestination, OrchestrationParameters
from .sources import copy_part, describe, engine_for, parts, read_part
from .streams import RowStream, batches, files
from .templates import TemplateSpec, normalize_template
from .values import RunValues, substitute_env

__all__ = ("DestinationContext", "OrchestrationRunner", "resolve_destination")


@frozen(kw_only=True)
class DestinationContext:
    """What a destination factory that takes ``context`` receives.

    :param name: the destination's name (stored name, or its type when inline).
    :param host: the :class:`~orchestra_core.Orchestra`.
    :param secrets: the decrypted fields of its credential.
    :param task: the task's context while delivering (``None`` for ``destinations test``).
    """

    name: str
    host: Any
    secrets: Mapping[str, str] = {}
    task: Any = None


def _load_info(store: Any, raw: Any, host: Any,
               declared: Mapping[str, Any] | None = None) -> DestinationInfo:
    name = None
    if isinstance(raw, str):
        if not declared or raw not in declared:
            return Destinations(store, host).get(raw)
        name, raw = raw, declared[raw]
    inline, problems = structure(raw, InlineDestination,
                                 f"destinations.{name}" if name else "parameters.destination",
                                 converter=host.converter)
    if problems:
        raise ConfigError(problems)
    assert inline is not None
    return DestinationInfo(name=name or inline.type, type=inline.type, options=inline.options,
                           credential=inline.credential, concurrency=inline.concurrency)


def resolve_destination(host: Any, store: Any, raw: Any, *, env: Mapping[str, str] | None,
                        task: Any = None, declared: Mapping[str, Any] | None = None
                        ) -> tuple[DestinationInfo, Any, dict[str, str]]:
    """``(info, destination, secrets)``: the destination *raw* (a name declared in the
    pipeline file's ``destinations`` or stored, or an inline mapping), its options checked by
    its type, its credential decrypted (and registered with the host's redactor)."""
    info = _load_info(store, raw, host, declared)
    options = substitute_env(dict(info.options), env, f"destination {info.name!r} options")
    checked = check_destination(host, info.type, options, f"destination {info.name}")
    secrets: dict[str, str] = {}
    if info.credential:
        vault = Secrets(store, host=host)
        row = vault._snapshot()["credentials"].get(info.credential)
        if row is None:
            raise DeliveryFailed(f"destination {info.name!r} uses credential "
                                 f"{info.credential!r}, which does not exist")
        secrets = vault._decrypt(row, f"credential {info.credential!r}")
        if row["username"]:
            secrets["username"] = row["username"]
        register_secret_values(host.redactor, secrets.values())
    dtype = host.destinations.find(info.type)
    context = DestinationContext(name=info.name, host=host, secrets=secrets, task=task)
    import inspect

    try:
        takes_context = "context" in inspect.signature(dtype.factory).parameters
    except (TypeError, ValueError):
        takes_context = False
    destination = dtype.factory(checked, context=context) if takes_context \
        else dtype.factory(checked)
    return info, destination, secrets


class OrchestrationRunner:
    """Runs ``orchestration_run`` tasks; one per host, which keeps the per-destination
    concurrency limiters."""

    def __init__(self, host: Any) -> None:
        self.host = host
        self.limiters: dict[str, anyio.CapacityLimiter] = {}

    async def start(self, ctx: Any) -> ExternalRun:
        """Nothing to trigger: the delivery happens in ``wait``."""
        return ExternalRun(id=None, started_at=ctx.now(), data={})

    async def cancel(self, ctx: Any, run: ExternalRun) -> None:
        """Cancelling ``wait`` stops the delivery; temporary files and transactions are
        discarded by the destination."""

    async def wait(self, ctx: Any, run: ExternalRun) -> JobResult:
        """Deliver; report rows, bytes, files, location and checksums."""
        params: OrchestrationParameters = ctx.parameters
        name = params.name or ctx.task_id
        store = ctx.store
        try:
            result = await self._deliver(ctx, params, name, store)
        except (DeliveryFailed, TaskFailed, ConfigError) as exc:
            message = str(exc) if not isinstance(exc, ConfigError) else "; ".join(
                p.format() for p in exc.problems)
            await self._notify(store, ctx, "delivery.failed",
                               f"orchestration {name!r} failed: {message}", {"error": message})
            return JobResult(state=JobState.FAILED, message=message,
                             retryable=getattr(exc, "retryable", False),
                             metadata=getattr(exc, "metadata", {}) or {})
        except OrchestraError as exc:
            await self._notify(store, ctx, "delivery.failed",
                               f"orchestration {name!r} failed: {exc}", {"error": str(exc)})
            return JobResult(state=JobState.FAILED, message=str(exc), retryable=False)
        await self._notify(store, ctx, "delivery.succeeded", result.message,
                           dict(result.metadata))
        return result

    async def _deliver(self, ctx: Any, params: OrchestrationParameters, name: str,
                       store: Any) -> JobResult:
        execution = getattr(ctx, "execution", None)
        env = getattr(getattr(execution, "engine", None), "env", None)
        pipeline = getattr(execution, "pipeline", None)
        template = self._template(store, params.template,
                                  getattr(pipeline, "data_templates", None))
        info, destination, secrets = await anyio.to_thread.run_sync(
            lambda: resolve_destination(self.host, store, params.destination, env=env,
                                        task=ctx,
                                        declared=getattr(pipeline, "destinations", None)))
        source = params.source
        url = substitute_env(source.url, env, "source url") if source.url else \
            _connection_url(ctx.connection)
        row = await anyio.to_thread.run_sync(store.get_run, ctx.run_id)
        created = row["created_at"]
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        run = RunValues(id=ctx.run_id, scheduled_at=created)
        engine = engine_for(url)
        limiter = self.limiters.setdefault(info.name, anyio.CapacityLimiter(info.concurrency))
        receipts: list[DeliveryReceipt] = []
        try:
            async with limiter:
                todo = parts(source, run, name)
                for part in todo:
                    key = f"{ctx.run_id}/{ctx.task_id}" + (f"/{part.name}" if len(todo) > 1
                                                           else "")
                    stream = RowStream(read_part(engine, part, source.batch_size), template)
                    bulk: dict[str, Any] = {}
                    columns = tuple(c.rename or c.name for c in template.columns)
                    if engine.dialect.name == "postgresql" and not template.columns:
                        types = await anyio.to_thread.run_sync(describe, engine, part)
                        columns = tuple(n for n, _ in types)
                        bulk = {"source_copy": lambda p=part: copy_part(engine, p),
                                "copy_types": tuple(t for _, t in types)}
                    delivery = Delivery(
                        destination=info.name, options=None, name=part.name, key=key,
                        columns=columns,
                        source_batches=lambda s=stream, k=key: batches(s, k),
                        source_files=lambda s=stream, k=key, n=part.name: files(
                            s, k, n, run, ctx.log),
                        secrets=secrets, checkpoints=Checkpoints(store, key),
                        log=ctx.log, **bulk)
                    ctx.log(f"delivering {part.name!r} to destination {info.name!r} "
                            f"({info.type})")
                    receipts.append(await destination.deliver(delivery))
        finally:
            await anyio.to_thread.run_sync(engine.dispose)
        rows = sum(r.delivered for r in receipts)
        size = sum(r.bytes for r in receipts)
        names = [f for r in receipts for f in r.files]
        rejected = sum(r.rejected for r in receipts)
        location = receipts[0].location if receipts else None
        meta: dict[str, Any] = {"destination": info.name, "type": info.type, "rows": rows,
                                "bytes": size, "files": names, "location": location,
                                "rejected": rejected,
                                "parts": [dict(r.metadata) for r in receipts]}
        message = (f"orchestration {name!r} delivered {rows} rows"
                   + (f" in {len(names)} file(s)" if names else "")
                   + f", {size} bytes, to {info.name!r} ({location})"
                   + (f"; {rejected} rejected" if rejected else ""))
        ctx.log(message)
        return JobResult(state=JobState.SUCCEEDED, message=message, metadata=meta)

    def _template(self, store: Any, raw: Any,
                  declared: Mapping[str, Any] | None = None) -> TemplateSpec:
        if isinstance(raw, str):
            raw = declared[raw] if declared and raw in declared else Templates(store).get(raw)
        obj, problems = structure(normalize_template(dict(raw or {})), TemplateSpec,
                                  "parameters.template", converter=self.host.converter)
        if problems:
            raise ConfigError(problems)
        assert obj is not None
        bad = obj.problems()
        if bad:
            raise TaskFailed("; ".join(f"data template {f}: {m}" for f, m in bad),
                             retryable=False)
        return obj

    async def _notify(self, store: Any, ctx: Any, kind: str, message: str,
                      data: dict[str, Any]) -> None:
        from .._notifications import NotificationLog

        note = Notification(kind=kind, pipeline=ctx.pipeline, message=message,
                            created_at=ctx.now(), run_id=ctx.run_id,
                            data={"task_id": ctx.task_id, **data})
        log = NotificationLog(store, redactor=self.host.redactor)
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(log.add, note)


def _connection_url(connection: Any) -> str:
    """The database URL of the task's connection (option ``url``, with the credential's
    username and password put in)."""
    if connection is None or not connection.options.get("url"):
        raise TaskFailed("the source names no database: give source.url, or a connection "
                         "(an orchestration connection with the option url)", retryable=False)
    url = str(connection.options["url"])
    user, password = connection.secrets.get("username"), connection.secrets.get("password")
    if password and "://" in url and "@" not in url.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = url.split("://", 1)
        auth = quote(user or "", safe="") + ":" + quote(password, safe="")
        url = f"{scheme}://{auth}@{rest}"
    return url
