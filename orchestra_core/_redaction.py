"""Masking of secret values wherever text leaves the core.

There is no process-wide redactor: each :class:`~orchestra_core.Orchestra` host owns one
:class:`Redactor` (``host.redactor``), and everything working for that host (its engines,
runs, vendor clients, webhook server, notification channels, CLI output) registers and masks
secrets with it. Every secret the core decrypts (a credential's password, token or API key)
is registered with the host's redactor before any task sees it; the core passes every log
line, task error, task metadata, CLI output, exception message and HTTP response body
through :meth:`Redactor.mask` / :meth:`Redactor.mask_obj`, which replace each registered
value with ``*****``. Plugins that obtain secrets some other way register them with
``host.redactor.add(value)`` (a runner is built with its host, a webhook handler and a
notification channel get it too). A secret registered with one host is never masked, nor
known, by another.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ("MASK", "MIN_SECRET_LENGTH", "URL_PASSWORD", "Redactor", "masked_excerpt")

#: What a secret value is replaced with.
MASK = "*****"

#: The ``user:password@`` of a URL: ``head`` is up to the colon, ``pw`` the password.
URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)@")

#: Values shorter than this are not masked on their own (masking "a" or "1" would mangle
#: every line); credentials are refused below this length when they are set.
MIN_SECRET_LENGTH = 4


class Redactor:
    """A set of secret values and a fast way to mask them in text (thread-safe).

    One belongs to each host (``Orchestra.redactor``)::

        host.redactor.add(token)                  # register a secret
        host.redactor.mask(f"sent {token}")       # "sent *****"
        host.redactor.mask_obj({"auth": token})   # {"auth": "*****"}
    """

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        #: the same alternatives in a lookahead: matches at every start, overlapping ones too
        self._starts: re.Pattern[str] = re.compile("(?!)")
        self._bytes_pattern: re.Pattern[bytes] | None = None
        self._lock = threading.Lock()

    def add(self, *values: str | None) -> None:
        """Register secret *values* (``None``, empty and very short values are ignored)."""
        fresh = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH}
        fresh -= self._values
        if not fresh:
            return
        with self._lock:
            self._values |= fresh
            ordered = sorted(self._values, key=len, reverse=True)  # longest match first
            alternatives = "|".join(re.escape(v) for v in ordered)
            self._starts = re.compile(f"(?=({alternatives}))")
            self._bytes_pattern = re.compile(b"|".join(re.escape(v.encode()) for v in ordered))
            self._pattern = re.compile(alternatives)

    def extend(self, values: Iterable[str | None]) -> None:
        """Register every value of *values*."""
        self.add(*values)

    def clear(self) -> None:
        """Forget every registered value (tests)."""
        with self._lock:
            self._values.clear()
            self._pattern = None
            self._bytes_pattern = None

    def __contains__(self, value: object) -> bool:
        """Whether *value* is registered."""
        return value in self._values

    def __len__(self) -> int:
        """How many values are registered."""
        return len(self._values)

    def mask(self, text: str) -> str:
        """*text* with every registered secret replaced by :data:`MASK`.

        Where secrets overlap (``abcd`` and ``cdef`` in ``abcdef``), the whole stretch they
        cover is masked, so no part of either is left in clear.
        """
        pattern = self._pattern
        if pattern is None or not text or pattern.search(text) is None:
            return text
        spans: list[list[int]] = []
        for found in self._starts.finditer(text):  # every position where a secret starts
            start, end = found.start(1), found.end(1)
            if spans and start < spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        out: list[str] = []
        last = 0
        for start, end in spans:
            out.append(text[last:start])
            out.append(MASK)
            last = end
        out.append(text[last:])
        return "".join(out)

    def excerpt(self, text: str, limit: int, *, marker: str = "...") -> str:
        """*text* masked, **then** cut to *limit* characters (*marker* marks a cut).

        Always mask before cutting: a cut through a secret leaves a prefix of it that
        :meth:`mask` no longer recognises, so truncating first would store most of the secret
        in clear.
        """
        return masked_excerpt(text, limit, self, marker=marker)

    def safe_cut(self, data: bytes, limit: int) -> int:
        """Where to cut *data* (bytes, e.g. a process's output) at most *limit* bytes in so
        that no registered secret is split between the two pieces (each piece is masked on its
        own): *limit*, or the start of a secret that straddles it (its end if it starts at 0)."""
        pattern = self._bytes_pattern
        if pattern is None or len(data) <= limit:
            return limit
        for found in pattern.finditer(data):
            if found.start() >= limit:
                break
            if found.end() > limit:
                return found.start() or found.end()
        return limit

    def mask_obj(self, value: Any) -> Any:
        """A copy of a JSON-like *value* (dicts, lists, strings) with secrets masked."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, Mapping):
            return {self.mask_obj(k): self.mask_obj(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.mask_obj(v) for v in value)
        return value



def masked_excerpt(text: str, limit: int, redactor: Redactor | None = None, *,
                   marker: str = "...") -> str:
    """*text* with *redactor*'s secrets masked, then cut to *limit* characters (*marker*
    appended when cut). The one way text is shortened before it is stored, logged or shown:
    masking first means a secret straddling the cut is never left partly in clear."""
    if redactor is not None:
        text = redactor.mask(text)
    return text if len(text) <= limit else text[:limit] + marker
