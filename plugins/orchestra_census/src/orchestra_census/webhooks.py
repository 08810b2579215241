"""Census sync lifecycle webhooks: signature, verification and parsing into events.

Census signs each delivery with the secret shown once when the webhook is created: header
``X-Signature`` holds ``base64(HMAC-SHA256(secret, raw body))`` (base64, not hex; no
prefix). Every payload carries ``workspace_id``, ``sync_id``, ``sync_run_id`` and ``event``;
``sync.completed`` adds ``status``: ``ok`` on success, ``emergency`` on failure.

A verified delivery becomes one :class:`~orchestra_core.WebhookEvent` keyed
``census:<sync_run_id>`` (see :func:`event_key`), which is what a waiting ``census_sync``
task listens for. The task then reads the run once more, so a webhook only ever makes it
look sooner; a lost webhook only delays it until the next poll.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from typing import Any

from orchestra_core import JobState, WebhookEvent, WebhookRejected, WebhookRequest

__all__ = (
    "EVENTS",
    "SIGNATURE_HEADER",
    "CensusWebhookHandler",
    "event_key",
    "sign",
    "verify",
)

#: The header carrying the signature (headers arrive lower-cased).
SIGNATURE_HEADER = "x-signature"

#: Sync lifecycle events Census sends, and the outcome each one tells (if any).
EVENTS: dict[str, JobState | None] = {
    "sync.triggered": None,
    "sync.started": None,
    "sync.completed": None,  # decided by "status": ok / emergency
    "sync.success": JobState.SUCCEEDED,
    "sync.failed": JobState.FAILED,
    "sync.alert.raised": None,
    "sync.alert.resolved": None,
}
_COMPLETED_STATUS = {"ok": JobState.SUCCEEDED, "emergency": JobState.FAILED}


def event_key(sync_run_id: Any) -> str:
    """The event key a task waiting on sync run *sync_run_id* listens for."""
    return f"census:{sync_run_id}"


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret if isinstance(secret, bytes) else secret.encode("utf-8")


def sign(secret: str | bytes, body: bytes) -> str:
    """The ``X-Signature`` value Census sends for *body*: base64 of its HMAC-SHA256."""
    digest = hmac.new(_secret_bytes(secret), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(secrets: Iterable[str | bytes], body: bytes, signature: str | None) -> bool:
    """Whether *signature* is the signature of *body* under one of *secrets* (several are
    allowed while a secret is being rotated). Compared in constant time."""
    if not signature:
        return False
    given = signature.strip().encode("ascii", "replace")
    ok = False
    for secret in secrets:
        expected = sign(secret, body).encode("ascii")
        ok |= hmac.compare_digest(expected, given)
    return ok


class CensusWebhookHandler:
    """Verifies Census webhook deliveries and turns them into events.

    :param secrets: the webhook secrets to accept (the one Census showed when the webhook
        was created). ``None`` (what the plugin uses) looks them up for each delivery with
        :func:`orchestra_core._server.webhooks.webhook_secrets`: the ``webhook_secret`` field
        of the credential of the connection named in the URL (``/webhooks/census/<name>``)
        or of every stored census connection, and ``CENSUS_WEBHOOK_SECRET``. A delivery
        signed with any of them is accepted (so a secret can be rotated). With none
        configured every delivery is refused (401): an unsigned webhook endpoint would let
        anyone move task runs.
    """

    def __init__(self, secrets: Sequence[str | bytes] | None = None) -> None:
        self._secrets = None if secrets is None else tuple(s for s in secrets if s)

    async def handle(self, request: WebhookRequest) -> list[WebhookEvent]:
        """Verify *request* and parse it.

        :raises WebhookRejected: 401 when no secret is configured or the signature is
            missing or wrong; 400 when the body is not a JSON object with ``event`` and
            ``sync_run_id``; 404 when the URL names a connection that does not exist.
        """
        secrets = self._secrets
        if secrets is None:
            from orchestra_core import webhook_secrets

            secrets = tuple(await webhook_secrets(request))
        if not secrets:
            raise WebhookRejected(
                "census webhooks are not accepted: no webhook secret is configured (set "
                "CENSUS_WEBHOOK_SECRET, or a webhook_secret field in the credential of the "
                "census connection)",
                status=401,
            )
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            raise WebhookRejected("census webhook without an X-Signature header", status=401)
        if not verify(secrets, request.body, signature):
            raise WebhookRejected(
                "census webhook signature does not match the body (X-Signature must be "
                "base64 HMAC-SHA256 of the raw body under the webhook's secret)",
                status=401,
            )
        return parse(request.body)


def parse(body: bytes) -> list[WebhookEvent]:
    """The events in a verified delivery *body* (one per delivery).

    :raises WebhookRejected: 400 when the body is not a JSON object naming ``event`` and
        ``sync_run_id``.
    """
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookRejected(f"census webhook body is not JSON: {exc}", status=400) from exc
    except RecursionError as exc:
        raise WebhookRejected("census webhook body is nested too deeply", status=400) from exc
    if not isinstance(payload, dict):
        raise WebhookRejected("census webhook body must be a JSON object", status=400)
    kind = payload.get("event")
    if not isinstance(kind, str) or not kind:
        raise WebhookRejected("census webhook body has no 'event' name", status=400)
    run_id = payload.get("sync_run_id")
    if isinstance(run_id, bool) or not isinstance(run_id, int | str) or run_id == "":
        raise WebhookRejected(
            f"census webhook {kind!r} has no usable 'sync_run_id' (got {run_id!r})", status=400
        )
    state = EVENTS.get(kind)
    if kind == "sync.completed":
        state = _COMPLETED_STATUS.get(str(payload.get("status")))
    # Census sends no delivery id: the run, the event and (for alerts) the alert instance
    # identify a delivery, so a redelivery of the same event is recognised as a replay.
    parts = [str(run_id), kind]
    if "alert_instance_id" in payload:
        parts.append(str(payload["alert_instance_id"]))
    return [WebhookEvent(
        integration="census",
        kind=kind,
        key=event_key(run_id),
        event_id="census:" + ":".join(parts),
        state=state,
        payload=payload,
    )]
