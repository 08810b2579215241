"""A small destination: ``weather_archive`` writes every delivered record to one JSON Lines
file in a directory, under a temporary name renamed when complete (so a resumed delivery
replaces the file whole and nobody sees half of it)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

from attrs import frozen

from orchestra_core import Delivery, DeliveryFailed, DeliveryReceipt, parameter


@frozen(kw_only=True)
class ArchiveOptions:
    """Options of a ``weather_archive`` destination."""

    directory: str = parameter(help="where the archive files go")
    file_name: str = parameter(default="observations.jsonl", help="the archive's file name")


class WeatherArchive:
    """Delivers record batches (``delivery.batches()``) into one JSON Lines file."""

    def __init__(self, options: ArchiveOptions, context: Any = None) -> None:
        self.options = options
        self.name = getattr(context, "name", None) or "weather_archive"

    async def deliver(self, delivery: Delivery) -> DeliveryReceipt:
        """Stream the batches into a temporary file, then rename it into place."""
        final = Path(self.options.directory) / self.options.file_name
        temp = final.with_name(f".{final.name}.part")
        rows = size = 0
        try:
            with open(temp, "w", encoding="utf-8") as out:
                async for batch in delivery.batches():
                    for record in batch.records():
                        line = json.dumps(record, default=str) + "\n"
                        out.write(line)
                        size += len(line)
                    rows += len(batch.rows)
            os.replace(temp, final)
        except OSError as exc:
            why = {errno.EACCES: "permission denied", errno.ENOSPC: "the disk is full"}.get(
                exc.errno or 0, exc.strerror or "cannot write")
            raise DeliveryFailed(f"destination {self.name!r}: {why} ({final})") from exc
        finally:
            if temp.exists():
                temp.unlink()
        return DeliveryReceipt(delivered=rows, location=str(final), files=(final.name,),
                               bytes=size)
