"""Helpers for testing Orchestra plugins and embedding apps; free of pytest imports.

- :class:`FakeClock`: a clock tests move by hand (``advance``) or that jumps on ``sleep``.
- :class:`StubContext`: a TaskContext for driving a job runner directly.
- :func:`make_host`: an isolated :class:`~orchestra_core.Orchestra` with only the given plugins.
- :func:`validate`: problems of a pipeline given as a dict, as formatted strings.
- :class:`Simulator`, :class:`Failure` (and the rest of :mod:`.simulator`): the kit for
  vendor simulators; imported on first use.
"""

from __future__ import annotations

from typing import Any

from ._clock import FakeClock as FakeClock
from ._clock import SystemClock as SystemClock
from ._context import StubContext as StubContext

__all__ = ("Failure", "FakeClock", "Simulator", "StubContext", "SystemClock", "make_host",
           "validate")

_LAZY = {"Failure": "simulator", "Simulator": "simulator"}


def __getattr__(name: str) -> Any:
    """Import the simulator kit (Starlette, uvicorn) only when it is asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def make_host(*plugins: object, load_entrypoints: bool = False, builtins: bool = True) -> Any:
    """An :class:`~orchestra_core.Orchestra` with exactly *plugins* (plus the built-ins)."""
    from ..host import Orchestra

    return Orchestra(plugins=plugins, load_entrypoints=load_entrypoints, builtins=builtins)


def validate(host: Any, data: Any) -> list[str]:
    """Validate pipeline *data* (a dict) on *host*; return the formatted problems."""
    _, problems = host.check_data(data)
    return [p.format() for p in problems]
