"""Orchestra plugin: the ``sftp`` destination."""

from .destination import SftpDestination, SftpOptions

__all__ = ("SftpDestination", "SftpOptions")
