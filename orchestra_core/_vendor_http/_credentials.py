"""The credentials of a vendor client: the header basic auth sends, the key that tells
cached clients apart, and registering secret header values with the redactor."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Hashable, Mapping

import httpx

from .._redaction import Redactor

__all__ = ("Auth", "auth_key", "basic_auth_header", "register_credentials")

#: What ``auth=`` takes: an :class:`httpx.Auth` or a ``(username, password)`` pair.
Auth = httpx.Auth | tuple[str, str]
#: Header names whose values are registered as secrets (lower case; plus any name containing
#: ``token``, ``secret``, ``key`` or ``password``).
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
NOT_SECRET_HEADERS = frozenset({"idempotency-key"})


def basic_auth_header(auth: Auth | None) -> str | None:
    """The ``Authorization`` header a basic *auth* sends (``None`` for other auth).

    A ``(username, password)`` pair is encoded directly; an :class:`httpx.BasicAuth` is asked
    through its public auth flow (never its private attributes).
    """
    if isinstance(auth, tuple):
        user, password = auth
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return f"Basic {token}"
    if isinstance(auth, httpx.BasicAuth):
        flow = auth.sync_auth_flow(httpx.Request("GET", "https://vendor.invalid/"))
        try:
            return next(flow).headers.get("Authorization")
        finally:
            flow.close()
    return None


def auth_key(auth: Auth | None) -> Hashable:
    """What identifies *auth* among cached clients: a digest of the basic-auth credentials
    (equal credentials give equal keys, whichever form they came in), else *auth* itself
    (other :class:`httpx.Auth` objects are compared by identity)."""
    header = basic_auth_header(auth)
    if header is not None:
        return ("basic", hashlib.sha256(header.encode()).hexdigest())
    return auth


def register_credentials(redactor: Redactor, headers: Mapping[str, str],
                          auth: Auth | None) -> None:
    """Register credential values with *redactor*, so no log or error can show them.

    Of a ``<scheme> <credential>`` value (``Bearer abc``, ``Basic abc``) the credential is
    registered, so a masked line still names the scheme; other values are registered whole.
    """
    for name, value in headers.items():
        lower = name.lower()
        if lower in NOT_SECRET_HEADERS:
            continue
        if lower in SECRET_HEADERS or any(w in lower for w in ("token", "secret", "key",
                                                                "password")):
            parts = value.split()
            if len(parts) == 2 and parts[0].isalpha():
                redactor.add(parts[1])
                if parts[0].lower() == "basic":
                    _register_basic(redactor, parts[1])
            else:
                redactor.add(value)
    header = basic_auth_header(auth)
    if header is not None:
        redactor.add(header[6:])
        _register_basic(redactor, header[6:])


def _register_basic(redactor: Redactor, encoded: str) -> None:
    try:
        user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return
    redactor.add(password)
    if len(user) >= 12:  # an API key used as the user name; short names are not secrets
        redactor.add(user)
