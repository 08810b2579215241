"""Data templates: which columns a destination gets (chosen, renamed, ordered), how values
are written (dates, decimals, nulls), and the file format, compression, names and size."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from attrs import frozen

from .._config import parameter
from .._errors import TaskFailed

__all__ = ("ColumnSpec", "Shaper", "TemplateSpec", "normalize_template")

FORMATS = ("csv", "tsv", "psv", "jsonl", "parquet")
COMPRESSIONS = ("none", "gzip", "zip")
QUOTING = ("minimal", "all", "nonnumeric", "none")
EXTENSIONS = {"csv": "csv", "tsv": "tsv", "psv": "psv", "jsonl": "jsonl", "parquet": "parquet"}


@frozen(kw_only=True)
class ColumnSpec:
    """One output column."""

    name: str = parameter(aliases=("column", "source"), help="the source column")
    rename: str | None = parameter(default=None, aliases=("as",), help="the output name")
    format: str | None = parameter(
        default=None, help="strftime pattern for dates and times, or a number format (.2f)")


@frozen(kw_only=True)
class TemplateSpec:
    """The shape of what a destination receives."""

    columns: tuple[ColumnSpec, ...] = parameter(
        default=(), help="output columns in order (default: every source column)")
    format: str = parameter(default="csv", help="csv, tsv, psv, jsonl or parquet")
    header: bool = parameter(default=True, help="write a header line (csv, tsv, psv)")
    delimiter: str | None = parameter(default=None, help="field separator (default: by format)")
    quoting: str = parameter(default="minimal", help="minimal, all, nonnumeric or none")
    quote_char: str = parameter(default='"', help="the quote character")
    escape_char: str | None = parameter(default=None, help="escape character (quoting: none)")
    encoding: str = parameter(default="utf-8", help="text encoding, e.g. utf-8, latin-1")
    line_ending: str = parameter(default="lf", help="lf or crlf")
    null: str = parameter(default="", help="how a NULL is written")
    date_format: str = parameter(default="%Y-%m-%d", help="strftime pattern for dates")
    datetime_format: str = parameter(default="%Y-%m-%dT%H:%M:%S",
                                     help="strftime pattern for timestamps")
    decimal_places: int | None = parameter(default=None, help="round decimals and floats")
    compression: str = parameter(default="none", help="none, gzip or zip")
    file_name: str = parameter(
        default="{name}_{run.date:%Y%m%d}{part}.{ext}",
        help="file-name pattern: {name}, {table}, {part} (_0001...), {ext}, {run.date:%Y%m%d}")
    max_rows_per_file: int | None = parameter(default=None, help="split files after N rows")
    manifest: str | None = parameter(
        default=None, help="file-name pattern of a JSON manifest written after the data files")
    done_file: str | None = parameter(
        default=None, help="file-name pattern of an empty done file written last")

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for every value outside its allowed set."""
        out = []
        for field_name, allowed in (("format", FORMATS), ("compression", COMPRESSIONS),
                                    ("quoting", QUOTING), ("line_ending", ("lf", "crlf"))):
            value = getattr(self, field_name)
            if value not in allowed:
                out.append((field_name, f"expected one of {', '.join(allowed)}, got {value!r}"))
        if self.delimiter is not None and len(self.delimiter) != 1:
            out.append(("delimiter", f"must be one character, got {self.delimiter!r}"))
        if self.max_rows_per_file is not None and self.max_rows_per_file < 1:
            out.append(("max_rows_per_file", "must be at least 1"))
        try:
            "".encode(self.encoding)
        except LookupError:
            out.append(("encoding", f"unknown encoding {self.encoding!r}"))
        return out

    @property
    def extension(self) -> str:
        """The file extension: the format's, plus ``.gz`` or ``.zip``."""
        ext = EXTENSIONS.get(self.format, self.format)
        return ext + {"gzip": ".gz", "zip": ".zip"}.get(self.compression, "")


_COLUMN_ALIASES = {"as": "rename", "column": "name", "source": "name"}


def normalize_template(raw: Any) -> Any:
    """*raw* template settings with each column written as a plain name (``"id"``) or with
    ``as``/``column`` turned into the model's ``{name, rename, format}``."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("columns"), list | tuple):
        return raw
    columns = []
    for col in raw["columns"]:
        if isinstance(col, str):
            columns.append({"name": col})
        elif isinstance(col, Mapping):
            columns.append({_COLUMN_ALIASES.get(k, k): v for k, v in col.items()})
        else:
            columns.append(col)
    return {**raw, "columns": columns}


class Shaper:
    """Chooses, renames and orders columns; formats values for files (:meth:`text_row`)
    or keeps them typed for records (:meth:`row`)."""

    def __init__(self, template: TemplateSpec, source_columns: Sequence[str]) -> None:
        self.template = template
        index = {c: i for i, c in enumerate(source_columns)}
        lower = {c.lower(): i for i, c in enumerate(source_columns)}
        specs = template.columns or tuple(ColumnSpec(name=c) for c in source_columns)
        self.positions: list[int] = []
        self.columns: tuple[str, ...] = tuple(s.rename or s.name for s in specs)
        self.formats: list[str | None] = [s.format for s in specs]
        for spec in specs:
            pos = index.get(spec.name, lower.get(spec.name.lower()))
            if pos is None:
                from .._config import suggest

                raise TaskFailed(f"data template column {spec.name!r} is not in the source"
                                 f"{suggest(spec.name, list(source_columns))}; source "
                                 f"columns: {', '.join(source_columns)}", retryable=False)
            self.positions.append(pos)
        self._identity = self.positions == list(range(len(source_columns)))
        #: one function per output column writing any value of it as text
        self.writers = [self._writer(f) for f in self.formats]

    def row(self, values: Sequence[Any]) -> tuple[Any, ...]:
        """The output row, values as the database gave them."""
        if self._identity:
            return tuple(values)
        return tuple(values[p] for p in self.positions)

    def text_row(self, values: Sequence[Any]) -> list[str]:
        """The output row, every value written as text."""
        return [w(values[p]) for w, p in zip(self.writers, self.positions, strict=True)]

    def _writer(self, fmt: str | None) -> Callable[[Any], str]:
        t = self.template
        null, date_fmt, ts_fmt, places = t.null, t.date_format, t.datetime_format, \
            t.decimal_places

        def write(value: Any) -> str:
            if value is None:
                return null
            if isinstance(value, str):
                return value
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, int):
                return format(value, fmt) if fmt else str(value)
            if isinstance(value, float | decimal.Decimal):
                if fmt:
                    return format(value, fmt)
                return f"{value:.{places}f}" if places is not None else str(value)
            if isinstance(value, dt.datetime):
                return value.strftime(fmt or ts_fmt)
            if isinstance(value, dt.date):
                return value.strftime(fmt or date_fmt)
            if isinstance(value, bytes):
                return value.hex()
            return str(value)

        return write


def json_value(value: Any, places: int | None = None) -> Any:
    """*value* as JSON can carry it (dates in ISO 8601, decimals as numbers)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return round(value, places) if places is not None else value
    if isinstance(value, decimal.Decimal):
        return float(round(value, places) if places is not None else value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k): json_value(v, places) for k, v in value.items()}
    return str(value)
