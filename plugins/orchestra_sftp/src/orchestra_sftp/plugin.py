"""Hook implementations: register the ``sftp`` destination type."""

from __future__ import annotations

from typing import Any

from orchestra_core import DestinationRegistry, hookimpl

from .options import SftpOptions


def _sftp_destination(options: SftpOptions, context: Any = None) -> Any:
    # asyncssh is imported when a destination is made, not when the plugin registers
    from .destination import SftpDestination

    return SftpDestination(options, context=context)


@hookimpl
def orchestra_register_destinations(registry: DestinationRegistry) -> None:
    """Register ``sftp``."""
    registry.add("sftp", factory=_sftp_destination, options=SftpOptions,
                 description="Files on an SFTP server (temporary name, then rename)")
