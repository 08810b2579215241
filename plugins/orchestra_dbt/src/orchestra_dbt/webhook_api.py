"""Create the dbt Cloud webhook subscription that tells Orchestra when job runs end.

``orchestra webhooks register dbt --connection NAME --url https://orchestra.example.com``
runs :func:`register_webhook`: a subscription (API v3, ``POST /api/v3/accounts/{account}/
webhooks/subscriptions``) for ``job.run.started``, ``job.run.completed`` and
``job.run.errored`` of every job (or the connection option ``job_ids``, comma-separated),
delivering to Orchestra's ``/webhooks/dbt/<connection>``. dbt Cloud returns the signing
``hmac_secret`` only in that answer: it is stored at once as the ``webhook_secret`` field of
the connection's credential, where Orchestra's webhook endpoint reads it.
"""

from __future__ import annotations

from typing import Any

from orchestra_core import Connection, OrchestraError

from .runner import _access_url
from .webhooks import EVENT_TYPES

__all__ = ("register_webhook",)


async def register_webhook(host: Any, connection: Connection, url: str, *, replace: bool,
                           store_secret: Any) -> dict[str, Any]:
    """Create the subscription for *url* (with *replace*, delete an existing one for the same
    URL first: dbt Cloud shows a secret only when it creates a subscription) and hand its
    ``hmac_secret`` to ``store_secret``.

    :raises OrchestraError: when the connection lacks a token or account id, or a
        subscription for *url* exists and *replace* is false.
    :raises VendorHTTPError: when dbt Cloud refuses.
    """
    token = connection.secret("token")
    options = dict(connection.options or {})
    account = options.get("account_id") or connection.secrets.get("account_id")
    if not token or account is None:
        raise OrchestraError(f"dbt Cloud connection {connection.name!r} needs a token (its "
                             "credential's token field) and an account_id option")
    scheme = "Bearer" if (connection.auth or "").lower() == "bearer" else "Token"
    client = host.vendor_client(
        "dbt", base_url=_access_url(connection.base_url),
        headers={"Authorization": f"{scheme} {token}", "Accept": "application/json"})
    base = f"/api/v3/accounts/{int(str(account).strip())}/webhooks"
    listed = await client.get(f"{base}/subscriptions", params={"limit": 100})
    existing = [s for s in (listed or {}).get("data") or [] if s.get("client_url") == url]
    if existing and not replace:
        raise OrchestraError(f"a dbt Cloud webhook subscription for {url} exists already (id "
                             f"{existing[0].get('id')}); pass --replace to make a new one")
    for old in existing:
        await client.request("DELETE", f"{base}/subscription/{old['id']}", idempotent=True)
    jobs = [j.strip() for j in str(options.get("job_ids") or "").split(",") if j.strip()]
    body = await client.post(f"{base}/subscriptions", json={
        "name": f"orchestra {connection.name}", "client_url": url, "active": True,
        "event_types": list(EVENT_TYPES), "job_ids": jobs,
        "description": "Orchestra: wakes tasks waiting for job runs"}, idempotent=False)
    data = (body or {}).get("data") or {}
    secret = data.get("hmac_secret")
    if not secret:
        raise OrchestraError("dbt Cloud created the subscription but returned no hmac_secret")
    host.redactor.add(secret)
    store_secret(secret)
    return {"id": data.get("id"), "url": data.get("client_url", url),
            "events": data.get("event_types"), "replaced": bool(existing)}
