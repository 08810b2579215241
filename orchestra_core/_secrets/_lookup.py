"""One stored connection by name, its credential decrypted: what notification channels read
(an SMTP password, a Slack webhook URL) without the value being written in a pipeline file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._models import Connection
from ._errors import SecretsError
from ._resolve import credential_fields, register_secret_values

if TYPE_CHECKING:
    from ._api import Secrets

__all__ = ("stored_connection",)


def stored_connection(secrets: Secrets, name: str) -> Connection:
    """The connection *name* of *secrets*' store, with its credential's fields decrypted and
    registered with the host's redactor (so they are masked wherever text leaves the process).

    :raises SecretsError: when there is no such connection or its credential is missing.
    """
    snap = secrets._snapshot()
    row = snap["connections"].get(name)
    if row is None:
        known = ", ".join(sorted(snap["connections"])) or "none"
        raise SecretsError(f"connection {name!r} does not exist (stored connections: {known});"
                           f" add it with: orchestra connections add {name} ...")
    values = credential_fields(snap, name, lambda cred, what: secrets._decrypt(
        snap["credentials"][cred], what))
    redactor = getattr(secrets.host, "redactor", None)
    if redactor is not None:
        register_secret_values(redactor, values.values())
    return Connection(name=name, integration=row["integration"], base_url=row["base_url"],
                      auth=row["auth"], options=dict(row["options"] or {}), secrets=values,
                      credential=row["credential"])
