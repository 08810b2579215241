"""Pausing the cyclic garbage collector while a pipeline document is read and checked.

Reading and checking a large pipeline file allocates hundreds of thousands of small objects
(YAML nodes, dicts, tasks) that all stay alive until the check ends. Each allocation burst
makes the collector traverse every live object again, so a 10,000-task file spent a quarter of
its checking time in full collections that found nothing to free. :func:`paused_gc` turns the
collector off for such a bounded piece of work and back on after it (only when it was on: a
caller that disabled it keeps it disabled); reference counting still frees everything that is
not in a cycle, and cycles made meanwhile are collected once the collector runs again.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ("paused_gc",)


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Run the ``with`` block without cyclic garbage collection (see the module docstring)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
