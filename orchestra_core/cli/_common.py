"""What the command modules share: the ``--db`` and ``--json`` options, the host and the store
a command works on, the redactor its output is masked with, timestamps as the CLI prints
them, and the error edge: the only place (with the HTTP server) that turns
:class:`~orchestra_core.OrchestraError` into an exit code, with the message masked.

One command line has one :class:`~orchestra_core.Redactor` (:func:`redactor_of`):
the credentials of the store a command opens are registered with it, the command's host is
built with it (``host.redactor``), and everything printed is masked with it."""

from __future__ import annotations

import contextlib
import importlib
import os
import warnings
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import click

from .._errors import OrchestraError
from .._redaction import Redactor
from .._text import bad_text
from ._startup import resume

__all__ = ("DB_OPTION", "JSON_OPTION", "ErrorEdgeGroup", "LazyCommands", "echo_error",
           "format_ts", "host_of", "open_store", "parse_limits", "redactor_of")

#: ``--db URL_OR_PATH`` (also ``ORCHESTRA_DB``): the state store a command reads and writes.
DB_OPTION = click.option("--db", envvar="ORCHESTRA_DB", metavar="URL_OR_PATH",
                         help="The state store: a SQLite file path or a database URL. Default: "
                         "orchestra.db in ORCHESTRA_HOME or the working directory.")

#: ``--json``: print the result as JSON instead of text.
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def echo_error(exc: OrchestraError, redactor: Redactor) -> None:
    """Print *exc* as the one line ``Error: ...`` on standard error, the secrets registered
    with *redactor* (the command line's) masked."""
    click.echo(f"Error: {redactor.mask(str(exc))}", err=True)


def redactor_of(ctx: click.Context | None = None) -> Redactor:
    """The :class:`~orchestra_core.Redactor` of this command line (of *ctx*, else
    of the current click context): made once per command line (``main`` makes it, so that
    an error raised before a command runs is masked too) and shared by its host."""
    ctx = ctx if ctx is not None else click.get_current_context(silent=True)
    if ctx is None:  # outside a command line: nothing was registered
        return Redactor()
    obj = ctx.find_root().ensure_object(dict)
    redactor = obj.get("redactor")
    if redactor is None:
        redactor = obj["redactor"] = Redactor()
    return redactor


class LazyCommands(MutableMapping[str, click.Command]):
    """A group's commands by name, each imported from its module when first looked up.

    *where* maps each name to ``".module:attribute"`` (a module of this package): running a
    command imports its own module only; listing the commands (``--help``) imports them
    all. Commands added later (``add_command``) are kept as given."""

    def __init__(self, where: Mapping[str, str]) -> None:
        self._where = dict(where)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module, _, attribute = self._where[name].partition(":")
            command = getattr(importlib.import_module(module, __package__), attribute)
            self._loaded[name] = command
            del self._where[name]
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._where.pop(name, None)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if self._where.pop(name, None) is None:
            del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*self._loaded, *self._where])

    def __len__(self) -> int:
        return len(self._loaded) + len(self._where)

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in self._where


