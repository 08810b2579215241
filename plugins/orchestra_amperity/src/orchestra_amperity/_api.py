"""Calls to the Amperity API (version ``2024-04-01``) through the core's vendor HTTP layer.

Every request carries ``Authorization: Bearer <token>``, ``amperity-tenant`` and
``api-version``, and waits for the tenant's share of Amperity's 10 requests per second (one
budget per API host and tenant for every task of the host). The token is either the
connection's static ``token`` or an OAuth access token obtained with the connection's
``client_id``/``client_secret`` from ``POST /api/v0/oauth2/token`` and kept in the
:class:`AccessTokens` of the host's Amperity runners, shared by every task of that host that
uses the same API host, tenant and client (never by another host); it is refreshed before
``expires_in`` runs out (and once more if Amperity answers 401). Tokens and client secrets are
registered with the host's redactor (``host.redactor``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import anyio
import httpx
from anyio.lowlevel import RunVar
from attrs import define

from orchestra_core import RateLimit, TaskFailed, VendorHTTPError, format_timestamp, parse_timestamp

__all__ = (
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "ENV",
    "RATE_LIMIT_REQUESTS",
    "RATE_LIMIT_SECONDS",
    "TOKEN_PATH",
    "AccessTokens",
    "AmperityAPI",
    "api_time",
    "parse_time",
)

#: The API root of AWS-hosted tenants (Azure: ``https://<tenant>.amperity.com/api``).
DEFAULT_BASE_URL = "https://app.amperity.com/api"
#: The API version this plugin speaks (sent as the ``api-version`` header).
API_VERSION = "2024-04-01"
#: The OAuth client-credentials endpoint, under the API root.
TOKEN_PATH = "/v0/oauth2/token"
#: "The Amperity API allows 10 requests per second."
RATE_LIMIT_REQUESTS = 10
RATE_LIMIT_SECONDS = 1.0
#: Quick-start environment variables, by connection field.
ENV = {
    "token": "AMPERITY_TOKEN",
    "client_id": "AMPERITY_CLIENT_ID",
    "client_secret": "AMPERITY_CLIENT_SECRET",
    "tenant": "AMPERITY_TENANT",
    "base_url": "AMPERITY_BASE_URL",
}
#: An access token is refreshed this long before it expires (at most a tenth of its life).
REFRESH_MARGIN = 60.0


#: *when* as the API's ``created_from`` filter takes it (ISO 8601, UTC, ``Z``).
api_time = format_timestamp
#: A timestamp of the API (``2026-03-01T15:33:51.724Z``), or ``None``.
parse_time = parse_timestamp


@define
class _Token:
    value: str
    refresh_at: datetime


class AccessTokens:
    """OAuth access tokens by (API root, tenant, client id digest), with one lock per key and
    event loop so that concurrent tasks fetch a token once.

    One belongs to the Amperity runners of a host (:class:`~.runner.AmperityWorkflowRunner`
    ``tokens``): never shared with another host.
    """

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        self._locks: RunVar[dict[tuple[str, str, str], anyio.Lock] | None] = RunVar(
            f"orchestra_amperity_token_locks_{id(self)}", None)

    def get(self, key: tuple[str, str, str]) -> _Token | None:
        """The cached token of *key*, or ``None``."""
        return self._tokens.get(key)

    def put(self, key: tuple[str, str, str], token: _Token) -> None:
        """Cache *token* for *key*."""
        self._tokens[key] = token

    def forget(self) -> None:
        """Drop every cached token (a rotated client secret)."""
        self._tokens.clear()

    def discard(self, key: tuple[str, str, str]) -> None:
        """Drop the token of *key*, if any."""
        self._tokens.pop(key, None)

    def __len__(self) -> int:
        """How many tokens are cached."""
        return len(self._tokens)

    def lock(self, key: tuple[str, str, str]) -> anyio.Lock:
        """The current event loop's lock of *key*."""
        locks = self._locks.get()
        if locks is None:
            locks = {}
            self._locks.set(locks)
        return locks.setdefault(key, anyio.Lock())


