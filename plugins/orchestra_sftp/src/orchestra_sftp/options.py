"""Options of the ``sftp`` destination, apart from the destination so that registering the
plugin (and validating a pipeline) does not import asyncssh."""

from __future__ import annotations

from attrs import frozen

from orchestra_core import parameter

__all__ = ("SftpOptions",)


@frozen(kw_only=True)
class SftpOptions:
    """Options of an ``sftp`` destination."""

    host: str = parameter(help="the SFTP server")
    directory: str = parameter(help="the directory files are written to")
    port: int = parameter(default=22, help="the SSH port")
    username: str | None = parameter(default=None, help="login (default: the credential's)")
    known_hosts: str | None = parameter(default=None, help="a known_hosts file to verify the "
                                        "server's host key against")
    host_key: str | None = parameter(default=None, help="the server's public host key")
    create: bool = parameter(default=False, help="create the directory if it is missing")
    timeout: float = parameter(default=30.0, help="seconds to connect")
