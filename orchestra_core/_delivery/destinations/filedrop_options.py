"""Options of the ``filedrop`` destination, apart from the destination itself so that a host
registers the type (and validates a pipeline) without importing it."""

from __future__ import annotations

from attrs import frozen

from ..._config import parameter

__all__ = ("FileDropOptions",)


@frozen(kw_only=True)
class FileDropOptions:
    """Options of a ``filedrop`` destination."""

    directory: str = parameter(aliases=("path",), help="the directory files are dropped in")
    create: bool = parameter(default=False, help="create the directory if it is missing")
    fsync: bool = parameter(default=True, help="flush each file to disk before renaming it")
