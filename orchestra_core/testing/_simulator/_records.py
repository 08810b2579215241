"""What a simulator keeps: requests it received, webhook receivers registered with it, and
the webhook deliveries it attempted."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
from attrs import define, field, frozen

__all__ = ("DeliveryRecord", "RecordedRequest", "WebhookTarget")

@frozen(kw_only=True)
class RecordedRequest:
    """A request the simulator received (``headers`` lower-cased)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    at: datetime

    def json(self) -> Any:
        """The body decoded as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body.strip() else None


@define(kw_only=True)
class WebhookTarget:
    """A registered webhook receiver (:meth:`Simulator.add_webhook`).

    :ivar events: the event kinds it receives (``None``: all).
    :ivar transport: an httpx async transport to deliver through (in-process receivers).
    :ivar headers: extra headers sent with every delivery (Hightouch-style static tokens).
    :ivar data: anything the subclass keeps about it (vendor ids, group, ...).
    """

    id: str
    url: str
    secret: str | None = field(default=None, repr=False)
    events: tuple[str, ...] | None = None
    transport: httpx.AsyncBaseTransport | None = None
    headers: dict[str, str] = field(factory=dict, repr=False)
    active: bool = True
    data: dict[str, Any] = field(factory=dict)

    def wants(self, kind: str) -> bool:
        """Whether the target receives events of *kind*."""
        return self.active and (self.events is None or kind in self.events)


@frozen(kw_only=True)
class DeliveryRecord:
    """One attempt to deliver a webhook: ``status`` is ``None`` when no answer came."""

    target: str
    url: str
    kind: str
    body: bytes
    headers: Mapping[str, str]
    attempt: int
    at: datetime
    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300

    def json(self) -> Any:
        """The payload sent."""
        return json.loads(self.body)

