"""A real HTTP server on 127.0.0.1 that enforces a rate limit the way vendor servers do, and
a clock that runs faster than real time, to test a client's rate limit over real HTTP.

::

    clock = ScaledClock(speed=20)           # 10 s of the clock pass in 0.5 s
    with RateWindowServer(200, 10.0, clock=clock) as server:
        ...  # 500 tasks send requests to server.url, their contexts on `clock`
    assert server.refused == 0 and server.peak <= 200
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

__all__ = ("RateWindowServer", "ScaledClock")

Answer = Callable[[str, str], tuple[int, Any]]


class ScaledClock:
    """Real time sped up *speed* times: ``monotonic()`` and ``now()`` advance *speed* seconds
    per real second and ``sleep(s)`` sleeps ``s / speed`` real seconds. Network latency is
    real, so it looks *speed* times longer to whoever uses this clock: a harsher test, not an
    easier one. Thread-safe (a server thread may read it).
    """

    def __init__(self, speed: float = 1.0, *, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed!r}")
        self.speed = float(speed)
        self._t0 = time.monotonic()
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)

    def monotonic(self) -> float:
        """Scaled seconds since the clock was made."""
        return (time.monotonic() - self._t0) * self.speed

    def now(self) -> datetime:
        """The scaled UTC time (*start* plus :meth:`monotonic`)."""
        return self._start + timedelta(seconds=self.monotonic())

    def busy(self, delta: int) -> None:
        """Ignored: time passes by itself."""

    async def sleep(self, seconds: float) -> None:
        """Sleep *seconds* of this clock (``seconds / speed`` of real time)."""
        await anyio.sleep(max(0.0, seconds) / self.speed)


class RateWindowServer:
    """A real HTTP/1.1 server on 127.0.0.1 (in a thread of its own) that counts every request
    when it arrives, in a sliding window of *per* seconds of *clock*, and answers 429 once
    more than *requests* arrived in the window: refused requests count too, as they do at
    Hightouch, Amperity and the others.

    :param requests: requests allowed per window.
    :param per: the window, in seconds of *clock*.
    :param clock: what timestamps arrivals (a :class:`ScaledClock`; default real time; a
        ``FakeClock`` with :meth:`transport`, in process).
    :param answer: ``answer(method, target) -> (status, json_value)`` for an allowed request;
        default ``(200, {})``.
    :param body_429: the JSON body of a 429.

    :ivar arrivals: the arrival time of every request (in order).
    :ivar refused: how many were answered 429.
    """

    def __init__(self, requests: int, per: float, *, clock: Any = None,
                 answer: Answer | None = None,
                 body_429: Mapping[str, Any] | None = None) -> None:
        self.requests = requests
        self.per = per
        self.clock = clock or ScaledClock()
        self.answer = answer or (lambda method, target: (200, {}))
        self.body_429 = dict(body_429 or {"error": "rate limit exceeded"})
        self.arrivals: list[float] = []
        self.refused = 0
        self._window: deque[float] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.port = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def peak(self) -> int:
        """The most arrivals in any window of *per* seconds (``(t - per, t]``)."""
        times = sorted(self.arrivals)
        return max((i + 1 - bisect_right(times, t - self.per) for i, t in enumerate(times)),
                   default=0)

    def arrive(self) -> bool:
        """Count one arrival now (on *clock*); return whether it is within the limit."""
        with self._lock:
            now = self.clock.monotonic()
            self.arrivals.append(now)
            window = self._window
            while window and window[0] <= now - self.per:
                window.popleft()
            window.append(now)
            if len(window) > self.requests:
                self.refused += 1
                return False
            return True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target = [*lines[0].split(" "), "", ""][:2]
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip() or 0)
                if length:
                    await reader.readexactly(length)
                if self.arrive():
                    status, value = self.answer(method, target)
                else:
                    status, value = 429, self.body_429
                body = json.dumps(value).encode()
                reason = "OK" if status < 400 else "Error"
                writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # a client went away, or the server is stopping: nothing to log
        finally:
            writer.close()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def main() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0,
                                                      backlog=2048)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()
            async with self._server:
                await self._server.serve_forever()

        try:
            loop.run_until_complete(main())
        except asyncio.CancelledError:
            pass
        finally:
            loop.close()

    def start(self) -> RateWindowServer:
        """Start serving (returns when the port is known)."""
        self._thread = threading.Thread(target=self._serve, name="rate-window-server",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the rate window server did not start")
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        loop, server = self._loop, self._server
        if loop is not None and server is not None and not loop.is_closed():
            def cancel_all() -> None:
                server.close()
                for task in asyncio.all_tasks(loop):
                    task.cancel()

            loop.call_soon_threadsafe(cancel_all)
        if self._thread is not None:
            self._thread.join(10)

    def transport(self, latency: tuple[float, float] = (0.0, 0.0), *,
                  seed: int = 1, resolution: float = 1 / 32) -> Any:
        """An in-process httpx transport to the same counting window, for a
        :class:`~orchestra_core.testing.FakeClock`: each request travels a random
        *latency* (seconds of the clock, uniform between the two bounds, rounded to
        *resolution* so that a driven fake clock has fewer distinct instants to jump to)
        before it arrives, and a random latency again before its answer is back. No server
        thread is needed."""
        import random

        import httpx

        rng = random.Random(seed)
        server = self

        def delay() -> float:
            value = rng.uniform(*latency)
            return round(value / resolution) * resolution if resolution > 0 else value

        class _Transport(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                await request.aread()
                await server.clock.sleep(delay())
                if server.arrive():
                    status, value = server.answer(request.method, request.url.raw_path.decode())
                else:
                    status, value = 429, server.body_429
                await server.clock.sleep(delay())
                return httpx.Response(status, json=value)

        return _Transport()

    def __enter__(self) -> RateWindowServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
