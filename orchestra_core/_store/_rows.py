"""A record's values as a DBAPI row, converted by the bind processors of its table's columns
(the store's plain-SQL write paths, SQLite and PostgreSQL, share it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ("fields_row", "record_row")


def record_row(convert: Mapping[str, Callable[[Any], Any] | None], record: Any) -> list[Any]:
    """The values of the attrs *record*'s fields, in their order, each through its column's
    processor in *convert* (``None``: as it is)."""
    out = []
    for attr in record.__attrs_attrs__:
        value = getattr(record, attr.name)
        fn = convert[attr.name]
        out.append(fn(value) if fn is not None else value)
    return out


def fields_row(convert: Mapping[str, Callable[[Any], Any] | None], fields: Mapping[str, Any],
               keys: tuple[str, ...]) -> list[Any]:
    """The values of *fields* under *keys*, in that order, each through its column's
    processor in *convert* (the columns checked before: every key has an entry)."""
    out = []
    for key in keys:
        value = fields[key]
        fn = convert[key]
        out.append(fn(value) if fn is not None else value)
    return out
