"""Keep httpx's command-line client out of the process until something uses it.

``import httpx`` runs ``from ._main import main``, which imports click, rich (console,
progress, syntax, ...) and pygments' lexers, only to offer ``httpx.main`` (the ``httpx``
console script). That is about three quarters of httpx's import time (0.15 s of 0.2 s
without bytecode caches), paid by every process that runs an HTTP task, inside its first
run. :func:`defer_httpx_cli`, called where the host first imports httpx (the vendor
clients, the ``http`` integration's runner), puts a stand-in module at ``httpx._main``
just before: ``httpx.main`` and every other name of the module load the real one on first
use, so nothing changes for a caller of the client.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__all__ = ("defer_httpx_cli",)

_NAME = "httpx._main"


def _real() -> types.ModuleType:
    """The real ``httpx._main``, imported now (the stand-in leaves ``sys.modules``)."""
    if isinstance(sys.modules.get(_NAME), _DeferredCli):
        del sys.modules[_NAME]
    return importlib.import_module(_NAME)


def _main(*args: Any, **kwargs: Any) -> Any:
    """``httpx.main``: run httpx's command-line client (imported on this first call)."""
    return _real().main(*args, **kwargs)


class _DeferredCli(types.ModuleType):
    """Stands for ``httpx._main`` until one of its names other than ``main`` is read."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(_real(), name)


def defer_httpx_cli() -> None:
    """Install the stand-in, unless httpx (or its command-line module) is loaded already."""
    if "httpx" in sys.modules or _NAME in sys.modules:
        return
    stand_in = _DeferredCli(_NAME, __doc__)
    stand_in.main = _main  # type: ignore[attr-defined]
    sys.modules[_NAME] = stand_in
