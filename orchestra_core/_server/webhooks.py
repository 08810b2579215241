"""The webhook endpoint: vendors POST here, plugins verify and parse, waiting tasks wake up.

Routes (mounted by :func:`orchestra_core.create_app`)::

    POST /webhooks/{integration}                 e.g. /webhooks/fivetran
    POST /webhooks/{integration}/{connection}    e.g. /webhooks/fivetran/fivetran-prod

For each request the endpoint:

1. finds the integration (names and aliases, any case): unknown -> **404**;
2. reads the raw body (at most 1 MiB: **413**, within 10 s: **408**; see
   :mod:`orchestra_core._server.limits`) before anything parses it, and builds a
   :class:`~orchestra_core.WebhookRequest` (header names lower-cased);
3. asks the plugins for a handler (``orchestra_identify_webhook(request, orchestra)``,
   first non-``None`` wins): none -> **404**;
4. awaits ``handler.handle(request)``: :class:`~orchestra_core.WebhookRejected` ->
   its status (**401** unverified, **400** malformed) and nothing changes; a body the
   handler could not parse because it is nested too deeply or holds a number too long
   (``RecursionError``, ``ValueError``) -> **400**; any other exception -> **500** with a
   masked message; either way nothing changes;
5. refuses (**400**) a delivery whose signed timestamp
   (:attr:`~orchestra_core.WebhookEvent.signed_at`) is older than the replay window, and
   ignores an event whose ``event_id`` was already received within the window: the ids are
   kept in the store (:mod:`orchestra_core._server.replay`), so a replay is recognised after
   a restart and by every server sharing the store;
6. publishes every new :class:`~orchestra_core.WebhookEvent` on the engine's event channel
   (``engine.events.publish``), waking the task runs waiting in ``ctx.next_event(key, ...)``.
   Without an engine the answer is **503** (the vendor retries later).

The answer is ``200 {"received": n, "new": k, "replayed": n - k}``; every response body (and
every log line) is masked with the app's host's redactor (``host.redactor``).

Webhook secrets: a handler gets them in ``handle`` with ``await webhook_secrets(request)``:
the ``webhook_secret`` field (or another *field*) of the credential of the connection named in
the URL, else of every stored connection of the integration, plus the environment variable
``<INTEGRATION>_WEBHOOK_SECRET`` (e.g. ``FIVETRAN_WEBHOOK_SECRET``). Accept a delivery signed
with any of them (that also lets a secret be rotated). Every value is registered with the
redactor of the host serving the request. Secrets are read from the store for each delivery
(only their decryption is cached, by ciphertext), so a deleted connection or a rotated
secret stops verifying at once, whichever process changed it.

Polling stays the fallback: a runner waits with ``event = await ctx.next_event(key,
timeout=poll_interval)`` and polls the vendor after every wake-up or timeout, so a lost
webhook only delays completion by one poll interval.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .._committer import in_thread
from .._errors import OrchestraError, WebhookRejected
from .._models import WebhookEvent, WebhookRequest
from .._redaction import Redactor
from .._store.schema import connections, credentials
from .limits import MAX_BODY
from .replay import DeliveryLog, record_new, stale_reason

__all__ = ("MAX_BODY", "webhook_routes", "webhook_secrets")

logger = logging.getLogger("orchestra_core.webhooks")

#: Decrypted secrets kept per app, by credential ciphertext (a rotation changes it).
MAX_DECRYPTED = 256

_lookup: contextvars.ContextVar[Any] = contextvars.ContextVar("orchestra_webhook_lookup",
                                                             default=None)


def _answer(status: int, payload: dict[str, Any], redactor: Redactor) -> JSONResponse:
    return JSONResponse(redactor.mask_obj(payload), status_code=status)


def webhook_routes() -> list[Route]:
    """The webhook routes (a trailing slash is accepted: vendors do not follow redirects of
    a POST); the handlers find the host and engine in ``app.state``."""
    paths = ("/webhooks/{integration}", "/webhooks/{integration}/{connection}")
    return [Route(path + end, receive_webhook, methods=["POST"])
            for path in paths for end in ("", "/")]


async def receive_webhook(request: Request) -> JSONResponse:
    """Handle one webhook delivery (see the module documentation)."""
    host = request.app.state.host
    redactor: Redactor = host.redactor
    engine = getattr(request.app.state, "engine", None)
    name = request.path_params["integration"]
    spec = host.integrations.find(name)
    if spec is None:
        return _answer(404, {"error": f"unknown integration {name!r}"}, redactor)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        return _answer(413, {"error": f"webhook body larger than {MAX_BODY} bytes"}, redactor)
    body = await request.body()
    if len(body) > MAX_BODY:
        return _answer(413, {"error": f"webhook body larger than {MAX_BODY} bytes"}, redactor)
    incoming = WebhookRequest(
        integration=spec.name, method=request.method,
        headers={k.lower(): v for k, v in request.headers.items()}, body=body,
        query=dict(request.query_params), connection=request.path_params.get("connection"))
    try:
        handler = host.hook.orchestra_identify_webhook(request=incoming, orchestra=host)
    except Exception as exc:
        return _crash(spec.name, "identifying", exc, redactor)
    if handler is None:
        return _answer(404, {"error": f"no installed plugin accepts webhooks for {spec.name}"},
                       redactor)
    token = _lookup.set(_SecretLookup(host, engine, request.app.state))
    try:
        events = list(await handler.handle(incoming))
    except WebhookRejected as exc:
        logger.info("webhook for %s rejected (%s): %s", spec.name, exc.status,
                    redactor.mask(str(exc)))
        return _answer(exc.status if 400 <= exc.status < 500 else 400, {"error": str(exc)},
                       redactor)
    except (RecursionError, ValueError) as exc:  # a hostile body: too deep, too long a number
        return _unparsable(spec.name, exc, redactor)
    except Exception as exc:
        return _crash(spec.name, "handling", exc, redactor)
    finally:
        _lookup.reset(token)
    bad = [e for e in events if not isinstance(e, WebhookEvent)]
    if bad:
        return _crash(spec.name, "handling", TypeError(
            f"the handler returned {type(bad[0]).__name__}, not WebhookEvent"), redactor)
    if engine is None:
        return _answer(503, {"error": "no engine is running to receive webhook events"},
                       redactor)
    clock = getattr(engine, "clock", None)
    now = clock.now() if clock is not None else datetime.now(UTC)
    stale = stale_reason(events, now)
    if stale is not None:
        logger.info("webhook for %s refused (400): %s", spec.name, stale)
        return _answer(400, {"error": stale}, redactor)
    log = getattr(request.app.state, "delivery_log", None)
    if log is None:
        log = request.app.state.delivery_log = DeliveryLog()
    if getattr(engine, "store", None) is not None:
        fresh = await record_new(log, engine, events, now) if events else []
    else:  # an engine without a store (a test double): the event channel's memory only
        fresh = [True] * len(events)
    new = sum(1 for event, is_new in zip(events, fresh, strict=True)
              if is_new and engine.events.publish(event))
    return _answer(200, {"received": len(events), "new": new, "replayed": len(events) - new},
                   redactor)


def _unparsable(integration: str, exc: Exception, redactor: Redactor) -> JSONResponse:
    why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
    message = f"the {integration} webhook body cannot be parsed: {why}"
    logger.info("webhook for %s rejected (400): %s", integration,
                redactor.mask(message[:300]))
    return _answer(400, {"error": message}, redactor)


def _crash(integration: str, doing: str, exc: Exception, redactor: Redactor) -> JSONResponse:
    message = f"the {integration} webhook handler failed while {doing} the request: " \
              f"{type(exc).__name__}: {exc}"
    logger.error(redactor.mask(message))
    return _answer(500, {"error": message}, redactor)


# -- secrets -------------------------------------------------------------------------------------


class _SecretLookup:
    """Reads webhook secrets from the engine's store at each delivery (decryptions are
    cached per app by ciphertext) and registers them with the host's redactor."""

    def __init__(self, host: Any, engine: Any, state: Any) -> None:
        self.host = host
        self.clock = getattr(engine, "clock", None)
        self.secrets = getattr(engine, "secrets", None)
        cache = getattr(state, "webhook_secret_cache", None)
        if cache is None:
            cache = {}
            state.webhook_secret_cache = cache
        self.cache: dict[tuple[str, str, str], dict[str, str]] = cache

    async def stored(self, integration: str, connection: str | None, field: str) -> list[str]:
        if self.secrets is None:
            return []
        values = await in_thread(self.clock, self._read, integration, connection, field)
        self.host.redactor.add(*values)
        return values

    def _read(self, integration: str, connection: str | None, field: str) -> list[str]:
        cred = credentials.c
        query = sa.select(connections.c.name.label("connection"), connections.c.integration,
                          cred.name, cred.fields, cred.key_id, cred.secret).join(
            credentials, cred.name == connections.c.credential, isouter=True)
        if connection is not None:
            query = query.where(connections.c.name == connection)
        else:
            query = query.where(connections.c.integration == integration)
        with self.secrets.store.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query.order_by(connections.c.name))
                    .mappings()]
        if connection is not None and (not rows or rows[0]["integration"] != integration):
            raise WebhookRejected(f"no {integration} connection named {connection!r}",
                                  status=404)
        values = []
        for row in rows:
            if row["secret"] is None or field not in (row["fields"] or ()):
                continue
            value = self._decrypted(row).get(field)
            if value and value not in values:
                values.append(value)
        return values

    def _decrypted(self, row: dict[str, Any]) -> dict[str, str]:
        key = (row["name"], str(row["key_id"]), str(row["secret"]))
        hit = self.cache.get(key)
        if hit is None:
            hit = self.secrets._decrypt(row, f"credential {row['name']!r}")
            if len(self.cache) >= MAX_DECRYPTED:
                self.cache.clear()
            self.cache[key] = hit
        return hit