class ErrorEdgeGroup(click.Group):
    """Turns library errors into one clear message and exit code 1, never a traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Refuse arguments that are not text (bytes that are not UTF-8), then parse."""
        bad = next((a for a in args if isinstance(a, str) and bad_text(a)), None)
        if bad is not None:
            click.echo(f"Error: the argument {bad!r} is not UTF-8 text (or holds a NUL "
                       "character): give UTF-8 text", err=True)
            ctx.exit(2)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, turning an :class:`OrchestraError` into exit code 1, and any
        other unexpected exception into one line too (``ORCHESTRA_TRACEBACK=1`` shows its
        traceback): whatever a user types, the CLI prints no traceback. A change that
        succeeded is recorded in the audit log (``orchestra audit``)."""
        with warnings.catch_warnings():  # click 8.2 deprecates protected_args (9.0: in args)
            warnings.simplefilter("ignore", DeprecationWarning)
            args = [*ctx.protected_args, *ctx.args]
        try:
            result = super().invoke(ctx)
        except OrchestraError as exc:
            echo_error(exc, redactor_of(ctx))
            ctx.exit(1)
        except click.exceptions.Exit as done:
            # a failed run is still a run made: recorded with its exit status
            if done.exit_code == 0 or args[:1] == ["run"] or args[:2] == ["pipelines", "run"]:
                _record(ctx, args, done.exit_code)
            raise
        except (click.exceptions.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:
            if os.environ.get("ORCHESTRA_TRACEBACK"):
                raise
            text = redactor_of(ctx).mask(f"{type(exc).__name__}: {exc}")
            click.echo(f"Error: unexpected {text} (if the input was valid this is a bug: run "
                       "again with ORCHESTRA_TRACEBACK=1 for the traceback and report it)",
                       err=True)
            ctx.exit(1)
        _record(ctx, args)
        return result


def _record(ctx: click.Context, args: list[str], status: int = 0) -> None:
    from ._auditing import record_cli_change

    record_cli_change(ctx, args, status)


def host_of(ctx: click.Context) -> Any:
    """The :class:`~orchestra_core.Orchestra` of this command line, built on first use with
    the root options (``--no-plugins``, ``--block``) and the command line's redactor
    (:func:`redactor_of`), and shared by every command after."""
    from .._host import Orchestra

    obj = ctx.find_root().obj
    if "host" not in obj:
        obj["host"] = Orchestra(load_entrypoints=not obj["no_plugins"], blocked=obj["blocked"],
                                redactor=redactor_of(ctx))
        resume()  # start-up is over: collect garbage again (see _startup)
    return obj["host"]


def open_store(db: str | None, *, read_only: bool = False,
               durability: str | None = None) -> Any:
    """The :class:`~orchestra_core.Store` at *db* (see ``Store.open``, and there
    *durability*; a command that only reads passes *read_only*, so a store file it may not
    write is opened read-only); from now on the output of this command line
    (:func:`redactor_of`) masks every credential the configured keys can decrypt."""
    from .._secrets import Secrets, register_stored_secrets
    from .._store import Store, default_url

    # a PostgreSQL password in the URL is masked in everything this command prints (a URL
    # that does not parse: Store.open says why)
    url = default_url(db)
    if "@" in url:  # a URL with credentials (never a SQLite file's)
        from sqlalchemy.engine import make_url

        with contextlib.suppress(Exception):
            redactor_of().add(make_url(url).password)
    store = Store.open(db, read_only=read_only, durability=durability)
    register_stored_secrets(Secrets(store), redactor_of())
    ctx = click.get_current_context(silent=True)
    if ctx is not None:  # where the command line's change is recorded (orchestra audit)
        ctx.find_root().ensure_object(dict)["store"] = store
    resume()  # start-up is over: collect garbage again (see _startup)
    return store


def format_ts(value: Any) -> str:
    """A timestamp as the CLI prints it: ISO 8601 to the second, ``Z`` for UTC, ``-`` for
    none."""
    if value is None:
        return "-"
    text = value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value)
    return text.replace("+00:00", "Z")


def parse_limits(host: Any, items: tuple[str, ...]) -> dict[str, int]:
    """``--limit INTEGRATION=N`` options as ``{integration: N}`` (names as the host knows
    them); a usage error naming the option for a malformed item or an unknown integration."""
    limits: dict[str, int] = {}
    for item in items:
        name, _, value = item.partition("=")
        if not name.strip() or not value.strip().isdigit() or int(value) < 1:
            raise click.BadParameter(f"expected INTEGRATION=N with N >= 1, got {item!r}",
                                     param_hint="--limit")
        spec = host.integrations.find(name.strip().lower())
        if spec is None:
            raise click.BadParameter(f"unknown integration {name.strip()!r}; installed: "
                                     f"{', '.join(host.integrations.names())}",
                                     param_hint="--limit")
        limits[spec.name] = int(value)
    return limits
