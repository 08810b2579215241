"""Hook implementations: register the ``sftp`` destination type."""

from __future__ import annotations

from orchestra_core import DestinationRegistry, hookimpl

from .destination import SftpDestination, SftpOptions


@hookimpl
def orchestra_register_destinations(registry: DestinationRegistry) -> None:
    """Register ``sftp``."""
    registry.add("sftp", factory=SftpDestination, options=SftpOptions,
                 description="Files on an SFTP server (temporary name, then rename)")
