"""Request helpers for simulators: who is asking (HTTP Basic, bearer tokens), how vendors sign
webhooks (HMAC-SHA256), and whether a host is this machine."""

from __future__ import annotations

import base64
import hashlib
import hmac

from starlette.requests import Request

__all__ = ("basic_credentials", "bearer_token", "hmac_sha256", "is_loopback")

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_loopback(host: str | None) -> bool:
    """Whether *host* (a name or address) is this machine."""
    return bool(host) and (host in LOOPBACK_HOSTS or host.startswith("127."))


def hmac_sha256(secret: str | bytes, body: bytes, *, encoding: str = "hex") -> str:
    """HMAC-SHA256 of *body* keyed with *secret*: ``"hex"`` (lower case), ``"HEX"`` (upper
    case) or ``"base64"``. The signature recipes of vendors' webhooks are built on this."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, body, hashlib.sha256)
    if encoding == "hex":
        return digest.hexdigest()
    if encoding == "HEX":
        return digest.hexdigest().upper()
    if encoding == "base64":
        return base64.b64encode(digest.digest()).decode("ascii")
    raise ValueError(f"unknown encoding {encoding!r}: use 'hex', 'HEX' or 'base64'")


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """The ``(user, password)`` of a request's HTTP Basic ``Authorization``, or ``None``."""
    value = request.headers.get("authorization", "")
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def bearer_token(request: Request, schemes: tuple[str, ...] = ("bearer",)) -> str | None:
    """The token of ``Authorization: <scheme> <token>`` for one of *schemes* (compared
    case-insensitively; ``("token", "bearer")`` for dbt Cloud), or ``None``."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() in {s.lower() for s in schemes} and token.strip():
        return token.strip()
    return None

