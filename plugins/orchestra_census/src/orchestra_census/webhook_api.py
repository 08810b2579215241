"""Create the Census webhook that tells Orchestra when syncs start and end.

``orchestra webhooks register census --connection NAME --url https://orchestra.example.com``
runs :func:`register_webhook`: ``POST /api/v1/webhooks`` for the sync lifecycle events,
delivering to Orchestra's ``/webhooks/census/<connection>``. Census shows the signing secret
only in that answer: it is stored at once as the ``webhook_secret`` field of the connection's
credential, where Orchestra's webhook endpoint reads it.
"""

from __future__ import annotations

from typing import Any

from orchestra_core import Connection, OrchestraError

from .runner import DEFAULT_BASE_URL

__all__ = ("EVENTS", "register_webhook")

#: The events Orchestra acts on.
EVENTS = ("sync.triggered", "sync.started", "sync.completed")


async def register_webhook(host: Any, connection: Connection, url: str, *, replace: bool,
                           store_secret: Any) -> dict[str, Any]:
    """Create the webhook for *url* (with *replace*, delete an existing one for the same URL
    first: Census shows a secret only when it creates a webhook) and hand its secret to
    ``store_secret``.

    :raises OrchestraError: when the connection has no token, or a webhook for *url* exists
        and *replace* is false.
    :raises VendorHTTPError: when Census refuses (e.g. an endpoint that is not HTTPS).
    """
    token = connection.secret("token")
    if not token:
        raise OrchestraError(f"Census connection {connection.name!r} needs a token (its "
                             "credential's token field)")
    client = host.vendor_client(
        "census", base_url=connection.base_url or DEFAULT_BASE_URL,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    listed = await client.get("/webhooks", params={"per_page": 100})
    existing = [h for h in (listed or {}).get("data") or [] if h.get("endpoint") == url]
    if existing and not replace:
        raise OrchestraError(f"a Census webhook for {url} exists already (id "
                             f"{existing[0].get('id')}); pass --replace to make a new one")
    for old in existing:
        await client.request("DELETE", f"/webhooks/{old['id']}", idempotent=True)
    body = await client.post("/webhooks", json={
        "name": f"orchestra {connection.name}", "endpoint": url, "events": list(EVENTS),
        "description": "Orchestra: wakes tasks waiting for sync runs"}, idempotent=False)
    data = (body or {}).get("data") or {}
    secret = data.get("secret")
    if not secret:
        raise OrchestraError("Census created the webhook but returned no secret")
    host.redactor.add(secret)
    store_secret(secret)
    return {"id": data.get("id"), "url": data.get("endpoint", url),
            "events": data.get("events"), "replaced": bool(existing)}
