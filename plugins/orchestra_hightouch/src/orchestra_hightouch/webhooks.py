"""Hightouch alert webhooks: verify the shared header secret, turn alerts into events.

Hightouch has no sync-lifecycle webhooks and does not sign anything. Its *alerting* can
POST a JSON payload to a webhook alert channel with custom headers, so Orchestra accepts an
alert that carries a shared secret in a header the channel is configured with (by default
``Authorization: Bearer <secret>``). An alert only says "look at this sync now": the event
wakes the tasks waiting on the sync, which then poll the run's status (the authority).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from orchestra_core import WebhookEvent, WebhookRejected, WebhookRequest

__all__ = (
    "DEFAULT_HEADER",
    "HEADER_ENV",
    "HightouchAlertHandler",
    "alert_events",
    "header_matches",
    "run_key",
    "sync_key",
)

#: The header carrying the shared secret, unless ``HIGHTOUCH_WEBHOOK_HEADER`` names another.
DEFAULT_HEADER = "Authorization"
#: The environment variable naming another header.
HEADER_ENV = "HIGHTOUCH_WEBHOOK_HEADER"

#: Payload fields naming the sync and the run (the payload schema is not published: the
#: plugin looks where alert payloads and the simulator put them, top level or nested).
_SYNC_FIELDS = ("syncId", "sync_id")
_RUN_FIELDS = ("syncRunId", "sync_run_id", "runId", "run_id")
#: Nested objects searched, and the field holding their own id: ``{"sync": {"id": 1}}``.
_SYNC_OBJECTS = ("sync",)
_RUN_OBJECTS = ("syncRun", "sync_run", "run")
_WRAPPERS = ("data", "alert", "payload")


def sync_key(sync_id: str) -> str:
    """The event key tasks waiting on sync *sync_id* listen to."""
    return f"hightouch:sync:{sync_id}"


def run_key(run_id: str) -> str:
    """The event key of sync run *run_id*."""
    return f"hightouch:run:{run_id}"


def header_matches(headers: Mapping[str, str], header: str, secret: str) -> bool:
    """Whether *headers* (names lower-cased) carry *secret* in *header*, in constant time.

    The value may be the secret itself or, as ``Authorization`` headers are usually written,
    ``Bearer <secret>``.
    """
    value = headers.get(header.lower())
    if value is None:
        return False
    value = value.strip()
    candidates = [value]
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer" and rest:
        candidates.append(rest.strip())
    wanted = secret.encode("utf-8")
    ok = False
    for candidate in candidates:  # compare every candidate: no early exit
        ok |= hmac.compare_digest(candidate.encode("utf-8"), wanted)
    return ok


def _text(value: Any) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()
    return None


def _find(payload: Mapping[str, Any], fields: Sequence[str], objects: Sequence[str],
          depth: int = 0) -> str | None:
    """The first id found in *fields*, in ``id`` of the *objects*, or inside a wrapper."""
    for name in fields:
        if (found := _text(payload.get(name))) is not None:
            return found
    for name in objects:
        inner = payload.get(name)
        if isinstance(inner, Mapping) and (found := _text(inner.get("id"))) is not None:
            return found
    if depth < 2:
        for name in _WRAPPERS:
            inner = payload.get(name)
            if isinstance(inner, Mapping) and (
                found := _find(inner, fields, objects, depth + 1)
            ) is not None:
                return found
    return None


def alert_events(body: bytes, integration: str = "hightouch") -> list[WebhookEvent]:
    """Parse an alert *body* into events keyed by its sync (and run, when it names one).

    :raises WebhookRejected: (400) when the body is not a JSON object naming a sync.
    """
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WebhookRejected(f"the alert body is not JSON: {exc}", status=400) from exc
    except RecursionError as exc:
        raise WebhookRejected("the alert body is nested too deeply", status=400) from exc
    if not isinstance(payload, Mapping):
        raise WebhookRejected("the alert body is not a JSON object", status=400)
    sync_id = _find(payload, _SYNC_FIELDS, _SYNC_OBJECTS)
    if sync_id is None:
        raise WebhookRejected(
            "the alert names no sync (expected a syncId field)", status=400
        )
    run_id = _find(payload, _RUN_FIELDS, _RUN_OBJECTS)
    alert_id = next((found for name in ("id", "alertId", "eventId", "event_id")
                     if (found := _text(payload.get(name))) is not None), None)
    if alert_id is None:
        alert_id = hashlib.sha256(body).hexdigest()[:32]
    kind = str(payload.get("type") or payload.get("severity") or "alert")
    events = [WebhookEvent(integration=integration, kind=kind, key=sync_key(sync_id),
                           event_id=f"hightouch:{alert_id}:sync", payload=payload)]
    if run_id is not None:
        events.append(WebhookEvent(integration=integration, kind=kind, key=run_key(run_id),
                                   event_id=f"hightouch:{alert_id}:run", payload=payload))
    return events


class HightouchAlertHandler:
    """The :class:`~orchestra_core.WebhookHandler` of Hightouch alert webhooks.

    The secrets accepted are *secrets* when given, else those of
    :func:`orchestra_core._server.webhooks.webhook_secrets`: the ``webhook_secret`` field of
    the credential of the connection named in the URL (``/webhooks/hightouch/<connection>``)
    or of every Hightouch connection, and ``HIGHTOUCH_WEBHOOK_SECRET``. Any of them may match
    (so a secret can be rotated).

    :param secrets: fixed secrets (tests, embedding apps), instead of the lookup.
    :param header: the header carrying the secret (default ``$HIGHTOUCH_WEBHOOK_HEADER`` or
        ``Authorization``).
    """

    def __init__(self, secrets: Sequence[str] | None = None,
                 header: str | None = None) -> None:
        self.secrets = None if secrets is None else [s for s in secrets if s]
        self.header = header or os.environ.get(HEADER_ENV) or DEFAULT_HEADER

    async def _secrets(self, request: WebhookRequest) -> list[str]:
        if self.secrets is not None:
            return self.secrets
        from orchestra_core import webhook_secrets

        return list(await webhook_secrets(request))

    async def handle(self, request: WebhookRequest) -> Sequence[WebhookEvent]:
        """Check the shared header secret (401), then parse the alert (400 if malformed)."""
        secrets = await self._secrets(request)
        if not secrets:
            raise WebhookRejected(
                "no Hightouch webhook secret is configured: set HIGHTOUCH_WEBHOOK_SECRET or "
                "the webhook_secret field of the Hightouch connection's credential",
                status=401,
            )
        matched = False
        for secret in secrets:  # try them all: the time taken does not tell which matched
            matched |= header_matches(request.headers, self.header, secret)
        if not matched:
            raise WebhookRejected(
                f"the {self.header} header does not carry the Hightouch webhook secret",
                status=401,
            )
        return alert_events(request.body, request.integration or "hightouch")
