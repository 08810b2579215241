"""API tokens: each belongs to one client and has one scope (``read``, ``run`` or ``admin``).

A token is 32 random bytes (``orc_`` and URL-safe base64), shown once when it is created;
the store keeps only its SHA-256, so neither the store nor a log can give it back. A request
presents it as ``Authorization: Bearer <token>``; :meth:`ApiTokens.verify` hashes it and
looks the hash up.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from attrs import frozen

from .._errors import OrchestraError
from .._store import utc
from .._store.schema import api_tokens

__all__ = ("SCOPES", "ApiTokens", "TokenError", "TokenInfo", "hash_token", "scope_allows")

#: Scopes, weakest first: each allows what the ones before it allow.
SCOPES = ("read", "run", "admin")
PREFIX = "orc_"


class TokenError(OrchestraError):
    """A token name or scope is invalid, or no such token exists."""


def hash_token(token: str) -> str:
    """The SHA-256 (hex) of *token*: what the store keeps."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def scope_allows(have: str, need: str) -> bool:
    """Whether a token of scope *have* may do what needs scope *need*."""
    return SCOPES.index(have) >= SCOPES.index(need)


@frozen(kw_only=True)
class TokenInfo:
    """A stored token as listings show it (never the token or its hash)."""

    id: str
    name: str
    client: str
    scope: str
    created_at: datetime
    created_by: str | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {"id": self.id, "name": self.name, "client": self.client, "scope": self.scope,
                "created_at": _iso(self.created_at), "created_by": self.created_by,
                "last_used_at": _iso(self.last_used_at), "revoked_at": _iso(self.revoked_at)}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _info(row: Any) -> TokenInfo:
    return TokenInfo(id=row["id"], name=row["name"], client=row["client"], scope=row["scope"],
                     created_at=utc(row["created_at"]), created_by=row["created_by"],
                     last_used_at=utc(row["last_used_at"]), revoked_at=utc(row["revoked_at"]))


class ApiTokens:
    """The API tokens kept in a :class:`~orchestra_core.Store`."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def create(self, name: str, *, client: str = "default", scope: str = "read",
               created_by: str | None = None) -> tuple[str, TokenInfo]:
        """Create token *name*; return the token (shown once, never stored) and its record."""
        if not name or len(name) > 200 or not name.replace("-", "").replace("_", "").replace(
                ".", "").isalnum():
            raise TokenError(f"invalid token name {name!r}: use letters, digits, '-', '_' and "
                             "'.', at most 200 characters")
        if scope not in SCOPES:
            raise TokenError(f"invalid scope {scope!r}: one of {', '.join(SCOPES)}")
        if not client or len(client) > 200:
            raise TokenError("a token needs a client name of at most 200 characters")
        token = PREFIX + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        row = dict(id=str(uuid.uuid4()), name=name, client=client, scope=scope,
                   token_hash=hash_token(token), created_at=now, created_by=created_by,
                   last_used_at=None, revoked_at=None)
        with self.store.engine.begin() as conn:
            taken = conn.execute(sa.select(api_tokens.c.id)
                                 .where(api_tokens.c.name == name)).first()
            if taken is not None:
                raise TokenError(f"a token named {name!r} exists already; revoke it or pick "
                                 "another name")
            conn.execute(api_tokens.insert().values(**row))
        return token, _info(row)

    def list(self, *, client: str | None = None, revoked: bool = False) -> list[TokenInfo]:
        """Tokens (of *client*), by name; revoked ones only when *revoked*."""
        query = sa.select(api_tokens).order_by(api_tokens.c.name)
        if client is not None:
            query = query.where(api_tokens.c.client == client)
        if not revoked:
            query = query.where(api_tokens.c.revoked_at.is_(None))
        with self.store.engine.connect() as conn:
            return [_info(r) for r in conn.execute(query).mappings()]

    def revoke(self, name: str) -> TokenInfo:
        """Revoke token *name* (by name or id): it is refused from now on."""
        now = datetime.now(UTC)
        with self.store.engine.begin() as conn:
            row = conn.execute(sa.select(api_tokens).where(
                sa.or_(api_tokens.c.name == name, api_tokens.c.id == name))).mappings().first()
            if row is None:
                raise TokenError(f"no token named {name!r} (see: orchestra tokens list)")
            if row["revoked_at"] is None:
                conn.execute(api_tokens.update().where(api_tokens.c.id == row["id"])
                             .values(revoked_at=now))
                row = {**row, "revoked_at": now}
        return _info(row)

    def verify(self, token: str) -> TokenInfo | None:
        """The live token whose hash matches *token*, or ``None``."""
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        digest = hash_token(token)
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(api_tokens).where(
                api_tokens.c.token_hash == digest,
                api_tokens.c.revoked_at.is_(None))).mappings().first()
        return _info(row) if row is not None else None

    def touch(self, token_id: str) -> None:
        """Record that *token_id* was just used."""
        with self.store.engine.begin() as conn:
            conn.execute(api_tokens.update().where(api_tokens.c.id == token_id)
                         .values(last_used_at=datetime.now(UTC)))
