"""Where a file check looks: location types by URL scheme.

A location lists the files in one directory (name, modification time, size). The core has
``local`` (a path or a ``file://`` URL); a new type (the SFTP and S3 destinations, once they
exist) is one class with the same ``list`` method added to :data:`LOCATION_TYPES` under its
URL scheme (``sftp://host/dir``, ``s3://bucket/prefix``); it gets the task's connection for
its credentials.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from attrs import frozen

from .._errors import TaskFailed

__all__ = ("LOCATION_TYPES", "FoundFile", "LocalDirectory", "Location", "location_for")


@frozen
class FoundFile:
    """One file of a location: its path relative to the location, time and size."""

    name: str
    modified: datetime
    size: int


class Location(Protocol):
    """A directory a file check lists."""

    #: how the location is shown in logs and alerts
    shown: str

    async def list(self, *, recursive: bool, clock: Any = None) -> list[FoundFile]:
        """The files in the location (in sub-directories too when *recursive*); *clock* is
        the engine's (a fake clock must not move while the listing is in flight)."""


class LocalDirectory:
    """A directory of this machine (a path, or a ``file://`` URL)."""

    def __init__(self, where: str, connection: Any = None) -> None:
        parts = urlsplit(where)
        self.path = unquote(parts.path) if parts.scheme == "file" else where
        self.shown = self.path

    async def list(self, *, recursive: bool, clock: Any = None) -> list[FoundFile]:
        """The regular files of the directory, read in a worker thread."""
        from .._committer import in_thread

        return await in_thread(clock, self._list, recursive)

    def _list(self, recursive: bool) -> list[FoundFile]:
        if not os.path.isdir(self.path):
            raise TaskFailed(f"directory {self.path!r} does not exist (or is not a directory)",
                             retryable=False)
        found: list[FoundFile] = []
        for root, dirs, files in os.walk(self.path):
            for name in files:
                full = os.path.join(root, name)
                try:
                    stat = os.stat(full)
                except OSError:  # removed while listing
                    continue
                found.append(FoundFile(
                    name=os.path.relpath(full, self.path).replace(os.sep, "/"),
                    modified=datetime.fromtimestamp(stat.st_mtime, UTC), size=stat.st_size))
            if not recursive:
                dirs.clear()
        return sorted(found, key=lambda f: f.name)


#: Location types by URL scheme (``""`` is a plain path).
LOCATION_TYPES: dict[str, Callable[[str, Any], Location]] = {
    "": LocalDirectory,
    "file": LocalDirectory,
}


def location_for(where: str, connection: Any = None) -> Location:
    """The location *where* names (a path or a URL whose scheme is a location type).

    :raises TaskFailed: (not retryable) for a scheme no location type handles.
    """
    scheme = urlsplit(where).scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        scheme = ""
    factory = LOCATION_TYPES.get(scheme)
    if factory is None:
        known = ", ".join(sorted(s for s in LOCATION_TYPES if s)) or "none"
        raise TaskFailed(f"no location type handles {scheme}:// locations (available: a local "
                         f"path, {known})", retryable=False)
    return factory(where, connection)
