"""Orchestra plugin: the ``sftp`` destination."""

from typing import TYPE_CHECKING, Any

from .options import SftpOptions

if TYPE_CHECKING:
    from .destination import SftpDestination

__all__ = ("SftpDestination", "SftpOptions")


def __getattr__(name: str) -> Any:
    # the destination imports asyncssh: loaded on first use
    if name == "SftpDestination":
        from .destination import SftpDestination

        return SftpDestination
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
