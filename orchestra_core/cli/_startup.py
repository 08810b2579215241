"""Start-up without garbage collections.

Starting a command imports hundreds of modules (SQLAlchemy, the plugins, the models...):
hundreds of thousands of objects that live as long as the process. With the collector on,
each full collection scans all of them again, about a tenth of a ``run``'s start-up, and
frees almost nothing. So :func:`pause` (called by ``main``) turns the collector off, and
:func:`resume` (called once the command has its host or its store, i.e. once its imports are
done) moves everything allocated so far to the permanent generation (``gc.freeze``) and
turns the collector back on: from then on a long run, a server or a scheduler collects as
usual, without rescanning what start-up built. A command that never gets there is short
(``--help``, ``plugin new``...) and ``main`` turns the collector back on when it ends.
"""

from __future__ import annotations

import gc

__all__ = ("pause", "resume")

_paused = False


def pause() -> None:
    """Turn the garbage collector off for start-up (no-op when it is off already)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume(*, freeze: bool = True) -> None:
    """End start-up: keep what it built out of every later collection (*freeze*) and turn
    the collector back on, if :func:`pause` turned it off; no-op otherwise."""
    global _paused
    if not _paused:
        return
    _paused = False
    if freeze:
        gc.freeze()
    gc.enable()
