"""Masking of secret values wherever text leaves the core.

Every secret the core decrypts (a credential's password, token or API key) is registered
with the process-wide :data:`redactor` before any task sees it. The core passes every log
line, task error, task metadata, CLI output, exception message and HTTP response body
through :func:`redact` / :func:`redact_obj`, which replace each registered value with
``*****``. Plugins that obtain secrets some other way call :func:`register_secret`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ("MASK", "Redactor", "redact", "redact_obj", "redactor", "register_secret")

#: What a secret value is replaced with.
MASK = "*****"

#: Values shorter than this are not masked on their own (masking "a" or "1" would mangle
#: every line); credentials are refused below this length when they are set.
MIN_SECRET_LENGTH = 4


class Redactor:
    """A set of secret values and a fast way to mask them in text (thread-safe)."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
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
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def extend(self, values: Iterable[str | None]) -> None:
        """Register every value of *values*."""
        self.add(*values)

    def clear(self) -> None:
        """Forget every registered value (tests)."""
        with self._lock:
            self._values.clear()
            self._pattern = None

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def __len__(self) -> int:
        return len(self._values)

    def mask(self, text: str) -> str:
        """*text* with every registered secret replaced by :data:`MASK`."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

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


#: The process-wide redactor the core masks every output with.
redactor = Redactor()


def register_secret(*values: str | None) -> None:
    """Register secret *values* with the process-wide :data:`redactor`."""
    redactor.add(*values)


def redact(text: str) -> str:
    """*text* with every registered secret value masked."""
    return redactor.mask(text)


def redact_obj(value: Any) -> Any:
    """A JSON-like *value* with every registered secret value masked."""
    return redactor.mask_obj(value)
