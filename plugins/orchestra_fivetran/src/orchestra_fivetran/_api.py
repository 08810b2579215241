"""The Fivetran REST API calls the plugin makes, over the core's vendor HTTP layer."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orchestra_core import RateLimit, TaskFailed

if TYPE_CHECKING:
    from orchestra_core import VendorClient

__all__ = (
    "DEFAULT_BASE_URL",
    "ENV",
    "FivetranAPI",
    "completion_time",
    "parse_time",
)

#: Fivetran's API root.
DEFAULT_BASE_URL = "https://api.fivetran.com/v1"
#: The quick-start environment variables, by connection field.
ENV = {
    "api_key": "FIVETRAN_API_KEY",
    "api_secret": "FIVETRAN_API_SECRET",
    "base_url": "FIVETRAN_BASE_URL",
    "webhook_secret": "FIVETRAN_WEBHOOK_SECRET",
}
#: Overrides the account's request budget (requests per hour) when no connection option does.
RATE_ENV = "FIVETRAN_REQUESTS_PER_HOUR"
#: Fivetran's account-wide limit on paid plans (trial accounts: 500).
DEFAULT_REQUESTS_PER_HOUR = 20_000
#: Fivetran's v2-shaped answers; POST and PATCH also need a JSON content type.
HEADERS = {"Accept": "application/json;version=2", "User-Agent": "orchestra-fivetran/0.1"}

_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def parse_time(value: Any) -> datetime | None:
    """A Fivetran timestamp (ISO-8601, ``Z``) as an aware datetime; ``None`` for null/empty.

    :raises TaskFailed: when the value is not a timestamp.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TaskFailed(f"Fivetran sent a timestamp that is not a string: {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise TaskFailed(f"Fivetran sent an unreadable timestamp {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def completion_time(details: Mapping[str, Any]) -> datetime | None:
    """The later of ``succeeded_at`` and ``failed_at`` (``None`` if the connection never
    finished a sync)."""
    times = [t for t in (parse_time(details.get("succeeded_at")),
                         parse_time(details.get("failed_at"))) if t is not None]
    return max(times) if times else None


def _requests_per_hour(options: Mapping[str, Any]) -> int:
    raw = options.get("requests_per_hour") or os.environ.get(RATE_ENV)
    if raw in (None, ""):
        return DEFAULT_REQUESTS_PER_HOUR
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise TaskFailed(f"the Fivetran request budget must be a positive number of requests "
                         f"per hour (connection option 'requests_per_hour' or {RATE_ENV}), "
                         f"got {raw!r}", retryable=False)
    return value


class FivetranAPI:
    """The calls of one Fivetran account (one API key), through a
    :class:`~orchestra_core._vendor_http.VendorClient`.

    :param client: the vendor client (retries, the shared rate limit, errors).
    :param path: ``connections`` (current docs) or ``connectors`` (the older path, still
        served).
    """

    def __init__(self, client: VendorClient, *, path: str = "connections") -> None:
        self.client = client
        self.path = path

    @classmethod
    def for_connection(cls, host: Any, connection: Any, *, transport: Any = None) -> FivetranAPI:
        """The API of a resolved :class:`~orchestra_core._models.Connection`, through
        ``host.vendor_client`` (shared pools and test transports), or through a client of
        its own sending via *transport* when *host* is ``None``.

        :raises TaskFailed: (not retryable) when there is no connection or it lacks the key
            and secret.
        """
        if connection is None:
            raise TaskFailed(
                "no Fivetran connection for this task: set FIVETRAN_API_KEY and "
                "FIVETRAN_API_SECRET (and FIVETRAN_BASE_URL for a non-default API root), or "
                "create one with 'orchestra connections add NAME --integration fivetran "
                "--credential CRED' plus 'orchestra credentials set CRED' (fields api_key, "
                "api_secret) and name it in the task's secondary_configuration_id",
                retryable=False)
        key, secret = connection.secret("api_key"), connection.secret("api_secret")
        missing = [f for f, v in (("api_key", key), ("api_secret", secret)) if not v]
        if missing:
            raise TaskFailed(
                f"the Fivetran connection {connection.name!r} has no {' and no '.join(missing)}"
                f": set the field(s) on its credential (or the {', '.join(ENV[m] for m in missing)}"
                " environment variable(s) for the quick-start connection)", retryable=False)
        options = dict(connection.options or {})
        path = str(options.get("api_path") or "connections")
        if path not in ("connections", "connectors"):
            raise TaskFailed(f"the Fivetran connection option api_path must be 'connections' or "
                             f"'connectors', got {path!r}", retryable=False)
        account = hashlib.sha256(key.encode()).hexdigest()[:16]
        limit = RateLimit(_requests_per_hour(options), 3600.0, key=account)
        base_url = connection.base_url or DEFAULT_BASE_URL
        import httpx  # here, not at import: registering the plugin stays light

        from orchestra_core import VendorClient

        auth = httpx.BasicAuth(key, secret)
        if host is not None:
            client = host.vendor_client("fivetran", base_url=base_url, auth=auth,
                                        headers=HEADERS, rate_limit=limit)
        else:
            client = VendorClient("fivetran", base_url, auth=auth, headers=HEADERS,
                                  rate_limit=limit, transport=transport)
        return cls(client, path=path)

    # -- connections ------------------------------------------------------------------------

    async def details(self, connection_id: str, ctx: Any = None) -> dict[str, Any]:
        """``GET /connections/{id}``: the connection's ``data``."""
        body = await self.client.get(f"/{self.path}/{connection_id}", ctx=ctx)
        return _data(body, f"GET /{self.path}/{connection_id}", self.client.redactor)

    async def schemas(self, connection_id: str, ctx: Any = None) -> dict[str, Any]:
        """``GET /connections/{id}/schemas``: the schema configuration's ``data``."""
        body = await self.client.get(f"/{self.path}/{connection_id}/schemas", ctx=ctx)
        return _data(body, f"GET /{self.path}/{connection_id}/schemas",
                     self.client.redactor)

    async def trigger(self, connection_id: str, *, force: bool, ctx: Any = None,
                      find_existing: Any = None) -> Any:
        """``POST /connections/{id}/sync`` with ``{"force": force}``; after an ambiguous
        failure, *find_existing* decides whether the first request started a sync."""
        return await self.client.post(f"/{self.path}/{connection_id}/sync",
                                      json={"force": force}, ctx=ctx,
                                      find_existing=find_existing)

    async def patch(self, connection_id: str, changes: Mapping[str, Any],
                    ctx: Any = None) -> dict[str, Any]:
        """``PATCH /connections/{id}`` (idempotent: it sets fields)."""
        body = await self.client.patch(f"/{self.path}/{connection_id}", json=dict(changes),
                                       ctx=ctx, idempotent=True)
        return _data(body, f"PATCH /{self.path}/{connection_id}", self.client.redactor)

    # -- webhooks ---------------------------------------------------------------------------

    async def list_webhooks(self) -> list[dict[str, Any]]:
        """Every webhook of the account (all pages)."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            data = _data(await self.client.get("/webhooks", params=params), "GET /webhooks",
                         self.client.redactor)
            items.extend(i for i in data.get("items") or [] if isinstance(i, dict))
            cursor = data.get("next_cursor")
            if not cursor:
                return items


def _data(body: Any, what: str, redactor: Any) -> dict[str, Any]:
    """The ``data`` object of a Fivetran answer, or a clear error (the answer masked with
    *redactor*, the client's: its host's)."""
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, dict):
        raise TaskFailed(f"Fivetran answered {what} without a 'data' object: "
                         f"{redactor.mask(str(body))[:300]}", retryable=True)
    return data
