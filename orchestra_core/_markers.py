"""The pluggy markers for the ``orchestra`` project."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pluggy

F = TypeVar("F", bound=Callable[..., Any])

#: The pluggy project name and the entry-point group plugins are discovered through.
PROJECT = "orchestra"

#: Marks a function in :mod:`orchestra_core.hookspecs` as a hook specification.
hookspec = pluggy.HookspecMarker(PROJECT)

#: Marks a plugin function as the implementation of an ``orchestra_*`` hook.
hookimpl = pluggy.HookimplMarker(PROJECT)

#: The attribute :func:`validates_parameters` sets on a hook implementation.
PARAMETER_CLASSES = "orchestra_parameter_classes"


def validates_parameters(*classes: type) -> Callable[[F], F]:
    """Declare that an ``orchestra_validate_task`` implementation finds problems only in tasks
    whose structured parameters are an instance of one of *classes* (it returns nothing for
    every other task), so the core need not call it for other tasks. Put it under
    ``@hookimpl``."""

    def mark(function: F) -> F:
        setattr(function, PARAMETER_CLASSES, classes)
        return function

    return mark


__all__ = ("PARAMETER_CLASSES", "PROJECT", "hookimpl", "hookspec", "validates_parameters")
