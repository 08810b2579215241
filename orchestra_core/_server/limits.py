"""The limits of the HTTP edge: how many requests at once, how large and how slow a body may be.

:class:`EdgeLimits` is an ASGI middleware :func:`~orchestra_core.create_app` installs in
front of every route (webhooks, health, and any route added later):

- **concurrency**: at most ``max_requests`` requests are handled at once; one more is
  answered **503** with ``Retry-After: 1`` at once, without reading its body;
- **body size**: a body larger than ``max_body`` bytes is refused with **413**, whether its
  ``Content-Length`` says so (refused before anything is read) or it arrives in chunks
  without one (refused as soon as the bytes read exceed the limit: at most ``max_body`` bytes
  plus one chunk are ever held);
- **body time**: the whole body must arrive within ``body_timeout`` seconds of the request
  (a client that sends half a body and stalls holds nothing longer): **408** otherwise;
- a client that disconnects before its body is complete is logged in one line (no
  traceback) and nothing else happens.

A refused request is answered with ``Connection: close``: the server closes the connection
rather than read the rest of a body it does not want.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
from starlette.requests import ClientDisconnect

__all__ = ("BODY_TIMEOUT", "MAX_BODY", "MAX_REQUESTS", "BodyRefused", "EdgeLimits")

logger = logging.getLogger("orchestra_core.server")

#: Largest request body accepted, in bytes (1 MiB).
MAX_BODY = 1024 * 1024
#: Seconds a client has to send a whole request body.
BODY_TIMEOUT = 10.0
#: Requests handled at once; more are answered 503.
MAX_REQUESTS = 64

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyRefused(Exception):
    """Raised by the limited ``receive`` when a body is too large or too slow; the middleware
    answers it with *status*."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class EdgeLimits:
    """ASGI middleware enforcing the limits described in the module documentation.

    :param app: the wrapped ASGI app.
    :param max_body: largest body, in bytes.
    :param body_timeout: seconds allowed to receive a whole body.
    :param max_requests: requests handled at once.
    """

    def __init__(self, app: Any, *, max_body: int = MAX_BODY,
                 body_timeout: float = BODY_TIMEOUT, max_requests: int = MAX_REQUESTS) -> None:
        self.app = app
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.max_requests = max_requests
        #: requests being handled now
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope (only ``http`` scopes are limited)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.active >= self.max_requests:
            await _refuse(send, 503, f"too many requests at once (at most "
                          f"{self.max_requests}); retry later", retry_after=True)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            await _refuse(send, 413, f"request body larger than {self.max_body} bytes")
            return
        self.active += 1
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, self._limited(receive), tracked_send)
        except BodyRefused as exc:
            logger.info("%s %s refused (%d): %s", scope.get("method"), scope.get("path"),
                        exc.status, exc.message)
            if not started:
                await _refuse(send, exc.status, exc.message)
        except ClientDisconnect:
            logger.info("%s %s: the client disconnected before sending its whole body",
                        scope.get("method"), scope.get("path"))
        finally:
            self.active -= 1

    def _limited(self, receive: Receive) -> Receive:
        """*receive* counting body bytes against the size limit and the time limit."""
        received = 0
        deadline = anyio.current_time() + self.body_timeout
        done = False

        async def limited() -> Message:
            nonlocal received, done
            if done:  # the body is complete: waiting for a disconnect is not limited
                return await receive()
            remaining = deadline - anyio.current_time()
            message = None
            if remaining > 0:
                with anyio.move_on_after(remaining):
                    message = await receive()
            if message is None:
                raise BodyRefused(408, f"the request body did not arrive within "
                                       f"{self.body_timeout:g} s")
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyRefused(413, f"request body larger than {self.max_body} bytes")
                if not message.get("more_body", False):
                    done = True
            return message

        return limited


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) < 20 else None
    return None


async def _refuse(send: Send, status: int, message: str, *, retry_after: bool = False) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    if retry_after:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
