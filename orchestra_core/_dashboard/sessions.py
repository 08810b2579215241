"""Dashboard sessions, kept server-side: the browser holds only a random session id in an
HttpOnly, SameSite=Strict cookie; the API token it signed in with, its client and scope, and
the session's CSRF token stay in this process."""

from __future__ import annotations

import hmac
import secrets
import threading
import time

from attrs import define

__all__ = ("COOKIE", "SESSION_SECONDS", "Session", "Sessions")

#: The session cookie's name.
COOKIE = "orchestra_session"
#: A session ends this long after it was last used.
SESSION_SECONDS = 8 * 3600


@define
class Session:
    """One signed-in browser: the token (never sent back to it) and what the API said it is."""

    token: str
    name: str
    client: str
    scope: str
    csrf: str
    expires: float

    def csrf_ok(self, presented: str | None) -> bool:
        """Whether *presented* is this session's CSRF token (compared in constant time)."""
        return bool(presented) and hmac.compare_digest(presented or "", self.csrf)


class Sessions:
    """The sessions of one dashboard, by id."""

    def __init__(self, lifetime: float = SESSION_SECONDS) -> None:
        self.lifetime = lifetime
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, token: str, name: str, client: str, scope: str) -> str:
        """Start a session for *token*; return its id (the cookie's value)."""
        sid = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            for key in [k for k, s in self._by_id.items() if s.expires < now]:
                del self._by_id[key]
            self._by_id[sid] = Session(token, name, client, scope, secrets.token_urlsafe(32),
                                       now + self.lifetime)
        return sid

    def get(self, sid: str | None) -> Session | None:
        """The live session *sid*, or ``None``; using it extends its life."""
        if not sid:
            return None
        with self._lock:
            found = self._by_id.get(sid)
            if found is None or found.expires < time.monotonic():
                self._by_id.pop(sid, None)
                return None
            found.expires = time.monotonic() + self.lifetime
            return found

    def close(self, sid: str | None) -> None:
        """End session *sid* (logout)."""
        with self._lock:
            self._by_id.pop(sid or "", None)
