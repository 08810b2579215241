"""dbt Cloud webhooks: signature check and parsing into Orchestra events.

dbt Cloud signs each delivery with the subscription's ``hmac_secret``: the ``Authorization``
header holds the lowercase hex HMAC-SHA256 of the raw request body, with no scheme word. The
body's ``timestamp`` is covered by it and becomes the event's ``signed_at`` (the server
refuses an old delivery replayed).
Events ``job.run.started``, ``job.run.completed`` and ``job.run.errored`` become
:class:`~orchestra_core.WebhookEvent` objects keyed ``dbt:<run id>``, the key the runner
waits on (see :func:`event_key`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from orchestra_core import JobState, WebhookEvent, WebhookRejected, WebhookRequest

from ._api import TERMINAL

__all__ = ("ENV_SECRET", "EVENT_TYPES", "DbtWebhookHandler", "event_key", "sign")

#: The environment variable holding a webhook subscription's ``hmac_secret``.
ENV_SECRET = "DBT_CLOUD_WEBHOOK_SECRET"

#: The event types dbt Cloud sends.
EVENT_TYPES = ("job.run.started", "job.run.completed", "job.run.errored")

_STATUS_WORDS = {"success": JobState.SUCCEEDED, "succeeded": JobState.SUCCEEDED,
                 "error": JobState.FAILED, "errored": JobState.FAILED,
                 "cancelled": JobState.CANCELLED, "canceled": JobState.CANCELLED}


def _signed_at(value: Any) -> datetime | None:
    """The delivery's ``timestamp`` (RFC 3339, nanoseconds allowed; covered by the
    signature), or ``None`` when it has none."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # at most 6 fractional digits for fromisoformat
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        return None
    return found if found.tzinfo is not None else None


def event_key(run_id: Any) -> str:
    """The event key of dbt Cloud run *run_id*: ``dbt:<run id>``."""
    return f"dbt:{run_id}"


def sign(secret: str, body: bytes) -> str:
    """The ``Authorization`` value dbt Cloud sends with *body* for a subscription whose
    ``hmac_secret`` is *secret*."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _outcome(kind: str, data: dict[str, Any]) -> JobState | None:
    if kind == "job.run.errored":
        return JobState.FAILED
    if kind != "job.run.completed":
        return None
    code = data.get("runStatusCode")
    try:
        code = int(code) if code is not None else None
    except (TypeError, ValueError):
        code = None
    if code in TERMINAL:
        return TERMINAL[code]
    return _STATUS_WORDS.get(str(data.get("runStatus", "")).strip().lower())


class DbtWebhookHandler:
    """Verifies and parses dbt Cloud webhook deliveries.

    :param secrets: the ``hmac_secret`` of every subscription whose deliveries are accepted;
        a request signed with any of them passes. ``None`` (the default): look them up for
        each request with :func:`orchestra_core._server.webhooks.webhook_secrets`: the
        ``webhook_secret`` field of the credential of the connection named in the URL (or of
        every stored dbt connection), and :data:`ENV_SECRET`.
    """

    def __init__(self, secrets: Iterable[str] | None = None) -> None:
        self._secrets: Sequence[bytes] | None = None if secrets is None else tuple(
            s.encode("utf-8") for s in secrets if s)

    def verify(self, body: bytes, signature: str | None,
               secrets: Sequence[bytes] | None = None) -> None:
        """Raise :class:`~orchestra_core.WebhookRejected` (401) unless *signature* (the
        ``Authorization`` header, verbatim) is a valid signature of *body* under one of
        *secrets* (default: the handler's own)."""
        secrets = self._secrets if secrets is None else secrets
        if not secrets:
            raise WebhookRejected(
                f"dbt Cloud webhook refused: no webhook secret is configured (set {ENV_SECRET} "
                "or the webhook_secret field of the dbt connection's credential)",
                status=401,
            )
        if not signature:
            raise WebhookRejected("dbt Cloud webhook refused: no Authorization header",
                                  status=401)
        given = signature.strip().lower().encode("ascii", "replace")
        for secret in secrets:
            expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode("ascii")
            if hmac.compare_digest(expected, given):
                return
        raise WebhookRejected("dbt Cloud webhook refused: the signature does not match",
                              status=401)

    def parse(self, body: bytes) -> list[WebhookEvent]:
        """The events in a verified *body*; :class:`~orchestra_core.WebhookRejected` (400)
        when it is not a dbt Cloud run event. Event types other than the run events are
        accepted and ignored (an empty list)."""
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebhookRejected(f"dbt Cloud webhook: the body is not JSON ({exc})") from exc
        except RecursionError as exc:
            raise WebhookRejected("dbt Cloud webhook: the body is nested too deeply") from exc
        if not isinstance(payload, dict):
            raise WebhookRejected("dbt Cloud webhook: the body is not a JSON object")
        kind = payload.get("eventType")
        if not isinstance(kind, str):
            raise WebhookRejected("dbt Cloud webhook: no eventType in the body")
        if kind not in EVENT_TYPES:
            return []
        data = payload.get("data")
        if not isinstance(data, dict) or data.get("runId") in (None, ""):
            raise WebhookRejected(f"dbt Cloud webhook: {kind} without data.runId")
        event_id = payload.get("eventId")
        if not isinstance(event_id, str) or not event_id:
            event_id = hashlib.sha256(body).hexdigest()
        return [WebhookEvent(
            integration="dbt", kind=kind, key=event_key(data["runId"]),
            event_id=f"dbt:{event_id}", state=_outcome(kind, data), payload=payload,
            signed_at=_signed_at(payload.get("timestamp")),
        )]

    async def handle(self, request: WebhookRequest) -> Sequence[WebhookEvent]:
        """Verify *request* (the ``Authorization`` header over the raw body) and parse it."""
        secrets = self._secrets
        if secrets is None:
            from orchestra_core import webhook_secrets

            found = await webhook_secrets(request, env=ENV_SECRET)
            secrets = tuple(s.encode("utf-8") for s in found if s)
        self.verify(request.body, request.headers.get("authorization"), secrets)
        return self.parse(request.body)
