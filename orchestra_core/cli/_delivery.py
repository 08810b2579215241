"""``orchestra destinations``, ``orchestra templates`` and ``orchestra orchestrations``.

The delivery machinery (the store's tables, YAML, the event loop) is imported inside each
command, so that ``orchestra --help`` does not load it."""

from __future__ import annotations

import json
from typing import Any

import click

from ._common import DB_OPTION, JSON_OPTION, format_ts, host_of, open_store

__all__ = ("destinations", "orchestrations", "templates")


def _options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values read as YAML scalars (``true``, ``500``, ``[a, b]``)."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        try:
            out[key] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            out[key] = value
        if out[key] is None:
            out[key] = value
    return out


@click.group()
def destinations() -> None:
    """Named destinations orchestrations deliver to (file drops, REST APIs, SQL tables)."""


@destinations.command("add")
@click.argument("name")
@click.option("--type", "dtype", required=True, help="filedrop, http, sql, or a plugin's type.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="An option of the type (repeatable); checked by the type's model.")
@click.option("--credential", help="A stored credential whose fields the destination uses.")
@click.option("--concurrency", type=click.IntRange(min=1), default=1, show_default=True,
              help="Deliveries to this destination at once.")
@click.option("--description", help="What the destination is for.")
@click.option("--replace", is_flag=True, help="Replace the destination if it exists.")
@DB_OPTION
@click.pass_context
def destinations_add(ctx: click.Context, name: str, dtype: str, options: tuple[str, ...],
                     credential: str | None, concurrency: int, description: str | None,
                     replace: bool, db: str | None) -> None:
    """Store destination NAME of type --type."""
    from .._delivery.catalog import Destinations

    info = Destinations(open_store(db), host_of(ctx)).add(
        name, type=dtype, options=_options(options), credential=credential,
        concurrency=concurrency, description=description, replace=replace)
    click.echo(f"destination {info.name!r} ({info.type}) " + ("replaced" if replace
                                                             else "added"))


@destinations.command("list")
@JSON_OPTION
@DB_OPTION
def destinations_list(as_json: bool, db: str | None) -> None:
    """Every destination: type, credential, options (secret-looking option values, such as
    a password or token, or the password in a URL, are shown as *****)."""
    from .._delivery.catalog import Destinations
    from .._delivery.probe import public_options

    found = Destinations(open_store(db)).list()
    if as_json:
        click.echo(json.dumps([{**d.to_dict(), "options": public_options(dict(d.options))}
                               for d in found], indent=2))
        return
    if not found:
        click.echo("No destinations (add one with orchestra destinations add).")
    for d in found:
        click.echo(f"{d.name}  {d.type}  credential {d.credential or '-'}  concurrency "
                   f"{d.concurrency}  "
                   f"{json.dumps(public_options(dict(d.options)), sort_keys=True)}")


@destinations.command("delete")
@click.argument("name")
@DB_OPTION
def destinations_delete(name: str, db: str | None) -> None:
    """Delete destination NAME (orchestrations naming it then fail)."""
    from .._delivery.catalog import Destinations

    Destinations(open_store(db)).delete(name)
    click.echo(f"destination {name!r} deleted")


@destinations.command("test")
@click.argument("name")
@DB_OPTION
@click.pass_context
def destinations_test(ctx: click.Context, name: str, db: str | None) -> None:
    """Check that destination NAME is reachable and writable, delivering nothing."""
    import anyio

    from .._delivery.probe import check_reachable

    host, store = host_of(ctx), open_store(db)
    if not anyio.run(check_reachable, host, store, name):
        click.echo(f"destination {name!r}: its type has no check; options are valid")
        return
    click.echo(f"destination {name!r}: reachable, credentials and permissions accepted")


@click.group()
def templates() -> None:
    """Named data templates: columns, value formats, file format, compression, names."""


@templates.command("set")
@click.argument("name")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A template setting (repeatable), e.g. format=csv compression=gzip.")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False),
              help="A YAML or JSON file holding the settings.")
@click.option("--description", help="What the template is for.")
@DB_OPTION
def templates_set(name: str, options: tuple[str, ...], path: str | None,
                  description: str | None, db: str | None) -> None:
    """Create or replace data template NAME."""
    import yaml

    from .._delivery.catalog import Templates

    definition: dict[str, Any] = {}
    if path:
        with open(path, encoding="utf-8") as fh:
            definition = dict(yaml.safe_load(fh) or {})
    definition.update(_options(options))
    Templates(open_store(db)).set(name, definition, description)
    click.echo(f"data template {name!r} saved")


@templates.command("list")
@DB_OPTION
def templates_list(db: str | None) -> None:
    """Every data template's name."""
    from .._delivery.catalog import Templates

    for name in Templates(open_store(db)).names():
        click.echo(name)


@click.group()
def orchestrations() -> None:
    """Orchestrations: a source delivered through a data template to a destination."""


@orchestrations.command("list")
@JSON_OPTION
@DB_OPTION
def orchestrations_list(as_json: bool, db: str | None) -> None:
    """Each orchestration's destination, template, run mode, last run, status and rows."""
    from .._delivery.listing import orchestrations as list_orchestrations

    rows = list_orchestrations(open_store(db))
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("No orchestration has run yet.")
        return
    click.echo("PIPELINE / ORCHESTRATION  DESTINATION  TEMPLATE  RUN MODE  LAST RUN  STATUS  ROWS")
    for r in rows:
        click.echo(f"{r['pipeline']} / {r['orchestration']}  {r['destination']}  "
                   f"{r['template']}  {r['run_mode']}  {format_ts(r['last_run_at'])}  "
                   f"{r['status']}  {r['rows'] if r['rows'] is not None else '-'}")
