"""``orchestra webhooks``: register a vendor's webhooks for Orchestra through its API."""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlsplit

import click

from .._errors import OrchestraError
from ._common import DB_OPTION, host_of, open_store

__all__ = ("webhooks",)

#: The credential field Orchestra's webhook endpoint reads a connection's signing secret from.
SECRET_FIELD = "webhook_secret"


@click.group()
def webhooks() -> None:
    """Vendor webhooks that wake Orchestra's tasks when external runs start and end."""


def _registrars(host: Any) -> list[str]:
    return sorted(spec.name for spec in host.integrations if spec.webhooks)


def _endpoint(url: str, integration: str, connection: str) -> str:
    """Orchestra's webhook URL: *url* as given when it names a ``/webhooks/`` path, else
    ``URL/webhooks/INTEGRATION/CONNECTION``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"expected an http(s) URL, got {url!r}", param_hint="--url")
    if "/webhooks/" in parts.path + "/":
        return url
    return f"{url.rstrip('/')}/webhooks/{integration}/{connection}"


@webhooks.command("register")
@click.argument("integration")
@click.option("--connection", "connection_name", required=True,
              help="The stored connection of the vendor account (its credential also keeps "
              "the webhook's signing secret, as the webhook_secret field).")
@click.option("--url", required=True, metavar="URL",
              help="Where the vendor reaches `orchestra serve`: its public base URL "
              "(https://orchestra.example.com; /webhooks/INTEGRATION/CONNECTION is added) or "
              "the full webhook URL.")
@click.option("--replace", is_flag=True,
              help="Replace a webhook the vendor already has for this URL (a new secret).")
@DB_OPTION
@click.pass_context
def register(ctx: click.Context, integration: str, connection_name: str, url: str,
             replace: bool, db: str | None) -> None:
    """Register INTEGRATION's webhook for Orchestra through the vendor's API (fivetran,
    dbt, ... : `orchestra webhooks register --help` lists them in the error when you name one
    that cannot), and store its signing secret in the connection's credential. The secret is
    never printed."""
    from .._secrets import Secrets
    from .._secrets._lookup import stored_connection

    host = host_of(ctx)
    spec = host.integrations.find(integration)
    able = _registrars(host)
    if spec is None or not spec.webhooks:
        what = "is not installed" if spec is None else "has no API to register webhooks with"
        raise click.UsageError(f"integration {integration!r} {what}; integrations that can "
                               f"register theirs: {', '.join(able) or 'none installed'}")
    store = open_store(db)
    try:
        secrets = Secrets(store, host=host)
        connection = stored_connection(secrets, connection_name)
        if connection.integration != spec.name:
            raise OrchestraError(f"connection {connection_name!r} is a "
                                 f"{connection.integration} connection, not a {spec.name} one")
        if not connection.credential:
            raise OrchestraError(f"connection {connection_name!r} has no credential to keep the "
                                 "webhook's signing secret in")
        credential = connection.credential
        info = secrets.credentials.get(credential)

        def store_secret(value: str) -> None:
            fields = {k: v for k, v in connection.secrets.items() if k != "username"}
            fields[SECRET_FIELD] = value
            secrets.credentials.set(credential, secrets=fields, username=info.username,
                                    description=info.description)

        target = _endpoint(url, spec.name, connection_name)
        module, _, attribute = spec.webhooks.partition(":")
        register_webhook = getattr(importlib.import_module(module), attribute)

        async def go() -> Any:
            return await register_webhook(host, connection, target, replace=replace,
                                          store_secret=store_secret)

        import anyio  # here: orchestra --help does not load the event loop

        result = anyio.run(go)
    finally:
        store.close()
    events = ", ".join(result.get("events") or []) or "the default events"
    verb = "replaced" if result.get("replaced") else "registered"
    click.echo(f"{verb} {spec.name} webhook {result.get('id')} -> {result.get('url', target)} "
               f"({events}); its signing secret is stored in credential {credential!r} "
               f"(field {SECRET_FIELD})")
