"""Failure injection: the :class:`Failure` kinds a simulator can answer with, the
:class:`Injection` waiting for matching requests, and the body a failure answers instead."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Mapping
from typing import Any

from attrs import define, field, frozen

__all__ = ("Failure", "Injection", "alter_body")

@frozen(kw_only=True)
class Failure:
    """One injected failure; build it with the class methods.

    :ivar kind: ``status``, ``rate_limited``, ``timeout``, ``malformed``, ``drop``,
        ``connect`` or ``rewrite``.
    :ivar processed: whether the simulator handles the request (changing its state) before
        the failure shows: the ambiguous case a client must not blindly retry.
    """

    kind: str
    code: int = 0
    body: Any = None
    headers: Mapping[str, str] = field(factory=dict)
    processed: bool = False
    retry_after: str | None = None
    rewrite: Callable[[Any], Any] | None = None

    @classmethod
    def status(cls, code: int, *, body: Any = None,
               headers: Mapping[str, str] | None = None) -> Failure:
        """Answer *code* without handling the request; *body* defaults to the simulator's
        :meth:`Simulator.error_response`."""
        return cls(kind="status", code=code, body=body, headers=dict(headers or {}))

    @classmethod
    def rate_limited(cls, retry_after: float | str | None = None, *, body: Any = None) -> Failure:
        """Answer 429, with ``Retry-After: retry_after`` (seconds or an HTTP date) if given."""
        after = None if retry_after is None else (
            retry_after if isinstance(retry_after, str) else f"{retry_after:g}")
        return cls(kind="rate_limited", code=429, body=body, retry_after=after)

    @classmethod
    def timeout(cls, *, processed: bool = False) -> Failure:
        """Never answer: in-process the client gets :class:`httpx.ReadTimeout` at once (no
        real waiting); the real server holds the request until the client gives up (at most
        ``hang_seconds``). With *processed* the request is handled first."""
        return cls(kind="timeout", processed=processed)

    @classmethod
    def malformed_json(cls) -> Failure:
        """Handle the request, then answer with its body cut in half (invalid JSON)."""
        return cls(kind="malformed", processed=True)

    @classmethod
    def drop_after_processing(cls) -> Failure:
        """Handle the request, then drop the connection before the answer is complete
        (in-process: :class:`httpx.RemoteProtocolError`)."""
        return cls(kind="drop", processed=True)

    @classmethod
    def connect_error(cls) -> Failure:
        """Refuse the connection before anything is sent (in-process:
        :class:`httpx.ConnectError`; the real server cannot refuse one request, so it drops
        the connection without an answer)."""
        return cls(kind="connect")

    @classmethod
    def rewrite_json(cls, fn: Callable[[Any], Any]) -> Failure:
        """Handle the request, then answer ``fn(decoded_body)`` instead of its JSON body (e.g.
        an unknown status value: ``lambda b: {**b, "status": "exploded"}``)."""
        return cls(kind="rewrite", processed=True, rewrite=fn)


@define
class Injection:
    """A :class:`Failure` waiting for matching requests (:meth:`Simulator.fail`).

    :ivar remaining: how many more matching requests fail (``None``: all of them).
    :ivar hits: how many requests it failed so far.
    """

    method: str
    pattern: str
    failure: Failure
    remaining: int | None = 1
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether a request of *method* to *path* fails with this injection."""
        return (self.method in ("*", method.upper())
                and fnmatch.fnmatchcase(path, self.pattern)
                and (self.remaining is None or self.remaining > 0))


def alter_body(failure: Failure, content: bytes) -> bytes:
    """The body a ``malformed`` or ``rewrite`` failure answers instead of *content*."""
    if failure.kind == "malformed":
        return content[: max(1, len(content) // 2)] if len(content) > 1 else b"{"
    if failure.kind == "rewrite" and failure.rewrite is not None:
        return json.dumps(failure.rewrite(json.loads(content) if content.strip() else None)
                          ).encode()
    return content
