"""Graceful stop on SIGTERM for the commands that execute runs (``run``; ``serve`` has its
own in :class:`~orchestra_core.Service`): drain, then leave the run to be resumed."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

__all__ = ("DEFAULT_GRACE", "GRACE_OPTION", "SIGTERM_EXIT", "until_sigterm")

T = TypeVar("T")

#: The exit status of a command stopped by SIGTERM (128 + 15, as a shell reports it).
SIGTERM_EXIT = 143

#: The default of ``--grace`` (``Engine.drain``'s default; a literal, so that the command line
#: starts without importing the engine).
DEFAULT_GRACE = 20.0

#: ``--grace SECONDS``: how long running processes may take to finish after SIGTERM.
GRACE_OPTION = click.option(
    "--grace", type=click.FloatRange(min=0), default=DEFAULT_GRACE, show_default=True,
    metavar="SECONDS",
    help="On SIGTERM: no new task starts; running processes (process tasks) get this long "
         "to finish, then are stopped (SIGTERM, SIGKILL 5 s later) and recorded as "
         "interrupted (retried on resume if retries allow). Vendor jobs go on and are "
         "re-attached on resume.")


async def until_sigterm(engine: Any, main: Callable[[], Awaitable[T]], grace: float,
                        on_signal: Callable[[], None]) -> T | None:
    """``await main()``; on SIGTERM, call *on_signal*, drain *engine* (``Engine.drain``,
    up to *grace* seconds), detach it and cancel *main*: ``None`` then, else its result."""
    import anyio

    result: list[T] = []
    errors: list[Exception] = []
    async with anyio.create_task_group() as tg:

        async def body() -> None:
            try:
                result.append(await main())
            except Exception as exc:  # raised as itself below, not in an exception group
                errors.append(exc)
            tg.cancel_scope.cancel()

        async def watch() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM) as signals:
                async for _ in signals:
                    on_signal()
                    await engine.drain(grace)
                    engine.detach()
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(watch)
        tg.start_soon(body)
    if errors:
        raise errors[0]
    return result[0] if result else None
