"""What the command modules share: the ``--db`` and ``--json`` options, the host and the store
a command works on, timestamps as the CLI prints them, and the error edge: the only place
(with the HTTP server) that turns :class:`~orchestra_core._errors.OrchestraError` into an exit
code, with the message redacted."""

from __future__ import annotations

from typing import Any

import click

from .._errors import OrchestraError
from .._redaction import redact

__all__ = ("DB_OPTION", "JSON_OPTION", "ErrorEdgeGroup", "echo_error", "format_ts", "host_of",
           "open_store")

#: ``--db URL_OR_PATH`` (also ``ORCHESTRA_DB``): the state store a command reads and writes.
DB_OPTION = click.option("--db", envvar="ORCHESTRA_DB", metavar="URL_OR_PATH",
                         help="The state store: a SQLite file path or a database URL. Default: "
                         "orchestra.db in ORCHESTRA_HOME or the working directory.")

#: ``--json``: print the result as JSON instead of text.
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def echo_error(exc: OrchestraError) -> None:
    """Print *exc* as the one line ``Error: ...`` on standard error, secrets masked."""
    click.echo(f"Error: {redact(str(exc))}", err=True)


class ErrorEdgeGroup(click.Group):
    """Turns library errors into one clear message and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, turning an :class:`OrchestraError` into exit code 1."""
        try:
            return super().invoke(ctx)
        except OrchestraError as exc:
            echo_error(exc)
            ctx.exit(1)


def host_of(ctx: click.Context) -> Any:
    """The :class:`~orchestra_core.Orchestra` of this command line, built on first use with
    the root options (``--no-plugins``, ``--block``) and shared by every command after."""
    from .._host import Orchestra

    obj = ctx.find_root().obj
    if "host" not in obj:
        obj["host"] = Orchestra(load_entrypoints=not obj["no_plugins"], blocked=obj["blocked"])
    return obj["host"]


def open_store(db: str | None) -> Any:
    """The :class:`~orchestra_core._store.Store` at *db* (see ``Store.open``); from now on the
    outputs of this process mask every credential the configured keys can decrypt."""
    from .._secrets import Secrets, register_stored_secrets
    from .._store import Store

    store = Store.open(db)
    register_stored_secrets(Secrets(store))
    return store


def format_ts(value: Any) -> str:
    """A timestamp as the CLI prints it: ISO 8601 to the second, ``Z`` for UTC, ``-`` for
    none."""
    if value is None:
        return "-"
    text = value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value)
    return text.replace("+00:00", "Z")
