"""The network side of vendor clients: several connection pools, one SSL context, and an
httpx client that reads cookies only from answers that set some."""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx

__all__ = ("ShardedTransport", "VendorHttpClient", "shared_ssl_context")


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """The SSL context of every vendor transport of the process (httpx's default: the
    certifi bundle, or ``SSL_CERT_FILE``/``SSL_CERT_DIR`` as set when it is first needed).
    Loading the CA bundle takes about 20 ms, so it is done once, not per client and event
    loop."""
    return httpx.create_ssl_context()


class _TrackedStream(httpx.AsyncByteStream):
    """A response body that tells its shard when it is closed (the request is then over)."""

    def __init__(self, stream: httpx.AsyncByteStream, done: Any) -> None:
        self._stream = stream
        self._done = done

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()  # the body's own chunks: no generator in between

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._done is not None:
                self._done()
                self._done = None


class ShardedTransport(httpx.AsyncBaseTransport):
    """Spreads requests over several connection pools sharing one SSL context.

    httpcore's pool scans every connection for every queued request, so one pool serving
    hundreds of concurrent requests spends most of its time in that scan (measured: 500
    concurrent polling jobs against one host take ~12 s through one pool of 1,000 connections
    and ~3 s through 32 pools of 32). Each request goes to the pool with the fewest requests
    in flight (the first such), so light traffic keeps reusing the first pool's connections.
    Each shard is an ordinary :class:`httpx.AsyncHTTPTransport`.

    :param limits: the limits of all shards together (each gets its share).
    :param shards: how many pools.
    :param ssl_context: the pools' SSL context (default: :func:`shared_ssl_context`).
    """

    def __init__(self, limits: httpx.Limits, shards: int = 32,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        ssl_context = ssl_context or shared_ssl_context()
        share = -(-(limits.max_connections or 1000) // shards)
        keep = -(-(limits.max_keepalive_connections or share * shards) // shards)
        shard_limits = httpx.Limits(max_connections=share, max_keepalive_connections=keep,
                                    keepalive_expiry=limits.keepalive_expiry)
        self.shards = [httpx.AsyncHTTPTransport(verify=ssl_context, limits=shard_limits)
                       for _ in range(shards)]
        self.in_flight = [0] * shards

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send *request* through the least busy pool."""
        in_flight = self.in_flight
        index = in_flight.index(min(in_flight))
        in_flight[index] += 1

        def done() -> None:
            in_flight[index] -= 1

        try:
            response = await self.shards[index].handle_async_request(request)
        except BaseException:
            done()
            raise
        if not isinstance(response.stream, httpx.AsyncByteStream):  # pragma: no cover
            done()
            return response
        response.stream = _TrackedStream(response.stream, done)  # no second Response
        return response

    async def aclose(self) -> None:
        """Close every pool."""
        for shard in self.shards:
            await shard.aclose()


class _Cookies(httpx.Cookies):
    """httpx's cookie jar, minus the work for answers that set no cookie.

    httpx hands every response to the jar, which builds ``urllib`` request and ``email``
    message stand-ins of it for :mod:`http.cookiejar` (about 60 us: half of what httpx
    spends on a small JSON answer) even when the answer has no ``Set-Cookie`` header. With
    ``http.cookiejar``'s default policy (no RFC 2965 ``Set-Cookie2``) such an answer leaves
    the jar as it was, so it is skipped; any other goes to the jar as before.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        """Store the cookies *response* sets (none without a ``Set-Cookie`` header)."""
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


class VendorHttpClient(httpx.AsyncClient):
    """The :class:`httpx.AsyncClient` of vendor clients: the same client, whose cookie jar
    skips answers that set no cookie (see :class:`_Cookies`)."""

    def __init__(self, **kwargs: Any) -> None:
        cookies = kwargs.pop("cookies", None)
        super().__init__(**kwargs)
        self.cookies = cookies  # type: ignore[assignment]  # through the setter below

    @property
    def cookies(self) -> httpx.Cookies:
        """The cookies sent with every request (those answers set are added)."""
        return self._vendor_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._vendor_cookies = _Cookies(cookies)
