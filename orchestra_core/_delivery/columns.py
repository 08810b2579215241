"""Writing a batch as text column by column: each column's values are converted with one
C-level function chosen from the column's type in that batch (``str`` values and integers
go to the CSV writer untouched), so a million rows cost little Python per value. Columns
of mixed types, or with a per-column format, fall back to the shaper's writer per value."""

from __future__ import annotations

import datetime as dt
import decimal
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .templates import Shaper

__all__ = ("text_rows",)

_NONE = type(None)
ISO_SECONDS = "%Y-%m-%dT%H:%M:%S"


def _converter(shaper: Shaper, index: int, column: Sequence[Any]) -> Callable[[Any], Any] | None:
    """A function for every value of *column* (``None``: keep the values as they are)."""
    template = shaper.template
    if shaper.formats[index] is not None:
        return shaper.writers[index]
    types = set(map(type, column))
    has_null = _NONE in types
    types.discard(_NONE)
    null = template.null
    if not types:
        return None if null == "" else (lambda _: null)
    if len(types) > 1:
        return shaper.writers[index]
    kind = types.pop()
    fn: Callable[[Any], Any] | None
    if kind is str or kind is int:
        fn = None
    elif kind is float or kind is decimal.Decimal:
        places = template.decimal_places
        fn = None if places is None else (lambda v, f=f".{places}f": format(v, f))
    elif kind is bool:
        return {True: "true", False: "false", None: null}.__getitem__
    elif kind is dt.datetime:
        first = next(v for v in column if v is not None)
        if template.datetime_format == ISO_SECONDS and first.tzinfo is None:
            fn = operator.methodcaller("isoformat", "T", "seconds")  # the same, faster
        else:
            fn = operator.methodcaller("strftime", template.datetime_format)
    elif kind is dt.date:
        fn = dt.date.isoformat if template.date_format == "%Y-%m-%d" else \
            operator.methodcaller("strftime", template.date_format)
    else:
        return shaper.writers[index]
    if not has_null or (fn is None and null == ""):
        return fn
    if fn is None:
        return lambda v: null if v is None else v
    inner = fn
    return lambda v: null if v is None else inner(v)


def text_rows(shaper: Shaper, rows: Sequence[Sequence[Any]]) -> Iterable[Sequence[Any]]:
    """*rows* (source rows) as output rows whose values the CSV writer prints as the
    template says."""
    if not rows:
        return []
    source = list(zip(*rows, strict=True))
    columns: list[Any] = []
    for i, position in enumerate(shaper.positions):
        values = source[position]
        fn = _converter(shaper, i, values)
        columns.append(values if fn is None else list(map(fn, values)))
    return zip(*columns, strict=True)
