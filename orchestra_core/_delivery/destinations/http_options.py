"""Options of the ``http`` destination, apart from the destination itself so that a host
registers the type (and validates a pipeline) without importing the HTTP layer."""

from __future__ import annotations

from collections.abc import Mapping

from attrs import frozen

from ..._config import parameter

__all__ = ("HttpOptions",)


@frozen(kw_only=True)
class HttpOptions:
    """Options of an ``http`` destination."""

    url: str = parameter(help="the endpoint records are POSTed to")
    auth: str = parameter(
        default="none",
        help="none, bearer, basic or header (from the credential: token / username+password)",
    )
    header: str = parameter(default="X-API-Key", help="the header of auth: header")
    batch_size: int = parameter(default=500, help="records per request")
    records_key: str = parameter(default="records", help="the JSON key of the record list")
    rate_limit: float | None = parameter(default=None, help="at most N requests per second")
    retries: int = parameter(default=4, help="retries of a failed request (429, 5xx, network)")
    retry_delay: float = parameter(default=1.0, help="seconds before the first retry")
    timeout: float = parameter(default=30.0, help="seconds per request")
    headers: Mapping[str, str] = parameter(factory=dict, help="extra request headers")
