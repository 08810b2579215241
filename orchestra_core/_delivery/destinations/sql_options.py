"""Options of the ``sql`` destination, apart from the destination itself so that validating
a pipeline does not import SQLAlchemy."""

from __future__ import annotations

from attrs import frozen

from ..._config import parameter

__all__ = ("SqlOptions",)


@frozen(kw_only=True)
class SqlOptions:
    """Options of a ``sql`` destination."""

    url: str = parameter(help="SQLAlchemy URL of the database, e.g. postgresql://h/db")
    table: str = parameter(help="the table (schema.table allowed); {table} is the source name")
    mode: str = parameter(default="append", help="create, append, replace or upsert")
    key_columns: tuple[str, ...] = parameter(default=(), aliases=("keys",),
                                             help="the columns upsert matches rows on")
