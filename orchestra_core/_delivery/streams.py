"""The streams a destination pulls: record batches, or files cut from the batches (split at
the template's row limit, then the manifest and the done file). One source batch is in
memory at a time."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import anyio

from .._models import DeliveryFile, RecordBatch
from .formats import Compressor, encoder_for
from .templates import Shaper, TemplateSpec
from .values import RunValues, render_name

__all__ = ("RowStream", "batches", "files")

Rows = list[tuple[Any, ...]]


class RowStream:
    """The source's ``(columns, rows)`` batches, with a look-ahead so files can be cut at any
    row; :attr:`shaper` is set once the columns are known."""

    def __init__(self, source: AsyncIterator[tuple[tuple[str, ...], Rows]],
                 template: TemplateSpec) -> None:
        self.source = source
        self.template = template
        self.shaper: Shaper | None = None
        self.carry: Rows = []
        self.exhausted = False

    async def fill(self) -> bool:
        """Read until rows are waiting (``True``) or the source is exhausted (``False``)."""
        while not self.carry and not self.exhausted:
            try:
                columns, rows = await self.source.__anext__()
            except StopAsyncIteration:
                self.exhausted = True
                break
            if self.shaper is None:
                self.shaper = Shaper(self.template, columns)
            self.carry = rows
        return bool(self.carry)

    def take(self, limit: int | None) -> Rows:
        """Up to *limit* waiting rows (all of them for ``None``)."""
        if limit is None or limit >= len(self.carry):
            rows, self.carry = self.carry, []
        else:
            rows, self.carry = self.carry[:limit], self.carry[limit:]
        return rows


async def batches(stream: RowStream, key: str) -> AsyncIterator[RecordBatch]:
    """The source's rows as :class:`RecordBatch` objects (shaped, typed values)."""
    index = 0
    while await stream.fill():
        assert stream.shaper is not None
        shaper = stream.shaper
        rows = stream.take(None)
        yield RecordBatch(index=index, key=f"{key}/batch-{index}", columns=shaper.columns,
                          rows=tuple(shaper.row(r) for r in rows))
        index += 1


async def files(stream: RowStream, key: str, name: str, run: RunValues,
                log: Callable[..., None]) -> AsyncIterator[DeliveryFile]:
    """The data as files, then the manifest and the done file the template asks for."""
    template = stream.template
    limit = template.max_rows_per_file
    written: list[dict[str, Any]] = []
    index = 0
    await stream.fill()  # the columns are known even without rows
    while True:
        if index > 0 and not await stream.fill():
            break
        part = f"_{index + 1:04d}" if limit else ""
        file_name = render_name(template.file_name, run, name=name, table=name, part=part,
                                ext=template.extension)
        stats: dict[str, Any] = {}
        file = DeliveryFile(index=index, key=f"{key}/file-{index}", name=file_name,
                            chunks=_file_chunks(stream, template, file_name, limit, stats),
                            stats=stats)
        yield file
        async for _ in file.chunks:  # the destination stopped early: keep the rows aligned
            pass
        written.append({"name": file_name, **stats})
        index += 1
    extra = {"name": name, "table": name, "part": "", "ext": template.extension}
    if template.manifest:
        body = json.dumps({"run_id": run.id, "scheduled_at": run.scheduled_at.isoformat(),
                           "rows": sum(f["rows"] for f in written), "files": written},
                          indent=2).encode("utf-8")
        yield _whole(index, key, render_name(template.manifest, run, **extra), body,
                     "manifest")
        index += 1
    if template.done_file:
        yield _whole(index, key, render_name(template.done_file, run, **extra), b"", "done")


async def _file_chunks(stream: RowStream, template: TemplateSpec, file_name: str,
                       limit: int | None, stats: dict[str, Any]) -> AsyncIterator[bytes]:
    assert stream.shaper is not None or stream.exhausted
    shaper = stream.shaper or Shaper(template, [c.name for c in template.columns])
    encoder = encoder_for(template, shaper)
    member = file_name[:-4] if file_name.endswith(".zip") else file_name
    compressor = Compressor(template.compression, member)
    digest = hashlib.sha256()
    size = rows = 0

    def out(data: bytes) -> bytes:
        nonlocal size
        digest.update(data)
        size += len(data)
        return data

    head = compressor.feed(encoder.start())
    if head:
        yield out(head)
    while (limit is None or rows < limit) and await stream.fill():
        chunk: Sequence[Any] = stream.take(None if limit is None else limit - rows)
        rows += len(chunk)
        data = await anyio.to_thread.run_sync(_encode, encoder, compressor, chunk)
        if data:
            yield out(data)
    tail = compressor.feed(encoder.finish()) + compressor.finish()
    if tail:
        yield out(tail)
    stats.update(rows=rows, bytes=size, sha256=digest.hexdigest())


def _encode(encoder: Any, compressor: Compressor, rows: Sequence[Any]) -> bytes:
    return compressor.feed(encoder.encode(rows))


def _whole(index: int, key: str, name: str, body: bytes, kind: str) -> DeliveryFile:
    stats = {"rows": 0, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}

    async def one() -> AsyncIterator[bytes]:
        if body:
            yield body

    return DeliveryFile(index=index, key=f"{key}/{kind}", name=name, chunks=one(), kind=kind,
                        stats=stats)
