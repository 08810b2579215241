"""The records the store keeps: what listings show (never a decrypted value)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attrs import asdict, field, frozen

from .._config import suggest
from ._errors import SecretsError

__all__ = (
    "ConnectionInfo",
    "ConstantInfo",
    "CredentialInfo",
    "KeyUsage",
    "RotationReport",
)

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def check_name(kind: str, name: str) -> str:
    """*name* if it is a valid record name, else :class:`SecretsError`."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise SecretsError(
            f"invalid {kind} name {name!r}: use letters, digits, '_', '-' and '.' (not "
            "starting with '-' or '.'), at most 200 characters")
    return name


def check_field(name: str) -> str:
    """*name* if it is a valid credential field name, else :class:`SecretsError`."""
    if not isinstance(name, str) or not _FIELD.match(name):
        raise SecretsError(
            f"invalid credential field name {name!r}: use letters, digits and '_' (not "
            "starting with a digit), at most 64 characters")
    return name


def not_found(kind: str, name: str, existing: list[str]) -> SecretsError:
    """The error for a missing *kind* record *name*."""
    shown = ", ".join(sorted(existing)[:20]) or "none"
    return SecretsError(f"no {kind} named {name!r}{suggest(name, existing)}; stored "
                        f"{kind}s: {shown}")


def _dict(obj: Any) -> dict[str, Any]:
    out = asdict(obj, recurse=False)
    for key, value in out.items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
        elif isinstance(value, tuple):
            out[key] = list(value)
        elif isinstance(value, Mapping):
            out[key] = dict(value)
    return out


@frozen(kw_only=True)
class ConstantInfo:
    """A constant: a named plain-text value shared by every pipeline."""

    name: str
    value: str
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return _dict(self)


@frozen(kw_only=True)
class CredentialInfo:
    """A credential as listings show it: names of its secret fields, never their values.

    :param username: the plain-text user name, if the credential has one.
    :param fields: the names of its encrypted fields (``password``, ``api_key``, ``token``...).
    :param key_id: the id of the key its fields are encrypted with.
    """

    name: str
    username: str | None
    fields: tuple[str, ...]
    key_id: str
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return _dict(self)


@frozen(kw_only=True)
class ConnectionInfo:
    """A stored connection (secondary configuration) of an integration.

    :param integration: the integration it is for (canonical name).
    :param base_url: the API base URL, if not the vendor's default.
    :param auth: the auth scheme (``none``, ``basic``, ``bearer``, ``header``, ...).
    :param credential: the credential holding its secret fields, if any.
    :param options: non-secret settings.
    """

    name: str
    integration: str
    base_url: str | None = None
    auth: str | None = None
    credential: str | None = None
    options: Mapping[str, Any] = field(factory=dict)
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return _dict(self)


@frozen(kw_only=True)
class KeyUsage:
    """One key id: whether it is configured (and primary) and which credentials use it."""

    key_id: str
    configured: bool
    primary: bool
    source: str | None
    credentials: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return _dict(self)


@frozen(kw_only=True)
class RotationReport:
    """What :meth:`~orchestra_core.Secrets.keys` ``.rotate()`` did.

    :param key_id: the primary key everything is now encrypted with.
    :param rotated: credentials re-encrypted (they were under another key).
    :param unchanged: credentials already under the primary key (checked, left as they were).
    """

    key_id: str
    rotated: tuple[str, ...]
    unchanged: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return _dict(self)
