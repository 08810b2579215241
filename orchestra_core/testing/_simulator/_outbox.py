"""Webhook delivery: the receivers of a simulator and its outbox of due events, sent signed
and retried after ``webhook_retry_delays``."""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from attrs import define

from ._auth import is_loopback
from ._records import DeliveryRecord, WebhookTarget

__all__ = ("WebhookOutbox",)

@define
class _Pending:
    due: datetime
    seq: int
    kind: str
    payload: Any
    target: str | None
    attempt: int
    body: bytes | None = None

    def __lt__(self, other: _Pending) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)


class WebhookOutbox:
    """The webhook half of :class:`~orchestra_core.testing.Simulator` (a mixin): receivers,
    the outbox of scheduled events, and their signed delivery."""

    clock: Any
    lock: threading.RLock
    webhook_targets: list[WebhookTarget]
    deliveries: list[DeliveryRecord]
    webhook_retry_delays: ClassVar[tuple[float, ...]]
    _outbox: list[_Pending]
    _seq: itertools.count[int]
    sign: Callable[[bytes, str], dict[str, str]]
    encode_webhook: Callable[[Any], bytes]

    def add_webhook(self, url: str, secret: str | None = None, *,
                    events: tuple[str, ...] | list[str] | None = None,
                    transport: httpx.AsyncBaseTransport | None = None,
                    headers: Mapping[str, str] | None = None,
                    data: Mapping[str, Any] | None = None) -> WebhookTarget:
        """Register a webhook receiver; deliveries are signed with *secret* (see
        :meth:`sign`). Without *transport* the URL must be on 127.0.0.1/localhost."""
        if transport is None and not is_loopback(urlsplit(url).hostname):
            raise ValueError(f"the simulator only delivers webhooks to this machine (127.0.0.1 "
                             f"or localhost), not to {url!r}")
        with self.lock:
            target = WebhookTarget(
                id=f"wh_{next(self._seq)}", url=url, secret=secret,
                events=tuple(events) if events is not None else None, transport=transport,
                headers=dict(headers or {}), data=dict(data or {}))
            self.webhook_targets.append(target)
        return target

    def remove_webhook(self, target: WebhookTarget | str) -> None:
        """Unregister a receiver (by object or id); its pending deliveries are dropped."""
        target_id = target if isinstance(target, str) else target.id
        with self.lock:
            self.webhook_targets = [t for t in self.webhook_targets if t.id != target_id]

    def emit(self, kind: str, payload: Any, *, delay: float = 0.0,
             at: datetime | None = None, target: str | None = None) -> None:
        """Schedule a webhook event of *kind* for every receiver that wants it (or only for
        the receiver whose id is *target*), due at *at* (default: ``now + delay``). *payload*
        is a JSON-ready value, or a callable returning one (or ``None`` to send nothing)
        evaluated when the event is due, so it can reflect what happened meanwhile (a
        cancel)."""
        due = at if at is not None else self.clock.now() + timedelta(seconds=delay)
        with self.lock:
            heapq.heappush(self._outbox, _Pending(due, next(self._seq), kind, payload, target,
                                                  1))

    @property
    def pending_webhooks(self) -> int:
        """Deliveries scheduled and not yet made (including retries)."""
        return len(self._outbox)

    @property
    def next_webhook_due(self) -> datetime | None:
        """When the earliest pending delivery is due."""
        with self.lock:
            return self._outbox[0].due if self._outbox else None

    async def deliver_due(self) -> list[DeliveryRecord]:
        """Send every webhook due at ``clock.now()``, in order; return the attempts made.
        Failed attempts (non-2xx or no answer) are scheduled again after
        ``webhook_retry_delays``."""
        now = self.clock.now()
        due: list[_Pending] = []
        with self.lock:
            while self._outbox and self._outbox[0].due <= now:
                due.append(heapq.heappop(self._outbox))
        made: list[DeliveryRecord] = []
        for item in due:
            if item.body is None:
                payload = item.payload() if callable(item.payload) else item.payload
                if payload is None:
                    continue
                item.body = self.encode_webhook(payload)
            if item.target is None:
                targets = [t for t in self.webhook_targets if t.wants(item.kind)]
            else:
                targets = [t for t in self.webhook_targets if t.id == item.target and t.active]
            for target in targets:
                record = await self._post(target, item.kind, item.body, item.attempt)
                made.append(record)
                if not record.ok and item.attempt <= len(self.webhook_retry_delays):
                    retry_at = self.clock.now() + timedelta(
                        seconds=self.webhook_retry_delays[item.attempt - 1])
                    with self.lock:
                        heapq.heappush(self._outbox, _Pending(
                            retry_at, next(self._seq), item.kind, None, target.id,
                            item.attempt + 1, item.body))
        return made

    async def send_webhook(self, target: WebhookTarget, payload: Any, *,
                           kind: str = "test") -> DeliveryRecord:
        """Deliver *payload* to *target* now, signed (no retry): e.g. the test POST some
        vendors make when a webhook is created."""
        return await self._post(target, kind, self.encode_webhook(payload), 1)

    async def _post(self, target: WebhookTarget, kind: str, body: bytes,
                    attempt: int) -> DeliveryRecord:
        headers = {"content-type": "application/json", **target.headers}
        if target.secret:
            headers.update(self.sign(body, target.secret))
        status: int | None = None
        error: str | None = None
        try:
            async with httpx.AsyncClient(transport=target.transport, timeout=10.0) as client:
                response = await client.post(target.url, content=body, headers=headers)
                status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        record = DeliveryRecord(target=target.id, url=target.url, kind=kind, body=body,
                                headers=headers, attempt=attempt, at=self.clock.now(),
                                status=status, error=error)
        with self.lock:
            self.deliveries.append(record)
        return record
