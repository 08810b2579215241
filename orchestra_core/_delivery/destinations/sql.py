"""``sql``: rows into a table of a SQLAlchemy database (SQLite, PostgreSQL, DuckDB).

The whole delivery is one transaction, so it is all there or not at all: ``create`` (a new
table), ``append``, ``replace`` (rows go to a staging table that is swapped in before the
commit) and ``upsert`` (through a staging table, ``INSERT ... ON CONFLICT`` on the key
columns). The transaction also records the delivery's key in ``_orchestra_deliveries``, so
a delivery resumed after its commit is not applied twice. On PostgreSQL rows are loaded with
``COPY`` (psycopg 3).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Sequence
from typing import Any

import anyio
import sqlalchemy as sa

from ..._errors import DeliveryFailed, TaskFailed
from ..._models import Delivery, DeliveryReceipt
from ..sources import engine_for
from .sql_options import SqlOptions

__all__ = ("SqlDestination", "SqlOptions")

MODES = ("create", "append", "replace", "upsert")
MARKERS = "_orchestra_deliveries"


def _type_of(value: Any) -> Any:
    if isinstance(value, bool):
        return sa.Boolean()
    if isinstance(value, int):
        return sa.BigInteger()
    if isinstance(value, float):
        return sa.Float()
    if isinstance(value, decimal.Decimal):
        return sa.Numeric()
    if isinstance(value, dt.datetime):
        return sa.DateTime(timezone=value.tzinfo is not None)
    if isinstance(value, dt.date):
        return sa.Date()
    if isinstance(value, bytes):
        return sa.LargeBinary()
    return sa.Text()


class SqlDestination:
    """Delivers record batches into :attr:`SqlOptions.table`."""

    def __init__(self, options: SqlOptions, context: Any = None) -> None:
        if options.mode not in MODES:
            raise DeliveryFailed(f"sql destination: mode must be one of {', '.join(MODES)}, "
                                 f"got {options.mode!r}")
        if options.mode == "upsert" and not options.key_columns:
            raise DeliveryFailed("sql destination: mode upsert needs key_columns")
        self.options = options
        self.name = getattr(context, "name", None) or "sql"
        self.url = options.url
        self.engine: sa.Engine | None = None

    def _engine(self) -> sa.Engine:
        if self.engine is None:
            url = sa.engine.make_url(self.url)
            if url.get_backend_name() == "sqlite" and url.database not in (None, "",
                                                                            ":memory:"):
                from pathlib import Path

                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            try:
                self.engine = engine_for(self.url)
            except TaskFailed as exc:
                raise DeliveryFailed(f"destination {self.name!r}: {exc}") from exc
        return self.engine

    def _fail(self, exc: BaseException, action: str) -> DeliveryFailed:
        text = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        lowered = text.lower()
        if "authentication" in lowered or ("role" in lowered and "does not exist" in lowered):
            why, retry = "authentication refused", False
        elif "permission denied" in lowered or "readonly" in lowered or \
                "read-only" in lowered:
            why, retry = "permission denied", False
        elif "could not translate host" in lowered or "connection refused" in lowered or \
                "unable to open database" in lowered or "timeout" in lowered:
            why, retry = "host unreachable", True
        elif "disk" in lowered and "full" in lowered:
            why, retry = "the disk is full", True
        else:
            why, retry = "failed", False
        return DeliveryFailed(f"destination {self.name!r}: {why} while {action}: {text}",
                              retryable=retry)

    async def check(self) -> None:
        """The database answers and a table can be created and dropped in a transaction
        that is rolled back."""
        await anyio.to_thread.run_sync(self._check)

    def _check(self) -> None:
        engine = self._engine()
        try:
            with engine.connect() as conn:
                trans = conn.begin()
                probe = sa.Table("_orchestra_check", sa.MetaData(), sa.Column("x", sa.Integer))
                probe.create(conn)
                trans.rollback()
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc, "checking") from exc

    async def deliver(self, delivery: Delivery) -> DeliveryReceipt:
        """Load every batch in one transaction (see the module documentation)."""
        engine = self._engine()
        table_name = self.options.table.replace("{table}", delivery.name)
        load = _Load(engine, table_name, self.options, delivery.key)
        try:
            done = await anyio.to_thread.run_sync(load.begin)
            if done is not None:
                delivery.log(f"{self.name}: delivery {delivery.key} was committed before "
                             "the resume; not loading it again")
                await anyio.to_thread.run_sync(load.close)
                return DeliveryReceipt(delivered=done, location=table_name,
                                       metadata={"resumed": True})
            bulk = delivery.copy() if engine.dialect.name == "postgresql" else None
            if bulk is not None:  # PostgreSQL to PostgreSQL: COPY data straight through
                await anyio.to_thread.run_sync(load.start_copy, delivery.columns,
                                               delivery.copy_types)
                async for data in bulk:
                    await anyio.to_thread.run_sync(load.copy_data, data)
                await anyio.to_thread.run_sync(load.end_copy)
            else:
                async for batch in delivery.batches():
                    await anyio.to_thread.run_sync(load.rows, batch.columns, batch.rows)
            if load.columns is None:
                await anyio.to_thread.run_sync(load.rows, delivery.columns, ())
            rows = await anyio.to_thread.run_sync(load.commit)
        except sa.exc.SQLAlchemyError as exc:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(load.close)
            raise self._fail(exc, f"loading {table_name}") from exc
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(load.close)
            raise
        delivery.log(f"{self.name}: {self.options.mode} {rows} rows into {table_name}")
        return DeliveryReceipt(delivered=rows, location=f"{table_name}",
                               metadata={"mode": self.options.mode})


class _Load:
    """One transaction loading one delivery (run in worker threads, one step at a time)."""

    def __init__(self, engine: sa.Engine, table: str, options: SqlOptions, key: str) -> None:
        self.engine = engine
        schema, _, name = table.rpartition(".")
        self.schema = schema or None
        self.name = name
        self.options = options
        self.key = key
        self.conn: sa.Connection | None = None
        self.trans: Any = None
        self.columns: tuple[str, ...] | None = None
        self.target: sa.Table | None = None
        self.load_into: sa.Table | None = None
        self.count = 0
        self.markers = sa.Table(MARKERS, sa.MetaData(),
                                sa.Column("delivery", sa.String(300), primary_key=True),
                                sa.Column("rows", sa.BigInteger, nullable=False),
                                sa.Column("delivered_at", sa.DateTime(timezone=True)),
                                schema=self.schema)

    def begin(self) -> int | None:
        self.conn = self.engine.connect()
        self.trans = self.conn.begin()
        self.markers.create(self.conn, checkfirst=True)
        found = self.conn.execute(sa.select(self.markers.c.rows).where(
            self.markers.c.delivery == self.key)).scalar()
        return None if found is None else int(found)

    def start_copy(self, columns: Sequence[str], types: Sequence[str]) -> None:
        """Prepare the tables (typed as the source's columns) and open a ``COPY``."""
        self._tables(columns, [None] * len(columns), pg_types=types)
        assert self.conn is not None and self.load_into is not None
        raw = self.conn.connection.dbapi_connection
        prep = self.conn.dialect.identifier_preparer
        cols = ", ".join(prep.quote(c) for c in columns)
        self._cursor = raw.cursor()
        self._copy_cm = self._cursor.copy(
            f"COPY {prep.format_table(self.load_into)} ({cols}) FROM STDIN")
        self._copy = self._copy_cm.__enter__()

    def copy_data(self, data: bytes) -> None:
        """Send a chunk of ``COPY`` text data."""
        self._copy.write(data)

    def end_copy(self) -> None:
        """Finish the ``COPY``; count its rows."""
        self._copy_cm.__exit__(None, None, None)
        self.count += max(self._cursor.rowcount, 0)
        self._cursor.close()

    def _tables(self, columns: Sequence[str], first: Sequence[Any],
                pg_types: Sequence[str] | None = None) -> None:
        assert self.conn is not None
        self.columns = tuple(columns)
        inspector = sa.inspect(self.conn)
        exists = inspector.has_table(self.name, schema=self.schema)
        mode = self.options.mode
        if mode == "create" and exists:
            raise DeliveryFailed(f"table {self.name} exists already (mode create); use "
                                 "append, replace or upsert")
        keys = set(self.options.key_columns)
        missing = keys - set(columns)
        if missing:
            raise DeliveryFailed(f"key_columns {', '.join(sorted(missing))} are not among the "
                                 f"delivered columns {', '.join(columns)}")

        def table(name: str, schema: str | None) -> sa.Table:
            if pg_types is not None:  # the source's own PostgreSQL types
                types: list[Any] = [_PgType(t) for t in pg_types]
            else:
                types = [_type_of(v) for v in first]
            return sa.Table(name, sa.MetaData(), *[
                sa.Column(c, t, primary_key=c in keys)
                for c, t in zip(columns, types, strict=True)], schema=schema)

        if exists and mode in ("append", "upsert"):
            self.target = sa.Table(self.name, sa.MetaData(), autoload_with=self.conn,
                                   schema=self.schema)
        else:
            self.target = table(self.name, self.schema)
        if mode in ("create", "append") or (mode == "upsert" and not exists):
            if not exists:
                self.target.create(self.conn)
            self.load_into = self.target
        else:  # replace, upsert into an existing table: through a staging table
            staging = table(f"{self.name}__orchestra_staging", self.schema)
            staging.drop(self.conn, checkfirst=True)
            staging.create(self.conn)
            self.load_into = staging
        self.exists = exists

    def rows(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if self.columns is None:
            first = _first_values(columns, rows)
            self._tables(columns, first)
        if not rows:
            return
        assert self.conn is not None and self.load_into is not None
        if self.engine.dialect.name == "postgresql":
            self._copy(rows)
        else:
            names = self.columns or ()
            self.conn.execute(self.load_into.insert(),
                              [dict(zip(names, r, strict=True)) for r in rows])
        self.count += len(rows)

    def _copy(self, rows: Sequence[Sequence[Any]]) -> None:
        assert self.conn is not None and self.load_into is not None
        raw = self.conn.connection.dbapi_connection
        prep = self.conn.dialect.identifier_preparer
        cols = ", ".join(prep.quote(c) for c in self.columns or ())
        target = prep.format_table(self.load_into)
        with raw.cursor() as cur, cur.copy(f"COPY {target} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def commit(self) -> int:
        assert self.conn is not None and self.target is not None
        mode = self.options.mode
        if self.load_into is not self.target:
            assert self.load_into is not None
            if mode == "replace":
                self.target.drop(self.conn, checkfirst=True)
                prep = self.conn.dialect.identifier_preparer
                self.conn.execute(sa.text(
                    f"ALTER TABLE {prep.format_table(self.load_into)} RENAME TO "
                    f"{prep.quote(self.name)}"))
            else:
                self._upsert()
                self.load_into.drop(self.conn)
        self.conn.execute(self.markers.insert().values(
            delivery=self.key, rows=self.count, delivered_at=dt.datetime.now(dt.UTC)))
        self.trans.commit()
        self.close()
        return self.count

    def _upsert(self) -> None:
        assert self.conn is not None and self.target is not None and self.load_into is not None
        prep = self.conn.dialect.identifier_preparer
        cols = list(self.columns or ())
        keys = list(self.options.key_columns)
        quoted = ", ".join(prep.quote(c) for c in cols)
        updates = ", ".join(f"{prep.quote(c)} = excluded.{prep.quote(c)}"
                            for c in cols if c not in keys)
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        index = prep.quote(f"ux_{self.name}_orchestra_key"[:60])
        self.conn.execute(sa.text(  # ON CONFLICT needs a unique index on the key columns
            f"CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {prep.format_table(self.target)} "
            f"({', '.join(prep.quote(k) for k in keys)})"))
        self.conn.execute(sa.text(
            f"INSERT INTO {prep.format_table(self.target)} ({quoted}) SELECT {quoted} FROM "
            f"{prep.format_table(self.load_into)} WHERE true ON CONFLICT "
            f"({', '.join(prep.quote(k) for k in keys)}) {action}"))

    def close(self) -> None:
        if self.conn is not None:
            try:
                if self.trans is not None and self.trans.is_active:
                    self.trans.rollback()
            finally:
                self.conn.close()
                self.conn = None


class _PgType(sa.types.UserDefinedType):  # type: ignore[type-arg]
    """A column type given by its PostgreSQL name (``numeric(12,2)``)."""

    cache_ok = True

    def __init__(self, name: str) -> None:
        self.name = name

    def get_col_spec(self, **_: Any) -> str:
        return self.name


def _first_values(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Any]:
    """For each column, its first non-NULL value in *rows* (``None`` when all are NULL)."""
    first: list[Any] = [None] * len(columns)
    for row in rows[:1000]:
        for i, value in enumerate(row):
            if first[i] is None and value is not None:
                first[i] = value
    return first
