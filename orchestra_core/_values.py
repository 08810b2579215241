"""Small helpers every parser shares: the hook error, value descriptions, suggestions, paths.

Standard library only, so the parsers above it (:mod:`~orchestra_core._config`, the trigger and
alert parsers, :mod:`~orchestra_core._triggers.times`) can all use it without importing each
other.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ("InvalidValue", "describe", "key_path", "parse_duration", "suggest")


class InvalidValue(ValueError):
    """Raised by structure hooks; its text is shown to the user as is."""


def describe(value: Any) -> str:
    """*value* as a message names it: ``null``, ``a mapping``, ``the string 'x'``, ``3``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"{value!r}"


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


def key_path(base: str, key: Any) -> str:
    """The JSON path of *key* under *base*: ``$.a.b``, or ``$.a["odd key"]``."""
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return f"{base}.{key}"
    return f"{base}[{json.dumps(key) if isinstance(key, str) else key}]"


def suggest(word: str, choices: list[str] | tuple[str, ...], cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` when *word* is close to one of *choices*, else ``""``."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=cutoff)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*d)?\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*"
                       r"(?:(\d+(?:\.\d+)?)\s*m)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$")


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like ``90``, ``"30s"``, ``"5m"``, ``"1h30m"``, ``"2d"``."""
    if isinstance(value, bool):
        raise InvalidValue(f"expected a duration (seconds or e.g. '5m'), got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            match = _DURATION.match(text)
            if not text or match is None or not any(match.groups()):
                raise InvalidValue(
                    f"expected a duration such as 90, '30s', '5m' or '1h30m', got {value!r}"
                ) from None
            d, h, m, s = (float(g) if g else 0.0 for g in match.groups())
            seconds = d * 86400 + h * 3600 + m * 60 + s
    else:
        raise InvalidValue(f"expected a duration (seconds or e.g. '5m'), got {describe(value)}")
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        raise InvalidValue(f"a duration must be a finite number >= 0, got {value!r}")
    return seconds
