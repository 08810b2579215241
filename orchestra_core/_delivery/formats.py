"""File formats (CSV/TSV/PSV, JSON Lines, Parquet) and compression (gzip, zip), written
batch by batch: each call returns the bytes of one batch, nothing is kept in between."""

from __future__ import annotations

import csv
import io
import json
import zipfile
import zlib
from collections.abc import Sequence
from typing import Any

from .._errors import TaskFailed
from .columns import text_rows
from .templates import Shaper, TemplateSpec, json_value

__all__ = ("Compressor", "Encoder", "encoder_for")

_DELIMITERS = {"csv": ",", "tsv": "\t", "psv": "|"}
_QUOTING = {"minimal": csv.QUOTE_MINIMAL, "all": csv.QUOTE_ALL,
            "nonnumeric": csv.QUOTE_NONNUMERIC, "none": csv.QUOTE_NONE}


class Encoder:
    """Turns shaped rows into bytes of one file format."""

    def __init__(self, template: TemplateSpec, shaper: Shaper) -> None:
        self.template = template
        self.shaper = shaper

    def start(self) -> bytes:
        """The bytes before the first row (a header)."""
        return b""

    def encode(self, rows: Sequence[Sequence[Any]]) -> bytes:
        """The bytes of *rows* (source rows; the shaper picks and formats the columns)."""
        raise NotImplementedError

    def finish(self) -> bytes:
        """The bytes after the last row (a Parquet footer)."""
        return b""


class TextEncoder(Encoder):
    """CSV, TSV and PSV through the standard ``csv`` module."""

    def __init__(self, template: TemplateSpec, shaper: Shaper) -> None:
        super().__init__(template, shaper)
        self.buffer = io.StringIO()
        quoting = _QUOTING[template.quoting]
        if quoting == csv.QUOTE_NONNUMERIC:  # values are text by now: quote all but numbers
            quoting = csv.QUOTE_MINIMAL
        self.writer = csv.writer(
            self.buffer, delimiter=template.delimiter or _DELIMITERS[template.format],
            quotechar=template.quote_char, escapechar=template.escape_char,
            quoting=quoting, lineterminator="\r\n" if template.line_ending == "crlf" else "\n",
            doublequote=template.escape_char is None)
        self.encoding = template.encoding

    def _take(self) -> bytes:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        try:
            return text.encode(self.encoding)
        except UnicodeEncodeError as exc:
            raise TaskFailed(f"a value cannot be written in {self.encoding}: {exc}",
                             retryable=False) from exc

    def start(self) -> bytes:
        """The header line, if the template asks for one."""
        if not self.template.header:
            return b""
        self._write(self.writer.writerow, self.shaper.columns)
        return self._take()

    def _write(self, fn: Any, arg: Any) -> None:
        try:
            fn(arg)
        except csv.Error as exc:
            raise TaskFailed(f"data template: {exc} (set escape_char, or another quoting)",
                             retryable=False) from exc

    def encode(self, rows: Sequence[Sequence[Any]]) -> bytes:
        """The rows as delimited text."""
        self._write(self.writer.writerows, text_rows(self.shaper, rows))
        return self._take()


class JsonLinesEncoder(Encoder):
    """One JSON object per line."""

    def encode(self, rows: Sequence[Sequence[Any]]) -> bytes:
        """The rows as JSON Lines."""
        cols, row, places = self.shaper.columns, self.shaper.row, self.template.decimal_places
        end = "\r\n" if self.template.line_ending == "crlf" else "\n"
        lines = [json.dumps({c: json_value(v, places) for c, v in zip(cols, row(r),
                                                                       strict=True)},
                            ensure_ascii=False) for r in rows]
        return "".join(line + end for line in lines).encode(self.template.encoding)


class _Sink(io.RawIOBase):
    """A write-only stream whose bytes are taken out after each batch."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.data += b
        self.position += len(b)
        return len(b)

    def tell(self) -> int:
        return self.position

    def take(self) -> bytes:
        out = bytes(self.data)
        self.data.clear()
        return out


class ParquetEncoder(Encoder):
    """Parquet through pyarrow (``pip install 'orchestra-core[parquet]'``), one row group
    per batch."""

    def __init__(self, template: TemplateSpec, shaper: Shaper) -> None:
        super().__init__(template, shaper)
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise TaskFailed("the parquet format needs pyarrow: pip install "
                             "'orchestra-core[parquet]'", retryable=False) from exc
        self.pa, self.pq = pa, pq
        self.sink = _Sink()
        self.writer: Any = None

    def encode(self, rows: Sequence[Sequence[Any]]) -> bytes:
        """One row group."""
        shaped = [self.shaper.row(r) for r in rows]
        arrays = [self.pa.array(list(col)) for col in zip(*shaped, strict=True)] if shaped \
            else [self.pa.array([], type=self.pa.string()) for _ in self.shaper.columns]
        table = self.pa.Table.from_arrays(arrays, names=list(self.shaper.columns))
        if self.writer is None:
            self.writer = self.pq.ParquetWriter(self.sink, table.schema)
        self.writer.write_table(table)
        return self.sink.take()

    def finish(self) -> bytes:
        """The footer."""
        if self.writer is None:
            self.encode([])
        self.writer.close()
        return self.sink.take()


def encoder_for(template: TemplateSpec, shaper: Shaper) -> Encoder:
    """The encoder of *template*'s format."""
    if template.format == "jsonl":
        return JsonLinesEncoder(template, shaper)
    if template.format == "parquet":
        return ParquetEncoder(template, shaper)
    return TextEncoder(template, shaper)


class Compressor:
    """gzip, zip (one member, streamed) or nothing."""

    def __init__(self, kind: str, member: str) -> None:
        self.kind = kind
        self._gzip = zlib.compressobj(6, zlib.DEFLATED, 31) if kind == "gzip" else None
        self._sink: _Sink | None = None
        if kind == "zip":
            self._sink = _Sink()
            self._zip = zipfile.ZipFile(self._sink, "w", zipfile.ZIP_DEFLATED)
            self._member = self._zip.open(zipfile.ZipInfo(member), "w", force_zip64=True)

    def feed(self, data: bytes) -> bytes:
        """Compressed bytes of *data* (possibly none yet)."""
        if self._gzip is not None:
            return self._gzip.compress(data)
        if self._sink is not None:
            self._member.write(data)
            return self._sink.take()
        return data

    def finish(self) -> bytes:
        """The remaining bytes."""
        if self._gzip is not None:
            return self._gzip.flush()
        if self._sink is not None:
            self._member.close()
            self._zip.close()
            return self._sink.take()
        return b""
