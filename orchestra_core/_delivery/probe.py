"""What ``orchestra destinations test`` and ``POST /api/v1/destinations/{name}/test`` do
(a reachability check that delivers nothing), and how a destination's options are shown
without a secret (``GET /api/v1/destinations``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .._redaction import MASK, URL_PASSWORD

__all__ = ("check_reachable", "public_options")

#: Option names (and nested keys, such as a header) whose values are never shown.
SECRET_NAME = re.compile(r"pass(word|wd)?|secret|token|api[_-]?key|authori[sz]ation|"
                         r"private[_-]?key|cookie|signature", re.IGNORECASE)


def public_options(value: Any, key: str = "") -> Any:
    """*value* (a destination's options) with every secret-looking value replaced by
    ``*****``: keys naming a password, token, secret, API key or authorization (at any
    depth), and the password of a URL."""
    if isinstance(value, Mapping):
        return {k: public_options(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [public_options(v, key) for v in value]
    if key and SECRET_NAME.search(key) and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return URL_PASSWORD.sub(lambda m: m["head"] + MASK + "@" if m["pw"] else m[0], value)
    return value


async def check_reachable(host: Any, store: Any, name: str) -> bool:
    """Check that stored destination *name* is reachable and writable, delivering nothing.

    ``True`` when its type checked it, ``False`` when its type has no check (its options are
    valid); a failed check raises (:class:`~orchestra_core.DeliveryFailed` and the like)."""
    from .runner import resolve_destination

    _, destination, _ = resolve_destination(host, store, name, env=None)
    check = getattr(destination, "check", None)
    if check is None:
        return False
    await check()
    return True