class _FormBody(httpx.Auth):
    """Sends *fields* as an ``application/x-www-form-urlencoded`` body.

    The vendor HTTP layer sends JSON bodies; Amperity's token endpoint wants a form, so the
    body is attached here, on every attempt the layer makes (retries included).
    """

    def __init__(self, fields: Mapping[str, str]) -> None:
        self._body = urlencode(dict(fields)).encode()

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        """Attach the form body to *request*."""
        request.headers["Content-Type"] = "application/x-www-form-urlencoded"
        request.headers["Content-Length"] = str(len(self._body))
        request.stream = httpx.ByteStream(self._body)
        request._content = self._body
        yield request


def _secret(conn: Any, name: str) -> str | None:
    getter = getattr(conn, "secret", None)
    value = getter(name) if callable(getter) else (getattr(conn, "secrets", None) or {}).get(
        name)
    return value.strip() if isinstance(value, str) and value.strip() else None


class AmperityAPI:
    """The Amperity API as one task sees it: its connection's API root, tenant and
    credentials.

    :param host: the :class:`~orchestra_core.Orchestra` (its ``vendor_client`` shares
        connection pools, the transport a test installed, and the host's rate limit; its
        ``redactor`` masks the token and client secret).
    :param ctx: the task's context (retries wait on its clock and log to its run log).
    :param tokens: the :class:`AccessTokens` OAuth tokens are cached in (the runner's);
        default: a new cache of this API object's own.
    :raises TaskFailed: (not retryable) when there is no connection, no tenant, or neither a
        token nor client credentials.
    """

    def __init__(self, host: Any, ctx: Any, tokens: AccessTokens | None = None) -> None:
        conn = ctx.connection
        if conn is None:
            raise TaskFailed(
                "no Amperity connection: set AMPERITY_TENANT and either AMPERITY_TOKEN or "
                "AMPERITY_CLIENT_ID and AMPERITY_CLIENT_SECRET (and AMPERITY_BASE_URL for an "
                "Azure tenant or a simulator), or create a connection (orchestra connections "
                "add NAME --integration amperity --option tenant=...) and name it in the "
                "task's secondary_configuration_id", retryable=False,
            )
        options = getattr(conn, "options", None) or {}
        tenant = options.get("tenant") or _secret(conn, "tenant")
        if not isinstance(tenant, str) or not tenant.strip():
            raise TaskFailed(
                f"the Amperity connection {conn.name!r} names no tenant: set its option "
                "'tenant' (quick start: AMPERITY_TENANT) to the tenant id, e.g. acme or "
                "acme-sandbox", retryable=False,
            )
        self.tenant = tenant.strip()
        self.token = _secret(conn, "token")
        self.client_id = _secret(conn, "client_id")
        self.client_secret = _secret(conn, "client_secret")
        if self.token is None and (self.client_id is None or self.client_secret is None):
            raise TaskFailed(
                f"the Amperity connection {conn.name!r} has no credentials: its credential "
                "needs 'token' (an API access token) or 'client_id' and 'client_secret' (quick "
                "start: AMPERITY_TOKEN, or AMPERITY_CLIENT_ID and AMPERITY_CLIENT_SECRET)",
                retryable=False,
            )
        host.redactor.add(self.token, self.client_secret)
        self.base_url = (getattr(conn, "base_url", None) or DEFAULT_BASE_URL).rstrip("/")
        self.host = host
        self.ctx = ctx
        self.tokens = tokens if tokens is not None else AccessTokens()
        self.rate_limit = RateLimit(RATE_LIMIT_REQUESTS, RATE_LIMIT_SECONDS,
                                    key=f"{self.base_url} tenant={self.tenant}")
        self.client = host.vendor_client(
            "amperity", base_url=self.base_url,
            headers={"amperity-tenant": self.tenant, "api-version": API_VERSION,
                     "Accept": "application/json"},
            rate_limit=self.rate_limit,
        )

    @property
    def uses_oauth(self) -> bool:
        """Whether requests use OAuth client credentials (no static token)."""
        return self.token is None

    # -- tokens ---------------------------------------------------------------------------------

    def _token_key(self) -> tuple[str, str, str]:
        digest = hashlib.sha256(f"{self.client_id}\0{self.client_secret}".encode()).hexdigest()
        return (self.base_url, self.tenant, digest[:24])

    def cached_token(self) -> str | None:
        """The static token, or the cached OAuth token while it is not due for refresh;
        ``None`` when one must be fetched."""
        if self.token is not None:
            return self.token
        cached = self.tokens.get(self._token_key())
        if cached is not None and self.ctx.now() < cached.refresh_at:
            return cached.value
        return None

    def forget_token(self, value: str) -> None:
        """Drop the cached OAuth token if it is *value* (Amperity rejected it)."""
        key = self._token_key()
        cached = self.tokens.get(key)
        if cached is not None and cached.value == value:
            self.tokens.discard(key)

    async def access_token(self, *, rejected: str | None = None) -> str:
        """The bearer token to send: the static one, or a valid OAuth access token (fetched
        when none is cached, when it is due for refresh, or when it is the *rejected* one)."""
        if self.token is not None:
            return self.token
        key = self._token_key()
        async with self.tokens.lock(key):
            cached = self.tokens.get(key)
            if cached is not None and cached.value != rejected and \
                    self.ctx.now() < cached.refresh_at:
                return cached.value
            token = await self._fetch_token()
            self.tokens.put(key, token)
            return token.value

    async def _fetch_token(self) -> _Token:
        """``POST /api/v0/oauth2/token`` with the client credentials (form-encoded)."""
        form = {"grant_type": "client_credentials", "client_id": str(self.client_id),
                "client_secret": str(self.client_secret)}
        client = self.host.vendor_client(
            "amperity", base_url=self.base_url, auth=_FormBody(form),
            headers={"X-Amperity-Tenant": self.tenant, "Accept": "application/json"},
            rate_limit=self.rate_limit,
        )
        asked = self.ctx.now()
        try:
            body = await client.post(TOKEN_PATH, ctx=self.ctx, idempotent=True)
        except VendorHTTPError as exc:
            if exc.status in (400, 401, 403):
                raise TaskFailed(
                    f"Amperity refused the client credentials of tenant {self.tenant!r} "
                    f"({exc}); check client_id and client_secret (an API key's OAuth "
                    "client, Settings > Security > API keys)",
                    retryable=False, metadata=exc.metadata,
                ) from exc
            raise
        value = body.get("access_token") if isinstance(body, Mapping) else None
        if not isinstance(value, str) or not value:
            raise TaskFailed("Amperity's token endpoint answered without an access_token",
                             retryable=True)
        self.host.redactor.add(value)
        expires = body.get("expires_in")
        life = float(expires) if isinstance(expires, int | float) and expires > 0 else 3600.0
        margin = min(REFRESH_MARGIN, life / 10)
        self.ctx.log(f"obtained an Amperity access token for tenant {self.tenant} (valid "
                     f"{life:g} s)", level="info")
        return _Token(value, asked + timedelta(seconds=life - margin))

    # -- requests -------------------------------------------------------------------------------

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request with the bearer token, taken once the request has its slot of the
        rate limit (a token fetched before a long wait could expire while it waits); with
        OAuth, a 401 renews the token and sends once more."""
        bearer = _Bearer(self)
        try:
            return await self.client.request(method, path, credentials=bearer, ctx=self.ctx,
                                             **kwargs)
        except VendorHTTPError as exc:
            if exc.status != 401 or not self.uses_oauth:
                raise _auth_hint(exc, self) from exc
            self.ctx.log("Amperity rejected the access token (401); getting a new one",
                         level="warning")
            if bearer.sent is not None:
                self.forget_token(bearer.sent)
        try:
            return await self.client.request(method, path, credentials=_Bearer(self),
                                             ctx=self.ctx, **kwargs)
        except VendorHTTPError as exc:
            raise _auth_hint(exc, self) from exc

    async def start(self, body: Mapping[str, Any], find_existing: Any) -> Mapping[str, Any]:
        """``POST /api/workflow/runs``: the new workflow run (201)."""
        found = await self.request("POST", "/workflow/runs", json=dict(body),
                                   find_existing=find_existing)
        if not isinstance(found, Mapping):
            raise TaskFailed(f"Amperity answered POST /workflow/runs without a workflow run: "
                             f"{self.host.redactor.excerpt(repr(found), 200)}",
                             retryable=None)
        return found

    async def run(self, run_id: str) -> Mapping[str, Any]:
        """``GET /api/workflow/runs/{id}?view=verbose``."""
        found = await self.request("GET", f"/workflow/runs/{quote(run_id, safe='')}",
                                   params={"view": "verbose"})
        if not isinstance(found, Mapping):
            raise TaskFailed(f"Amperity answered GET /workflow/runs/{run_id} without a "
                             "workflow run", retryable=True)
        return found

    async def stop(self, run_id: str) -> Any:
        """``POST /api/workflow/runs/{id}/stop`` (stopping twice is harmless)."""
        return await self.request("POST", f"/workflow/runs/{quote(run_id, safe='')}/stop",
                                  idempotent=True)

    async def runs_since(self, since: datetime, workflow_type: str | None, *,
                         skew: float = 5.0, max_pages: int = 20) -> list[Mapping[str, Any]]:
        """Workflow runs created at or after *since* (less *skew* seconds of clock difference)
        of *workflow_type*, oldest first, following ``next_token`` pages."""
        after = since - timedelta(seconds=skew)
        params: dict[str, Any] = {"created_from": api_time(after), "limit": 100}
        if workflow_type:
            params["type"] = workflow_type
        runs: list[Mapping[str, Any]] = []
        for _ in range(max_pages):
            page = await self.request("GET", "/workflow/runs", params=params)
            data = page.get("data") if isinstance(page, Mapping) else None
            if not isinstance(data, list):
                raise TaskFailed("Amperity answered GET /workflow/runs without a 'data' list",
                                 retryable=True)
            runs += [r for r in data if isinstance(r, Mapping) and r.get("id")]
            token = page.get("next_token")
            if not isinstance(token, str) or not token:
                break
            params = {**params, "next_token": token}
        kept = [r for r in runs
                if (workflow_type is None or r.get("type") in (None, workflow_type))
                and ((created := parse_time(r.get("created_at"))) is None or created >= after)]
        return sorted(kept, key=lambda r: (parse_time(r.get("created_at")) or since,
                                           str(r.get("id"))))


class _Bearer:
    """The ``Authorization`` header of one request, for ``VendorClient.request(credentials=)``:
    the client asks for it after the request's rate-limit slot was granted."""

    def __init__(self, api: AmperityAPI) -> None:
        self.api = api
        #: the token last handed out (the one a 401 rejects)
        self.sent: str | None = None

    def _header(self, token: str) -> dict[str, str]:
        self.sent = token
        return {"Authorization": f"Bearer {token}"}

    def cached(self) -> dict[str, str] | None:
        """The header with a token valid now, or ``None`` when one must be fetched."""
        token = self.api.cached_token()
        return None if token is None else self._header(token)

    async def fetch(self) -> dict[str, str]:
        """Fetch a token (once for concurrent tasks) and return the header."""
        return self._header(await self.api.access_token())


def _auth_hint(exc: VendorHTTPError, api: AmperityAPI) -> VendorHTTPError:
    """*exc*, with a hint about tenant and credentials added to a 401."""
    if exc.status == 401:
        exc.args = (f"{exc.args[0]} (check the access token and that the tenant "
                    f"{api.tenant!r} is the one it belongs to)",)
    return exc
