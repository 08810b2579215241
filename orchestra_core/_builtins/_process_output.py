"""Streaming a child process's output to the run log, line by line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from ._process_spawn import Child

if TYPE_CHECKING:
    from .._protocols import TaskContext

__all__ = ("MAX_LINE", "emit_line", "pump_output")

#: Longest line sent to the log; longer output without a newline is cut into pieces.
MAX_LINE = 64 * 1024


def emit_line(ctx: TaskContext, child: Child, name: str, raw: bytes) -> None:
    """Log one line of *child*'s output *name* (stderr lines as warnings, also kept for the
    failure message)."""
    text = raw.decode(errors="replace").rstrip("\r")
    if not text.strip():
        return
    if name == "stderr":
        child.stderr_tail.append(text)
        ctx.log(text, level="warning")
    else:
        ctx.log(text)


async def pump_output(ctx: TaskContext, child: Child, name: str) -> None:
    """Send *name*'s lines to the log until end of file (resumable after cancellation)."""
    if name in child.eof:
        return
    stream = child.process.stdout if name == "stdout" else child.process.stderr
    buffer = child.buffers[name]
    while stream is not None:
        try:
            chunk = await stream.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            break
        buffer += chunk
        cut = buffer.rfind(b"\n")
        if cut >= 0:
            lines = bytes(buffer[:cut]).split(b"\n")
            del buffer[: cut + 1]
            for line in lines:
                emit_line(ctx, child, name, line)
        while len(buffer) > MAX_LINE:  # never cut through a secret: each piece is masked
            cut = child.redactor.safe_cut(bytes(buffer), MAX_LINE) if child.redactor \
                else MAX_LINE
            emit_line(ctx, child, name, bytes(buffer[:cut]))
            del buffer[:cut]
    if buffer:
        emit_line(ctx, child, name, bytes(buffer))
        buffer.clear()
    child.eof.add(name)
    if len(child.eof) == 2:
        child.drained.set()

