"""The vendor clients of one host: its transports, rate limiters and a bounded cache of
clients, so that runners may ask for a client on every request."""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any

from ._httpx_cli import defer_httpx_cli
from ._limits import RateLimiters

if TYPE_CHECKING:
    from ._client import VendorClient

__all__ = ("VendorClients",)


class VendorClients:
    """Clients by vendor, base URL, credentials and settings (at most :attr:`MAX` kept).

    :param transports: httpx async transports by vendor name (a simulator's, in tests).
    :param redactor: the host's redactor, handed to every client.
    """

    MAX = 256

    def __init__(self, transports: dict[str, Any] | None, redactor: Any) -> None:
        self.transports: dict[str, Any] = {k.lower(): v for k, v in (transports or {}).items()}
        self.redactor = redactor
        #: the rate limiters every client of the host shares
        self.limiters = RateLimiters()
        self._clients: collections.OrderedDict[tuple, VendorClient] = \
            collections.OrderedDict()

    def set_transport(self, vendor: str, transport: Any) -> None:
        """Send *vendor*'s later clients through *transport* (``None``: the network)."""
        key = vendor.lower()
        if transport is None:
            self.transports.pop(key, None)
        else:
            self.transports[key] = transport
        for cache_key in [k for k in self._clients if k[0] == key]:
            del self._clients[cache_key]

    def get(self, vendor: str, *, base_url: str, auth: Any = None,
            headers: dict[str, str] | None = None, rate_limit: Any = None, retry: Any = None,
            timeout: float = 30.0) -> VendorClient:
        """The client for these arguments, built on first use (see ``Orchestra.vendor_client``)."""
        defer_httpx_cli()  # httpx without its command-line client (click, rich, pygments)
        from ._client import VendorClient  # httpx: loaded when a runner first asks for a client
        from ._credentials import auth_key

        key = vendor.lower()
        cache_key = (key, base_url.rstrip("/"), auth_key(auth),
                     tuple(sorted((headers or {}).items())), rate_limit, retry, timeout)
        client = self._clients.get(cache_key)
        if client is None:
            client = VendorClient(vendor, base_url, auth=auth, headers=headers,
                                  transport=self.transports.get(key), rate_limit=rate_limit,
                                  limiters=self.limiters, retry=retry, timeout=timeout,
                                  redactor=self.redactor)
            self._clients[cache_key] = client
            while len(self._clients) > self.MAX:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(cache_key)
        return client
