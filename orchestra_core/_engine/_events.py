"""The webhook event channel: events the server receives, handed to the task runs
waiting on them."""

from __future__ import annotations

import time
from typing import Any

import anyio

from .._models import WebhookEvent
from .._waiting import sleep_until_set

__all__ = ("EventChannel",)


class EventChannel:
    """Webhook events published by the server, delivered to the task runs waiting on them.

    An event that arrives while no task waits on its key (the task is between two polls, or
    its run has not reached it yet) is kept for :attr:`KEEP_UNCLAIMED` seconds and handed to
    the next wait on that key, so a webhook is never lost to bad timing. Runners re-read the
    vendor's state after an event, so a stale one costs one extra read, never a wrong result.
    """

    #: how many recent event ids are remembered to ignore replays
    MAX_SEEN = 100_000
    #: how many keys may hold unclaimed events, and for how many (real) seconds
    MAX_UNCLAIMED = 10_000
    KEEP_UNCLAIMED = 600.0

    def __init__(self) -> None:
        self._waiting: dict[str, list[tuple[anyio.Event, list[WebhookEvent]]]] = {}
        self._seen: dict[str, None] = {}  # insertion-ordered: the oldest id is dropped first
        self._unclaimed: dict[str, tuple[float, WebhookEvent]] = {}  # oldest first

    def publish(self, event: WebhookEvent) -> bool:
        """Deliver *event* to runs waiting on its key; ``False`` for a replayed event (one of
        the last :attr:`MAX_SEEN` event ids)."""
        if event.event_id in self._seen:
            return False
        self._seen[event.event_id] = None
        if len(self._seen) > self.MAX_SEEN:
            del self._seen[next(iter(self._seen))]
        waiters = self._waiting.pop(event.key, [])
        for ready, box in waiters:
            box.append(event)
            ready.set()
        if not waiters:
            self._unclaimed.pop(event.key, None)
            self._unclaimed[event.key] = (time.monotonic(), event)
            if len(self._unclaimed) > self.MAX_UNCLAIMED:
                del self._unclaimed[next(iter(self._unclaimed))]
        return True

    async def next(self, key: str, timeout: float, clock: Any) -> WebhookEvent | None:
        """Wait for the next event for *key* for at most *timeout* seconds of *clock* (an
        event published for *key* since the last wait, if any, is returned at once)."""
        kept = self._unclaimed.pop(key, None)
        if kept is not None and time.monotonic() - kept[0] <= self.KEEP_UNCLAIMED:
            return kept[1]
        ready, box = anyio.Event(), []
        self._waiting.setdefault(key, []).append((ready, box))
        await sleep_until_set(clock, timeout, ready)
        waiting = self._waiting.get(key, [])
        if (ready, box) in waiting:
            waiting.remove((ready, box))
        return box[0] if box else None
