"""Create the Fivetran webhook that tells Orchestra when syncs start and end.

::

    import anyio
    from orchestra_fivetran import create_webhook

    setup = anyio.run(lambda: create_webhook(
        "https://orchestra.example.com/webhooks/fivetran",
        api_key="...", api_secret="..."))
    print(setup.webhook["id"], setup.secret)   # store setup.secret as a credential field

The webhook is API-managed (``POST /v1/webhooks/account``, or ``/v1/webhooks/group/{id}``
for one destination group), subscribed to ``sync_start`` and ``sync_end``, and signed with a
freshly generated secret that Fivetran never shows again: store it in the ``webhook_secret``
field of the Fivetran connection's credential (or ``FIVETRAN_WEBHOOK_SECRET``).
"""

from __future__ import annotations

import secrets as _secrets
from collections.abc import Sequence
from typing import Any

from attrs import field, frozen

from orchestra_core import Connection, OrchestraError

from ._api import DEFAULT_BASE_URL, FivetranAPI

__all__ = ("DEFAULT_EVENTS", "WebhookSetup", "create_webhook", "generate_secret",
           "register_webhook")

#: The events Orchestra acts on.
DEFAULT_EVENTS = ("sync_start", "sync_end")


@frozen(kw_only=True)
class WebhookSetup:
    """What :func:`create_webhook` made.

    :ivar webhook: the webhook as Fivetran returned it (``id``, ``url``, ``events``,
        ``active``, ``group_id``; its ``secret`` masked).
    :ivar secret: the signing secret: store it as the ``webhook_secret`` credential field.
    :ivar replaced: whether an existing webhook for the same URL got the new secret.
    """

    webhook: dict[str, Any]
    secret: str = field(repr=False)
    replaced: bool = False


def generate_secret() -> str:
    """A new random webhook secret (43 URL-safe characters, 256 bits)."""
    return _secrets.token_urlsafe(32)


async def create_webhook(url: str, *, connection: Connection | None = None,
                         api_key: str | None = None, api_secret: str | None = None,
                         base_url: str | None = None, group_id: str | None = None,
                         events: Sequence[str] = DEFAULT_EVENTS, secret: str | None = None,
                         replace: bool = False, transport: Any = None) -> WebhookSetup:
    """Create a Fivetran webhook that delivers *events* to *url* (Orchestra's
    ``/webhooks/fivetran`` endpoint, or ``/webhooks/fivetran/<connection name>``).

    :param url: the HTTPS URL Fivetran will POST to. Fivetran test-posts to it at once, so
        ``orchestra serve`` must be reachable there (and answers only signed requests: set
        the secret first, or pass one you stored already as *secret*).
    :param connection: a Fivetran :class:`~orchestra_core._models.Connection` (its
        ``api_key``, ``api_secret`` and ``base_url``); or give *api_key*, *api_secret* and
        *base_url* directly.
    :param group_id: make a group webhook (syncs of that destination group only) instead of
        an account webhook.
    :param events: the events to subscribe to.
    :param secret: the signing secret; default: a new one (:func:`generate_secret`).
    :param replace: when a webhook for *url* exists already, give it the new secret (and
        *events*, and activate it) instead of failing.
    :param transport: an httpx transport (a simulator's, in tests).
    :raises OrchestraError: when a webhook for *url* exists and *replace* is false.
    :raises VendorHTTPError: when Fivetran refuses (e.g. 400 when the test POST fails).
    """
    if connection is None:
        connection = Connection(name="fivetran", integration="fivetran",
                                base_url=base_url or DEFAULT_BASE_URL,
                                secrets={k: v for k, v in (("api_key", api_key),
                                                           ("api_secret", api_secret)) if v})
    api = FivetranAPI.for_connection(None, connection, transport=transport)
    secret = secret or generate_secret()
    api.client.redactor.add(secret)  # masked in the client's errors
    try:
        existing = [h for h in await api.list_webhooks() if h.get("url") == url
                    and h.get("group_id") == group_id]
        if existing and not replace:
            raise OrchestraError(
                f"a Fivetran webhook for {url} exists already (id {existing[0].get('id')}); "
                "pass replace=True to give it a new secret")
        if existing:
            hook = await api.client.patch(
                f"/webhooks/{existing[0]['id']}", idempotent=True,
                json={"secret": secret, "events": list(events), "active": True})
            return WebhookSetup(webhook=hook.get("data") or {}, secret=secret, replaced=True)

        async def find_existing() -> Any:
            # a create whose answer was lost: the webhook exists with our secret
            for hook in await api.list_webhooks():
                if hook.get("url") == url and hook.get("group_id") == group_id:
                    return {"data": hook}
            return None

        path = f"/webhooks/group/{group_id}" if group_id else "/webhooks/account"
        body = await api.client.post(path, json={"url": url, "events": list(events),
                                                 "active": True, "secret": secret},
                                     find_existing=find_existing)
        return WebhookSetup(webhook=(body or {}).get("data") or {}, secret=secret)
    finally:
        await api.client.aclose()


async def register_webhook(host: Any, connection: Connection, url: str, *, replace: bool,
                           store_secret: Any) -> dict[str, Any]:
    """What ``orchestra webhooks register fivetran --connection NAME`` runs: a new secret,
    stored first (Fivetran test-posts to *url*, signed with it, before it answers), then the
    account webhook for *url* created (or, with *replace*, given the new secret).

    :param host: the :class:`~orchestra_core.Orchestra` (the secret is registered with its
        redactor).
    :param store_secret: ``store_secret(secret)`` keeps the secret in the connection's
        credential; called again with the previous secret if the creation fails.
    """
    previous = connection.secret("webhook_secret")
    secret = generate_secret()
    host.redactor.add(secret)
    store_secret(secret)
    try:
        setup = await create_webhook(url, connection=connection, secret=secret,
                                     replace=replace,
                                     group_id=(connection.options or {}).get("group_id"))
    except BaseException:
        if previous:
            store_secret(previous)
        raise
    hook = setup.webhook
    return {"id": hook.get("id"), "url": hook.get("url", url), "events": hook.get("events"),
            "replaced": setup.replaced}
