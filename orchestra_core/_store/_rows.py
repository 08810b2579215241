"""A record's values as a DBAPI row, converted by the bind processors of its table's columns
(the store's plain-SQL write paths, SQLite and PostgreSQL, share it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ("record_row",)


def record_row(convert: Mapping[str, Callable[[Any], Any] | None], record: Any) -> list[Any]:
    """The values of the attrs *record*'s fields, in their order, each through its column's
    processor in *convert* (``None``: as it is)."""
    out = []
    for attr in record.__attrs_attrs__:
        value = getattr(record, attr.name)
        fn = convert[attr.name]
        out.append(fn(value) if fn is not None else value)
    return out
