"""What the ``http`` integration sends: a task's request settings, filled in from its
connection (base URL, method, endpoint, headers and the auth scheme's headers)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from .._errors import TaskFailed
from ._http_text import safe_url

if TYPE_CHECKING:
    from .http import HttpParameters

__all__ = ("AUTH_SCHEMES", "RequestSettings", "join_url", "origin")

def join_url(base_url: str | None, endpoint: str) -> str:
    """*endpoint* if it is a full URL, else *base_url* and *endpoint* joined by one slash."""
    if "://" in endpoint or not base_url:
        return endpoint
    if not endpoint:
        return base_url
    return base_url.rstrip("/") + "/" + endpoint.lstrip("/")


def _from_connection(connection: Any, name: str) -> Any:
    """Attribute, option or key *name* of a resolved connection (``None`` when it has none)."""
    if connection is None:
        return None
    if isinstance(connection, Mapping):
        return connection.get(name)
    value = getattr(connection, name, None)
    if value is None:
        value = (getattr(connection, "options", None) or {}).get(name)
    return value


#: Auth schemes the http integration applies from a connection.
AUTH_SCHEMES = ("none", "basic", "bearer", "header")


def _auth_headers(connection: Any, redactor: Any) -> dict[str, str]:
    """The headers a connection's auth scheme adds: ``basic`` (username and password),
    ``bearer`` (``Authorization: Bearer TOKEN``) or ``header`` (the option ``header``,
    default ``X-API-Key``, set to the token). The token is the credential's ``token``,
    ``api_key`` or ``password`` field, the first present. A basic-auth header's encoded
    credentials are registered with *redactor* (the host's)."""
    auth = _from_connection(connection, "auth")
    if not auth or auth == "none" or isinstance(connection, Mapping):
        return {}
    secrets = getattr(connection, "secrets", None) or {}
    name = getattr(connection, "name", "?")
    if auth == "basic":
        from .._secrets._resolve import basic_auth_token

        username, password = secrets.get("username"), secrets.get("password")
        if not username or not password:
            raise TaskFailed(f"connection {name!r} uses basic auth but its credential has no "
                             "username and password", retryable=False)
        return {"Authorization": f"Basic {basic_auth_token(redactor, username, password)}"}
    if auth in ("bearer", "header"):
        token = next((secrets[f] for f in ("token", "api_key", "password") if secrets.get(f)),
                     None)
        if token is None:
            raise TaskFailed(f"connection {name!r} uses {auth} auth but its credential has no "
                             "token, api_key or password field", retryable=False)
        if auth == "bearer":
            return {"Authorization": f"Bearer {token}"}
        header = (getattr(connection, "options", None) or {}).get("header") or "X-API-Key"
        return {str(header): token}
    raise TaskFailed(f"connection {name!r}: the http integration does not support auth "
                     f"scheme {auth!r} (use {', '.join(AUTH_SCHEMES)})", retryable=False)


class RequestSettings:
    """A task's request settings: its parameters, filled in from its connection (secrets it
    derives registered with *redactor*)."""

    def __init__(self, params: HttpParameters, connection: Any, redactor: Any) -> None:
        self.base_url = params.base_url or _from_connection(connection, "base_url")
        method = params.method or _from_connection(connection, "method")
        self.endpoint = params.endpoint or _from_connection(connection, "endpoint")
        headers: dict[str, str] = _auth_headers(connection, redactor)
        for source in (_from_connection(connection, "headers"), params.headers):
            for key, value in (source or {}).items():
                for same in [k for k in headers if k.lower() == str(key).lower()]:
                    del headers[same]  # the task's own header wins over the connection's
                headers[str(key)] = str(value)
        self.headers = headers
        missing = []
        if not method:
            missing.append("method")
        if not self.endpoint:
            missing.append("endpoint")
        if not self.base_url and "://" not in str(self.endpoint or ""):
            missing.append("base_url")
        if missing:
            raise TaskFailed(
                f"the http request needs {' and '.join(missing)}: give them as parameters or "
                "through a connection (secondary_configuration_id)",
                retryable=False,
            )
        self.method = str(method).upper()
        self.url = join_url(self.base_url, str(self.endpoint))


@functools.lru_cache(maxsize=1024)
def origin(url: str) -> str:
    """``scheme://host[:port]`` of *url*: the base URL of the client that sends to it.

    :raises TaskFailed: (not retryable) when *url* is not a valid URL.
    """
    try:
        httpx.URL(url)
        parts = urlsplit(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise TaskFailed(f"invalid URL {safe_url(url)!r}: {exc}", retryable=False) from exc
    return f"{parts.scheme}://{parts.netloc}"


