"""The pluggy markers for the ``orchestra`` project."""

from __future__ import annotations

import pluggy

#: The pluggy project name and the entry-point group plugins are discovered through.
PROJECT = "orchestra"

#: Marks a function in :mod:`orchestra_core.hookspecs` as a hook specification.
hookspec = pluggy.HookspecMarker(PROJECT)

#: Marks a plugin function as the implementation of an ``orchestra_*`` hook.
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ("PROJECT", "hookimpl", "hookspec")
