"""The columns of the SQLite store and how their values go in and come out, without
SQLAlchemy: read from ``sqlite_schema.sql`` (the DDL of ``schema.py``, checked by a test),
converted as SQLAlchemy's SQLite dialect converts them, so that either path reads what the
other wrote.

- ``DATETIME``: written as ``YYYY-MM-DD HH:MM:SS.ffffff`` (the time zone is not written:
  the store's timestamps are UTC), read back as a naive datetime;
- ``JSON``: written with the store's serializer (``None`` is JSON ``null``), read back
  parsed;
- ``BOOLEAN``: written as 1 or 0, read back as ``bool``;
- every other column as the driver gives it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from ._errors import StoreError
from ._json import dumps
from ._schema_file import split_statements

__all__ = ("Converter", "check_columns", "column_kinds", "datetime_text", "reader", "writers")

#: A value's conversion on its way in or out (``None``: as it is).
Converter = Callable[[Any], Any] | None

_TABLE = re.compile(r'CREATE TABLE "?(\w+)"? \((.*)\)\s*$', re.S)
_COLUMN = re.compile(r'^\s*"?(\w+)"? ([A-Z]+)')
_NOT_COLUMNS = ("PRIMARY", "FOREIGN", "UNIQUE", "CONSTRAINT", "CHECK")


@functools.cache
def column_kinds() -> dict[str, dict[str, str]]:
    """``{table: {column: declared type}}`` of every table of ``sqlite_schema.sql``."""
    tables: dict[str, dict[str, str]] = {}
    for statement in split_statements():
        match = _TABLE.match(statement.strip())
        if match is None:
            continue
        columns = tables[match.group(1)] = {}
        for line in match.group(2).splitlines():
            col = _COLUMN.match(line)
            if col is not None and col.group(1) not in _NOT_COLUMNS:
                columns[col.group(1)] = col.group(2)
    return tables


def datetime_text(value: Any) -> Any:
    """A timestamp as a ``DATETIME`` column holds it (``None`` stays ``None``)."""
    if value is None:
        return None
    if type(value) is datetime:  # the C isoformat, without the time zone
        if value.microsecond:
            return value.isoformat(" ")[:26]
        return value.isoformat(" ")[:19] + ".000000"
    if isinstance(value, datetime):
        return (f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:"
                f"{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}")
    if isinstance(value, date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d} 00:00:00.000000"
    raise TypeError(f"a DATETIME column takes a datetime, not {type(value).__name__}")


def _json_text(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is dict and not value:
        return "{}"
    return dumps(value)


def _bool_int(value: Any) -> Any:
    if value is None:
        return None
    if value not in (True, False):
        raise TypeError(f"a BOOLEAN column takes True or False, not {value!r}")
    return 1 if value else 0


def _datetime_value(text: Any) -> Any:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is None else value.replace(tzinfo=None)


def _json_value(text: Any) -> Any:
    return None if text is None else json.loads(text)


def _bool_value(value: Any) -> Any:
    return None if value is None else bool(value)


_IN: dict[str, Converter] = {"DATETIME": datetime_text, "JSON": _json_text,
                             "BOOLEAN": _bool_int}
_OUT: dict[str, Converter] = {"DATETIME": _datetime_value, "JSON": _json_value,
                              "BOOLEAN": _bool_value}


@functools.cache
def writers(table: str) -> Mapping[str, Converter]:
    """``{column: how its value is written}`` of *table*."""
    return {name: _IN.get(kind) for name, kind in column_kinds()[table].items()}


@functools.cache
def reader(table: str) -> Mapping[str, Converter]:
    """``{column: how its value is read}`` of *table*."""
    return {name: _OUT.get(kind) for name, kind in column_kinds()[table].items()}


def check_columns(table: str, keys: tuple[str, ...]) -> None:
    """Refuse column names *table* does not have (before they reach a statement)."""
    columns = column_kinds()[table]
    unknown = [k for k in keys if k not in columns]
    if unknown:
        raise StoreError(f"unknown column(s) of {table}: {', '.join(unknown)}")
