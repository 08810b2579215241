"""Built-in notification channels: ``stored`` (the list ``orchestra notifications`` shows) and
``webhook`` (a JSON POST to any URL, optionally signed with HMAC-SHA256).

A webhook request carries the notification as JSON::

    {"id": "<run id>/run.failed", "kind": "run.failed", "pipeline": "nightly",
     "run_id": "...", "message": "...", "created_at": "2026-01-01T00:00:00+00:00",
     "data": {...}}

with the headers ``X-Orchestra-Event`` (the kind), ``X-Orchestra-Event-Id`` (stable across
retries: deduplicate on it) and ``X-Orchestra-Timestamp`` (Unix seconds). With
``secret_env``, ``X-Orchestra-Signature: sha256=<hex>`` is the HMAC-SHA256, keyed with the
secret, of ``"<timestamp>." + body``; :func:`verify_signature` checks it on the receiving end.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio
from attrs import frozen

from .. import __version__
from .._config import parameter
from .._errors import DeliveryFailed
from .._markers import hookimpl
from .._models import Notification
from .._redaction import Redactor
from .._registry import ChannelRegistry

if TYPE_CHECKING:
    import httpx

__all__ = (
    "StoredChannel",
    "WebhookChannel",
    "WebhookOptions",
    "signature",
    "verify_signature",
)

#: Seconds a receiver accepts between a request's timestamp and its own clock, by default.
DEFAULT_TOLERANCE = 300


class StoredChannel:
    """Appends notifications to the store's notification list (``orchestra notifications``),
    secrets masked with the host's redactor (``context.host.redactor``)."""

    def __init__(self, options: Any = None, *, context: Any = None) -> None:
        if context is None:
            raise DeliveryFailed("the stored channel needs the run's store (context)")
        self.store = context.store
        self.clock = context.clock
        self.redactor = _redactor_of(context)

    async def notify(self, notification: Notification) -> None:
        """Store *notification*."""
        from .._committer import in_thread
        from .._notifications import NotificationLog

        log = NotificationLog(self.store, redactor=self.redactor)
        await in_thread(self.clock, log.add, notification)


@frozen(kw_only=True)
class WebhookOptions:
    """Options of a ``webhook`` channel."""

    url: str = parameter(aliases=("destination",), help="where to POST (http or https)")
    headers: Mapping[str, str] = parameter(factory=dict, help="extra request headers")
    secret_env: str | None = parameter(
        default=None, help="environment variable holding the HMAC-SHA256 signing secret")
    token_env: str | None = parameter(
        default=None, help="environment variable holding a bearer token (Authorization header)")
    timeout: float = parameter(default=10.0, help="seconds to wait for the receiver")
    retries: int = parameter(default=2, help="further attempts after a failed one")
    retry_delay: float = parameter(default=1.0, help="seconds before the first retry "
                                   "(doubling after each)")

    def __attrs_post_init__(self) -> None:
        if not self.url.lower().startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")


def signature(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Orchestra-Signature`` value for *body* sent at *timestamp*."""
    import hashlib  # with hmac, loads OpenSSL: imported when a webhook is signed
    import hmac

    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str | bytes, headers: Mapping[str, str], body: bytes, *,
                     now: float | None = None, tolerance: float = DEFAULT_TOLERANCE) -> bool:
    """Whether a received webhook request is genuine and recent (for receivers).

    :param headers: the request headers (any case).
    :param now: the receiver's Unix time (default: the system clock).
    :param tolerance: how many seconds old (or early) the timestamp may be.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get("x-orchestra-timestamp", "")
    given = lowered.get("x-orchestra-signature", "")
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    if age > tolerance:
        return False
    import hmac

    return hmac.compare_digest(given, signature(secret, timestamp, body))


def _redactor_of(context: Any) -> Redactor:
    """The redactor of the context's host (a new one when there is no host)."""
    redactor = getattr(getattr(context, "host", None), "redactor", None)
    return redactor if redactor is not None else Redactor()


def _env_secret(name: str | None, what: str, redactor: Redactor) -> str | None:
    if name is None:
        return None
    value = os.environ.get(name)
    if not value:
        raise DeliveryFailed(f"webhook {what}: environment variable {name} is not set")
    redactor.add(value)
    return value


class WebhookChannel:
    """POSTs each notification as JSON to ``options.url``.

    :param context: the :class:`~orchestra_core._alerts.ChannelContext`: its clock sleeps
        between retries (``anyio.sleep`` without one); the secret and token read from the
        environment are registered with its host's redactor (``context.host.redactor``),
        which masks the channel's errors.
    :param transport: an httpx transport (tests pass an ``httpx.MockTransport``).

    :ivar redactor: the host's :class:`~orchestra_core.Redactor` (without a
        context, one of the channel's own).
    """

    def __init__(self, options: WebhookOptions, *, context: Any = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.options = options
        self.transport = transport
        self.clock = getattr(context, "clock", None)
        self.redactor = _redactor_of(context)

    def request(self, notification: Notification, *, now: float | None = None) -> tuple[
        bytes, dict[str, str]
    ]:
        """The body and headers sent for *notification*."""
        event_id = f"{notification.run_id or notification.pipeline}/{notification.kind}"
        body = json.dumps({
            "id": event_id, "kind": notification.kind, "pipeline": notification.pipeline,
            "run_id": notification.run_id, "message": notification.message,
            "created_at": notification.created_at.isoformat(), "data": dict(notification.data),
        }, default=str, separators=(",", ":")).encode()
        timestamp = str(int(time.time() if now is None else now))
        headers = {"content-type": "application/json",
                   "user-agent": f"orchestra/{__version__}",
                   "x-orchestra-event": notification.kind, "x-orchestra-event-id": event_id,
                   "x-orchestra-timestamp": timestamp}
        headers.update({k.lower(): v for k, v in self.options.headers.items()})
        secret = _env_secret(self.options.secret_env, "secret_env", self.redactor)
        if secret is not None:
            headers["x-orchestra-signature"] = signature(secret, timestamp, body)
        token = _env_secret(self.options.token_env, "token_env", self.redactor)
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        return body, headers

    async def notify(self, notification: Notification) -> None:
        """POST *notification*; retry on network errors and 5xx/429 answers.

        :raises DeliveryFailed: when every attempt failed or the receiver refused (4xx).
        """
        import httpx  # here, not at import: a host that sends nothing never loads it

        body, headers = self.request(notification)
        delay = self.options.retry_delay
        problem = ""
        async with httpx.AsyncClient(transport=self.transport,
                                     timeout=self.options.timeout) as client:
            for attempt in range(self.options.retries + 1):
                if attempt:
                    await (self.clock.sleep(delay) if self.clock else anyio.sleep(delay))
                    delay *= 2
                try:
                    response = await client.post(self.options.url, content=body,
                                                 headers=headers)
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                    continue
                if response.is_success:
                    return
                problem = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    break  # the receiver refuses it: retrying will not help
        raise DeliveryFailed(self.redactor.mask(
            f"webhook to {self.options.url} failed: {problem}"))


@hookimpl
def orchestra_register_notification_channels(registry: ChannelRegistry) -> None:
    """Register the ``stored`` and ``webhook`` channel types."""
    registry.add("stored", factory=StoredChannel,
                 description="the store's notification list (orchestra notifications)")
    registry.add("webhook", factory=WebhookChannel, options=WebhookOptions,
                 description="a JSON POST to a URL, optionally HMAC-signed")