def _env_name(integration: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", integration.upper()) + "_WEBHOOK_SECRET"


async def webhook_secrets(request: WebhookRequest, *, field: str = "webhook_secret",
                          env: str | None = None) -> Sequence[str]:
    """The secrets a delivery of *request* may be signed with (call it from
    ``WebhookHandler.handle``).

    In order: the *field* of the credential of the connection named in the URL
    (``/webhooks/{integration}/{connection}``; an unknown connection is rejected with 404),
    or of every stored connection of the integration; then the environment variable *env*
    (default ``<INTEGRATION>_WEBHOOK_SECRET``). Empty when none is configured: a handler
    should then reject the request (401) with a message saying how to configure one. Every
    value is registered with the redactor of the host serving the request (called outside a
    request, only the environment variable is read, and registered nowhere).
    """
    found: list[str] = []
    lookup = _lookup.get()
    if lookup is not None:
        try:
            found = list(await lookup.stored(request.integration, request.connection, field))
        except OrchestraError as exc:
            if isinstance(exc, WebhookRejected):
                raise
            logger.warning("webhook secrets of %s could not be read: %s", request.integration,
                           lookup.host.redactor.mask(str(exc)))
    value = os.environ.get(env or _env_name(request.integration))
    if value:
        if lookup is not None:
            lookup.host.redactor.add(value)
        if value not in found:
            found.append(value)
    return found
