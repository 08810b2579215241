"""Sources: a SQL query, or a database export (tables, each with optional columns and a
filter), read in batches through a server-side cursor so memory stays flat.

Run values and constants reach the query only as bound parameters (``:since``), never by
pasting text into it.
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import anyio
from attrs import frozen

from .._errors import TaskFailed
from .source_spec import ExportTable, SourceSpec
from .values import RunValues

if TYPE_CHECKING:  # imported where used: validating a pipeline does not load SQLAlchemy
    import sqlalchemy as sa

__all__ = ("ExportTable", "SourcePart", "SourceSpec", "copy_part", "describe", "engine_for",
           "read_part")

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


@frozen
class SourcePart:
    """One result set of a source: the query, or one exported table."""

    name: str
    statement: str
    parameters: Mapping[str, Any]


def parts(spec: SourceSpec, run: RunValues, default_name: str) -> list[SourcePart]:
    """The result sets *spec* reads, with their bound parameters."""
    bound = run.bind(spec.parameters)
    if spec.query is not None:
        return [SourcePart(default_name, spec.query, bound)]
    out = []
    for table in spec.tables:
        for ident in (table.name, *table.columns):
            if not _IDENT.match(ident):
                raise TaskFailed(f"export table {table.name!r}: {ident!r} is not a plain SQL "
                                 "name", retryable=False)
        cols = ", ".join(table.columns) if table.columns else "*"
        sql = f"SELECT {cols} FROM {table.name}"  # names checked above; values are bound
        if table.filter:
            sql += f" WHERE {table.filter}"
        out.append(SourcePart(table.name.rsplit(".", 1)[-1], sql, bound))
    return out


def engine_for(url: str) -> sa.Engine:
    """An engine for *url* usable from worker threads (SQLite's same-thread check off)."""
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise TaskFailed(f"not a database URL: {exc}", retryable=False) from exc
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False}
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        return sa.create_engine(parsed, **kwargs)
    except Exception as exc:  # a missing driver
        raise TaskFailed(f"cannot use database {parsed.render_as_string()}: {exc}",
                         retryable=False) from exc


def _bound(statement: str, values: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    import sqlalchemy as sa

    clause = sa.text(statement)
    names = set(clause._bindparams)
    missing = sorted(names - set(values))
    if missing:
        raise TaskFailed(f"the query uses :{', :'.join(missing)}, which the source's "
                         "parameters do not give", retryable=False)
    return clause, {k: v for k, v in values.items() if k in names}


def _rows(engine: sa.Engine, part: SourcePart, batch_size: int
          ) -> Iterator[tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
    """The batches of *part*, read with the driver's own cursor (plain tuples, no row
    objects): a server-side (named) cursor on PostgreSQL, ``fetchmany`` elsewhere."""
    import sqlalchemy as sa

    clause, values = _bound(part.statement, part.parameters)
    compiled = clause.compile(dialect=engine.dialect)
    params: Any = compiled.construct_params(values)
    if compiled.positiontup:
        params = tuple(params[name] for name in compiled.positiontup)
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        if engine.dialect.name == "postgresql":
            cursor = raw.cursor(name=f"orchestra_{uuid.uuid4().hex[:12]}")
            cursor.itersize = batch_size
        else:
            cursor = raw.cursor()
        try:
            try:
                cursor.execute(compiled.string, params)
            except Exception as exc:
                raise sa.exc.DBAPIError.instance(compiled.string, params, exc,
                                                 engine.dialect.loaded_dbapi.Error) from exc
            columns = tuple(d[0] for d in cursor.description or ())
            first = True
            while True:
                rows = cursor.fetchmany(batch_size)
                if not rows and not first:
                    break
                first = False
                yield columns, rows if isinstance(rows, list) else list(rows)
                if not rows:
                    break
        finally:
            cursor.close()
            raw.rollback()


async def read_part(engine: sa.Engine, part: SourcePart, batch_size: int
                    ) -> AsyncIterator[tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
    """``(columns, rows)`` batches of *part*; the first batch may be empty (a result without
    rows still has its columns). A reader thread fetches the next batch while the caller
    works on this one; at most two batches wait, so memory stays flat."""
    import sqlalchemy as sa

    reader = _Reader(_rows(engine, part, batch_size))
    reader.start()
    try:
        while True:
            kind, item = await anyio.to_thread.run_sync(reader.get)
            if kind == "end":
                return
            if kind == "error":
                exc = item
                if isinstance(exc, sa.exc.SQLAlchemyError):
                    raise TaskFailed(f"source {part.name!r}: {_short(exc)}",
                                     retryable=isinstance(exc, sa.exc.OperationalError)
                                     ) from exc
                raise exc
            yield item
    finally:
        reader.stop()
        await anyio.to_thread.run_sync(reader.join)


class _Reader(threading.Thread):
    """Runs the blocking row generator in its own thread, two batches ahead."""

    def __init__(self, rows: Iterator[Any]) -> None:
        super().__init__(daemon=True, name="orchestra-source")
        self.rows = rows
        self.queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=2)
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            for item in self.rows:
                if not self._put(("rows", item)):
                    return
            self._put(("end", None))
        except BaseException as exc:
            self._put(("error", exc))
        finally:
            self.rows.close()  # type: ignore[attr-defined]

    def _put(self, entry: tuple[str, Any]) -> bool:
        while not self.stopped.is_set():
            try:
                self.queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self) -> tuple[str, Any]:
        """The next entry: ``("rows", batch)``, ``("end", None)`` or ``("error", exc)``."""
        return self.queue.get()

    def stop(self) -> None:
        """Make the thread finish (it closes the cursor)."""
        self.stopped.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self.queue.get_nowait()


def _compiled(engine: sa.Engine, part: SourcePart) -> tuple[str, Any]:
    clause, values = _bound(part.statement, part.parameters)
    compiled = clause.compile(dialect=engine.dialect)
    return compiled.string, compiled.construct_params(values)


def describe(engine: sa.Engine, part: SourcePart) -> list[tuple[str, str]]:
    """``(name, type)`` of each column of *part* on PostgreSQL (the query run with
    ``LIMIT 0``)."""
    statement, params = _compiled(engine, part)
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cur:
            cur.execute(f"SELECT * FROM ({statement}) AS q LIMIT 0", params)
            out = [(c.name, c.type_display) for c in cur.description or ()]
        raw.rollback()
    return out


def _copy_chunks(engine: sa.Engine, part: SourcePart) -> Iterator[bytes]:
    statement, params = _compiled(engine, part)
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        try:
            with raw.cursor() as cur, \
                    cur.copy(f"COPY ({statement}) TO STDOUT", params) as copy:
                buffer = bytearray()
                for data in copy:  # one server message per row: gather about 1 MB
                    buffer += data
                    if len(buffer) >= 1 << 20:
                        yield bytes(buffer)
                        buffer.clear()
                if buffer:
                    yield bytes(buffer)
        finally:
            raw.rollback()


async def copy_part(engine: sa.Engine, part: SourcePart) -> AsyncIterator[bytes]:
    """*part* as PostgreSQL ``COPY`` text data, read by a thread one chunk ahead."""
    reader = _Reader(_copy_chunks(engine, part))
    reader.start()
    try:
        while True:
            kind, item = await anyio.to_thread.run_sync(reader.get)
            if kind == "end":
                return
            if kind == "error":
                raise TaskFailed(f"source {part.name!r}: {_short(item)}") from item
            yield item
    finally:
        reader.stop()
        await anyio.to_thread.run_sync(reader.join)


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0] if text else type(exc).__name__
