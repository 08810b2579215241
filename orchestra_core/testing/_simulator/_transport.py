"""The in-process httpx transport into a simulator: no network, same failure injections."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from starlette.responses import Response

from ._failures import alter_body

if TYPE_CHECKING:
    from ._base import Simulator

__all__ = ("SimulatorTransport",)

class SimulatorTransport(httpx.AsyncBaseTransport):
    """Sends requests straight into a simulator's app (no network), applying its failure
    injections; ``Simulator.transport`` returns one."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self._inner = httpx.ASGITransport(app=simulator._core_app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Record *request*, apply any injected failure, else answer from the app."""
        sim = self.simulator
        body = await request.aread()
        path = request.url.path
        sim._record(request.method, path, request.url.query.decode("ascii", "replace"),
                    request.headers, body)
        failure = sim._take(request.method, path)
        if failure is None:
            return await self._inner.handle_async_request(request)
        if failure.kind == "connect":
            raise httpx.ConnectError("simulated: connection refused", request=request)
        if failure.kind in ("status", "rate_limited"):
            return _to_httpx(sim._failure_response(failure))
        if failure.kind == "timeout" and not failure.processed:
            raise httpx.ReadTimeout("simulated: no answer", request=request)
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        if failure.kind == "timeout":
            raise httpx.ReadTimeout("simulated: no answer (the request was handled)",
                                    request=request)
        if failure.kind == "drop":
            raise httpx.RemoteProtocolError(
                "simulated: server disconnected without sending a complete response",
                request=request)
        content = alter_body(failure, content)
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=headers, content=content)


def _to_httpx(response: Response) -> httpx.Response:
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers]
    return httpx.Response(response.status_code, headers=headers, content=response.body)

