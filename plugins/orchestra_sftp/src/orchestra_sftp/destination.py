"""The ``sftp`` destination: files written under a temporary name, renamed when complete."""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any

import asyncssh

from orchestra_core import Delivery, DeliveryFailed, DeliveryReceipt

from .options import SftpOptions


class SftpDestination:
    """Delivers ``delivery.files()`` to :attr:`SftpOptions.directory` on an SFTP server."""

    def __init__(self, options: SftpOptions, context: Any = None) -> None:
        if not options.known_hosts and not options.host_key:
            raise DeliveryFailed("sftp destination: give known_hosts or host_key (host keys "
                                 "are always verified)")
        self.options = options
        self.name = getattr(context, "name", None) or "sftp"
        self.secrets: dict[str, str] = dict(getattr(context, "secrets", None) or {})

    def _fail(self, why: str, exc: BaseException | None = None,
              retryable: bool = False) -> DeliveryFailed:
        detail = f": {exc}" if exc is not None and str(exc) else ""
        return DeliveryFailed(f"destination {self.name!r}: {why} "
                              f"({self.options.host}:{self.options.port}){detail}",
                              retryable=retryable)

    def _known_hosts(self) -> Any:
        if self.options.host_key:
            key = asyncssh.import_public_key(self.options.host_key)
            return ([key], [], [])
        return os.path.expanduser(self.options.known_hosts or "")

    @contextlib.asynccontextmanager
    async def _sftp(self, secrets: dict[str, str]) -> Any:
        opts = self.options
        kwargs: dict[str, Any] = {
            "port": opts.port, "known_hosts": self._known_hosts(),
            "username": opts.username or secrets.get("username"),
            "connect_timeout": opts.timeout, "agent_path": None, "client_keys": None,
            "password": secrets.get("password"),
        }
        if secrets.get("private_key"):
            kwargs["client_keys"] = [asyncssh.import_private_key(
                secrets["private_key"], secrets.get("passphrase"))]
        try:
            conn = await asyncssh.connect(opts.host, **kwargs)
        except asyncssh.PermissionDenied as exc:
            raise self._fail("authentication refused") from exc
        except asyncssh.HostKeyNotVerifiable as exc:
            raise self._fail("the server's host key is not the expected one") from exc
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise self._fail("host unreachable", exc, retryable=True) from exc
        async with conn, conn.start_sftp_client() as sftp:
            yield sftp

    def _sftp_error(self, exc: BaseException, action: str) -> DeliveryFailed:
        if isinstance(exc, asyncssh.SFTPPermissionDenied):
            return self._fail(f"permission denied {action}")
        text = str(exc).lower()
        if "space" in text or "quota" in text:
            return self._fail(f"the disk is full {action}", retryable=True)
        return self._fail(f"failed {action}", exc)

    async def _prepare(self, sftp: Any) -> None:
        try:
            if self.options.create:
                await sftp.makedirs(self.options.directory, exist_ok=True)
            elif not await sftp.isdir(self.options.directory):
                raise self._fail(f"no such directory {self.options.directory}")
        except asyncssh.SFTPError as exc:
            raise self._sftp_error(exc, f"in {self.options.directory}") from exc

    async def check(self) -> None:
        """Log in, and create and remove a probe file in the directory."""
        async with self._sftp(self.secrets) as sftp:
            await self._prepare(sftp)
            probe = f"{self.options.directory}/.orchestra-check-{uuid.uuid4().hex}"
            try:
                async with sftp.open(probe, "wb") as f:
                    await f.write(b"")
                await sftp.remove(probe)
            except asyncssh.SFTPError as exc:
                raise self._sftp_error(exc, f"writing in {self.options.directory}") from exc

    async def deliver(self, delivery: Delivery) -> DeliveryReceipt:
        """Write every file atomically; return names, rows and bytes."""
        directory = self.options.directory.rstrip("/")
        names, rows, size = [], 0, 0
        async with self._sftp(dict(delivery.secrets) or self.secrets) as sftp:
            await self._prepare(sftp)
            async for file in delivery.files():
                final = f"{directory}/{file.name}"
                temp = f"{directory}/.{file.name}.{uuid.uuid4().hex[:8]}.part"
                try:
                    for stale in await sftp.glob(f"{directory}/.{file.name}.*.part"):
                        await sftp.remove(stale)
                except asyncssh.SFTPError:
                    pass
                try:
                    async with sftp.open(temp, "wb") as out:
                        async for chunk in file.chunks:
                            await out.write(chunk)
                    await sftp.posix_rename(temp, final)
                except asyncssh.SFTPError as exc:
                    with contextlib.suppress(asyncssh.SFTPError):
                        await sftp.remove(temp)
                    raise self._sftp_error(exc, f"writing {final}") from exc
                except BaseException:
                    with contextlib.suppress(Exception):
                        await sftp.remove(temp)
                    raise
                names.append(file.name)
                rows += file.stats.get("rows", 0)
                size += file.stats.get("bytes", 0)
                delivery.log(f"{self.name}: wrote {final}")
        return DeliveryReceipt(delivered=rows, files=tuple(names), bytes=size,
                               location=f"sftp://{self.options.host}:{self.options.port}"
                               f"{directory}")
