"""The real server of a simulator: the ASGI app uvicorn runs (recording requests and
applying failure injections on the wire) and ``serve()``, which runs it in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import anyio
from starlette.responses import Response

from ._auth import is_loopback
from ._failures import Failure, alter_body

__all__ = ("RealServer",)

class _Dropped(Exception):
    """Raised inside the real server to make uvicorn close the connection."""


def _quiet_drops(record: logging.LogRecord) -> bool:
    """Keep uvicorn from logging the tracebacks of injected connection drops."""
    return not (record.exc_info and isinstance(record.exc_info[1], _Dropped))


class RealServer:
    """The real-server half of :class:`~orchestra_core.testing.Simulator` (a mixin): the ASGI
    app uvicorn runs, and :meth:`serve`."""

    name: ClassVar[str]
    base_path: ClassVar[str]
    hang_seconds: ClassVar[float]
    served_url: str | None
    _router: Any
    _record: Callable[..., None]
    _take: Callable[[str, str], Failure | None]
    _failure_response: Callable[[Failure], Response]
    _core_app: Callable[..., Any]
    deliver_due: Callable[..., Any]

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI app the real server runs: records requests and applies injections."""
        if scope["type"] != "http":
            await self._router(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self._record(scope["method"], scope["path"], scope.get("query_string", b"").decode(
            "latin-1"), headers, body)
        failure = self._take(scope["method"], scope["path"])
        if failure is None:
            await self._core_app(scope, replay, send)
            return
        if failure.kind in ("status", "rate_limited"):
            await self._failure_response(failure)(scope, replay, send)
            return
        start: dict[str, Any] = {}
        parts: list[bytes] = []
        if failure.processed:
            async def capture(message: Any) -> None:
                if message["type"] == "http.response.start":
                    start.update(message)
                elif message["type"] == "http.response.body":
                    parts.append(message.get("body", b""))

            await self._core_app(scope, replay, capture)
        if failure.kind == "timeout":
            with anyio.move_on_after(self.hang_seconds):
                while (await receive())["type"] != "http.disconnect":
                    pass
            return
        content = b"".join(parts)
        if failure.kind in ("drop", "connect"):
            headers_out = [(k, v) for k, v in start.get("headers", [])
                           if k.lower() != b"content-length"]
            await send({"type": "http.response.start", "status": start.get("status", 200),
                        "headers": [*headers_out, (b"content-length",
                                                   str(len(content) + 100).encode())]})
            await send({"type": "http.response.body", "body": content[: len(content) // 2],
                        "more_body": True})
            raise _Dropped("simulated connection drop")
        content = alter_body(failure, content)
        headers_out = [(k, v) for k, v in start.get("headers", [])
                       if k.lower() != b"content-length"]
        await send({"type": "http.response.start", "status": start.get("status", 200),
                    "headers": [*headers_out, (b"content-length", str(len(content)).encode())]})
        await send({"type": "http.response.body", "body": content})

    @contextlib.contextmanager
    def serve(self, port: int = 0, host: str = "127.0.0.1", *,
              webhook_interval: float = 0.05) -> Iterator[str]:
        """Run the simulator as a real HTTP server (uvicorn, in a thread) on *host*:*port*
        (0: a free port), delivering due webhooks every *webhook_interval* seconds. Yields
        the base URL (``http://127.0.0.1:PORT`` + ``base_path``)."""
        import uvicorn

        if not is_loopback(host):
            raise ValueError(f"a simulator only listens on this machine, not on {host!r}")
        config = uvicorn.Config(self.app, host=host, port=port, log_level="error",
                                lifespan="off", access_log=False, interface="asgi3",
                                timeout_graceful_shutdown=1)
        logging.getLogger("uvicorn.error").addFilter(_quiet_drops)
        server = uvicorn.Server(config)
        failed: list[BaseException] = []

        async def main() -> None:
            serving = asyncio.ensure_future(server.serve())
            while not server.should_exit and not serving.done():
                if server.started:
                    try:
                        await self.deliver_due()
                    except Exception as exc:  # keep serving; the error is in deliveries
                        failed.append(exc)
                await asyncio.sleep(webhook_interval)
            await serving

        def run() -> None:
            try:
                asyncio.run(main())
            except BaseException as exc:
                failed.append(exc)

        thread = threading.Thread(target=run, name=f"simulator-{self.name}", daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the {self.name} simulator could not start on {host}:{port}"
                                   + (f": {failed[0]}" if failed else ""))
            thread.join(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        self.served_url = f"http://{host}:{bound}{self.base_path}"
        try:
            yield self.served_url
        finally:
            server.should_exit = True
            thread.join(10)
            self.served_url = None
