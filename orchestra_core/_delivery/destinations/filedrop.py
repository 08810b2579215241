"""``filedrop``: files in a local or mounted directory. Each file is written under a hidden
temporary name in the same directory, flushed to disk and renamed when complete, so a
receiver never sees a partial file; a resumed delivery writes the same names again and the
rename replaces them whole."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Any

import anyio

from ..._errors import DeliveryFailed
from ..._models import Delivery, DeliveryReceipt
from ._errors import os_failure
from .filedrop_options import FileDropOptions

__all__ = ("FileDrop", "FileDropOptions")


class FileDrop:
    """Delivers files into :attr:`FileDropOptions.directory`."""

    def __init__(self, options: FileDropOptions, context: Any = None) -> None:
        self.options = options
        self.name = getattr(context, "name", None) or "filedrop"
        self.directory = Path(os.path.expanduser(options.directory))

    def _prepare(self) -> None:
        try:
            if self.options.create:
                self.directory.mkdir(parents=True, exist_ok=True)
            if not self.directory.is_dir():
                raise DeliveryFailed(f"destination {self.name!r}: no such directory "
                                     f"{self.directory}", retryable=False)
        except OSError as exc:
            raise os_failure(self.name, f"creating {self.directory}", exc) from exc

    async def check(self) -> None:
        """The directory exists and a file can be created, written and removed in it."""
        await anyio.to_thread.run_sync(self._check)

    def _check(self) -> None:
        self._prepare()
        probe = self.directory / f".orchestra-check-{uuid.uuid4().hex}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise os_failure(self.name, f"writing in {self.directory}", exc) from exc

    async def deliver(self, delivery: Delivery) -> DeliveryReceipt:
        """Write every file of *delivery* atomically; return the names and sizes."""
        await anyio.to_thread.run_sync(self._prepare)
        names, total, rows, sums = [], 0, 0, {}
        async for file in delivery.files():
            final = self.directory / file.name
            temp = self.directory / f".{file.name}.{uuid.uuid4().hex[:8]}.part"
            handle = await anyio.to_thread.run_sync(self._open, temp)
            try:
                async for chunk in file.chunks:
                    await anyio.to_thread.run_sync(self._write, handle, chunk, temp)
                await anyio.to_thread.run_sync(self._commit, handle, temp, final)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self._discard, handle, temp)
                raise
            names.append(file.name)
            total += file.stats.get("bytes", 0)
            rows += file.stats.get("rows", 0)
            sums[file.name] = file.stats.get("sha256")
            delivery.log(f"{self.name}: wrote {final} ({file.stats.get('rows', 0)} rows, "
                         f"{file.stats.get('bytes', 0)} bytes)")
        return DeliveryReceipt(delivered=rows, location=str(self.directory),
                               files=tuple(names), bytes=total, metadata={"sha256": sums})

    def _open(self, temp: Path) -> Any:
        final_name = temp.name[1:].rsplit(".", 2)[0]
        for stale in self.directory.glob(f".{final_name}.*.part"):  # left by a killed run
            stale.unlink(missing_ok=True)
        try:
            return open(temp, "wb")
        except OSError as exc:
            raise os_failure(self.name, f"writing {temp.parent}", exc) from exc

    def _write(self, handle: Any, chunk: bytes, temp: Path) -> None:
        try:
            handle.write(chunk)
        except OSError as exc:
            raise os_failure(self.name, f"writing {temp}", exc) from exc

    def _commit(self, handle: Any, temp: Path, final: Path) -> None:
        try:
            handle.flush()
            if self.options.fsync:
                os.fsync(handle.fileno())
            handle.close()
            os.replace(temp, final)
        except OSError as exc:
            raise os_failure(self.name, f"writing {final}", exc) from exc

    @staticmethod
    def _discard(handle: Any, temp: Path) -> None:
        with contextlib.suppress(OSError):
            handle.close()
        temp.unlink(missing_ok=True)
