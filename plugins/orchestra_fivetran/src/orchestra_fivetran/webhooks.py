"""Fivetran webhooks: verify ``X-Fivetran-Signature-256`` and turn ``sync_start`` /
``sync_end`` deliveries into events that wake the waiting ``fivetran_sync_all`` tasks.

Fivetran signs a delivery with the webhook's secret: the header carries the hex HMAC-SHA256
of the raw request body (no prefix, no timestamp header; Fivetran sends it in upper case, so
it is compared case-insensitively). The body's ``created`` time is covered by the signature:
it becomes the event's ``signed_at``, so the server refuses an old delivery replayed.
Events are keyed ``fivetran:<connection id>`` (Fivetran has no
run id) and deduplicated on ``(connection id, sync_id, event)``: deliveries are at least once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from orchestra_core import JobState, WebhookEvent, WebhookRejected, WebhookRequest

__all__ = (
    "SECRET_ENV",
    "SIGNATURE_HEADER",
    "SYNC_END_STATES",
    "FivetranWebhookHandler",
    "event_key",
    "parse_events",
    "sign",
    "verify_signature",
)

#: The environment variable holding a webhook secret (besides stored credentials).
SECRET_ENV = "FIVETRAN_WEBHOOK_SECRET"
#: The header carrying the signature (header names are lower-cased in a WebhookRequest).
SIGNATURE_HEADER = "x-fivetran-signature-256"

#: ``sync_end`` ``data.status`` values and what they mean for the task; ``None``: the sync
#: is not over (Fivetran rescheduled it).
SYNC_END_STATES: Mapping[str, JobState | None] = {
    "SUCCESSFUL": JobState.SUCCEEDED,
    "FAILURE": JobState.FAILED,
    "FAILURE_WITH_TASK": JobState.FAILED,
    "RESCHEDULED": None,
}

#: The events this plugin acts on; others (``status``, ``dbt_run_*``, ...) are acknowledged
#: and ignored.
HANDLED_EVENTS = ("sync_start", "sync_end")


def event_key(connection_id: str) -> str:
    """The key events of connection *connection_id* carry (what its tasks wait on)."""
    return f"fivetran:{connection_id}"


def sign(secret: str, body: bytes) -> str:
    """Fivetran's signature of *body*: upper-case hex HMAC-SHA256 keyed with *secret*."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().upper()


def verify_signature(secrets: Iterable[str], body: bytes, signature: str | None) -> bool:
    """Whether *signature* is the signature of *body* under one of *secrets* (case-insensitive,
    constant time per secret)."""
    if not signature:
        return False
    given = signature.strip().lower().encode()
    ok = False
    for secret in secrets:
        if secret:
            ok |= hmac.compare_digest(given, sign(secret, body).lower().encode())
    return ok


def _text(payload: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = payload.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def parse_events(body: bytes) -> list[WebhookEvent]:
    """The events of a (verified) delivery body.

    :raises WebhookRejected: (400) when the body is not a JSON object with an ``event``.
    """
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:  # a number too long is a ValueError too
        raise WebhookRejected(f"the Fivetran webhook body is not JSON: {exc}", status=400) from exc
    except RecursionError as exc:
        raise WebhookRejected("the Fivetran webhook body is nested too deeply",
                              status=400) from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        raise WebhookRejected("the Fivetran webhook body has no 'event' field", status=400)
    kind = payload["event"]
    if kind not in HANDLED_EVENTS:
        return []
    connection = _text(payload, "connector_id", "connection_id")
    if connection is None:
        raise WebhookRejected(
            f"the Fivetran {kind} webhook names no connector_id (or connection_id)", status=400)
    sync_id = _text(payload, "sync_id")
    if sync_id is None:  # older payloads: fall back to the event time, else the body itself
        sync_id = _text(payload, "created") or hashlib.sha256(body).hexdigest()[:32]
    state = None
    if kind == "sync_end":
        data = payload.get("data")
        status = data.get("status") if isinstance(data, Mapping) else None
        state = SYNC_END_STATES.get(status) if isinstance(status, str) else None
    return [WebhookEvent(
        integration="fivetran",
        kind=kind,
        key=event_key(connection),
        event_id=f"fivetran:{connection}:{sync_id}:{kind}",
        state=state,
        payload=payload,
        signed_at=_signed_at(payload.get("created")),
    )]


def _signed_at(value: Any) -> datetime | None:
    """The ``created`` time of a delivery (ISO 8601, ``Z``), or ``None`` if it has none."""
    if not isinstance(value, str) or not value:
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo is not None else None


class FivetranWebhookHandler:
    """A :class:`~orchestra_core._protocols.WebhookHandler` for Fivetran deliveries.

    :param secrets: the webhook secrets to accept; ``None`` (the default) looks them up for
        each request with :func:`orchestra_core._server.webhooks.webhook_secrets`: the
        ``webhook_secret`` field of the credential of the connection named in the URL
        (``/webhooks/fivetran/<connection>``), else of every stored Fivetran connection,
        plus the ``FIVETRAN_WEBHOOK_SECRET`` environment variable. A delivery signed with any
        of them is accepted (so a secret can be rotated). With none configured every delivery
        is refused: an unsigned webhook cannot be trusted.
    """

    def __init__(self, secrets: Sequence[str] | None = None) -> None:
        self._secrets = None if secrets is None else tuple(s for s in secrets if s)

    async def handle(self, request: WebhookRequest) -> list[WebhookEvent]:
        """Verify *request* and parse it (see :func:`parse_events`).

        :raises WebhookRejected: 401 for a missing or wrong signature (or no secret
            configured), 400 for a malformed body.
        """
        secrets = self._secrets
        if secrets is None:
            from orchestra_core import webhook_secrets

            secrets = tuple(await webhook_secrets(request, env=SECRET_ENV))
        if not secrets:
            raise WebhookRejected(
                "no Fivetran webhook secret is configured: set the 'webhook_secret' field of "
                "the Fivetran connection's credential or the FIVETRAN_WEBHOOK_SECRET "
                "environment variable", status=401)
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            raise WebhookRejected(
                "the Fivetran webhook has no X-Fivetran-Signature-256 header", status=401)
        if not verify_signature(secrets, request.body, signature):
            raise WebhookRejected(
                "the X-Fivetran-Signature-256 signature does not match the body", status=401)
        return parse_events(request.body)
