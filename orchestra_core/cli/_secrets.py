"""``orchestra init``, ``keys``, ``constants``, ``credentials`` and ``connections``.

No command prints a decrypted secret, and none takes one as an argument: a credential's
fields are prompted (hidden), read from an environment variable (``--from-env``) or from
standard input (``--stdin``).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from .._redaction import MIN_SECRET_LENGTH
from ._common import DB_OPTION, JSON_OPTION, host_of, open_store

__all__ = ("connections", "constants", "credentials", "init", "keys")

_KEY_FILE = click.option(
    "--key-file", type=click.Path(dir_okay=False), envvar="ORCHESTRA_SECRET_KEY_FILE",
    help="The key file (default: orchestra.key in ORCHESTRA_HOME or the working directory).")


def _secrets(db: str | None, key_file: str | None = None, ctx: click.Context | None = None
             ) -> Any:
    from .._secrets import Secrets

    host = host_of(ctx) if ctx is not None else None
    return Secrets(open_store(db), host=host, key_file=key_file)


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


# -- init ----------------------------------------------------------------------------------------


@click.command()
@DB_OPTION
@_KEY_FILE
def init(db: str | None, key_file: str | None) -> None:
    """Create the store (or bring its schema up to date) and, where no key is configured,
    a key file holding a new secret key."""
    from .._secrets import KEY_ENV, KeyRing, default_key_file, generate_key, write_key_file

    store = open_store(db)
    click.echo(f"store ready: {store.url}")
    store.close()
    path = key_file or default_key_file()
    ring = KeyRing.load(key_file=key_file) if key_file is None or os.path.exists(key_file) \
        else KeyRing()
    if ring:
        where = ", ".join(sorted({k.source for k in ring.keys}))
        click.echo(f"secret key configured: key id {ring.primary.id} (from {where})")
        return
    key = generate_key()
    written = write_key_file(path, [key])
    click.echo(f"created key file {written} (mode 0600) with a new key, id "
               f"{KeyRing.from_keys(key).primary.id}")
    click.echo("Back it up apart from the store: without it the credentials cannot be "
               f"decrypted. (Or give the key in {KEY_ENV} instead of a file.)")


# -- keys ----------------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """Create secret keys, see which credentials use which key, rotate."""


@keys.command("new")
@click.option("--add", is_flag=True,
              help="Add the key to the key file as its newest key instead of printing it.")
@_KEY_FILE
def keys_new(add: bool, key_file: str | None) -> None:
    """Print a new random 256-bit key, once (or add it to the key file with --add)."""
    from .._secrets import KeyRing, default_key_file, generate_key, write_key_file

    key = generate_key()
    key_id = KeyRing.from_keys(key).primary.id
    if not add:
        click.echo(key)
        click.echo(f"key id {key_id}: store it safely; Orchestra keeps no copy "
                   "(ORCHESTRA_SECRET_KEY or a key file with mode 0600)", err=True)
        return
    path = key_file or default_key_file()
    old = KeyRing.from_file(path) if os.path.exists(path) else KeyRing()
    existing = [_key_text(k.raw) for k in old.keys]
    write_key_file(path, [key, *existing])
    click.echo(f"added key {key_id} to {path} as the newest key"
               + (f" (before {', '.join(old.ids)})" if old else ""))
    if old:
        click.echo("run `orchestra keys rotate` to re-encrypt the credentials under it")


def _key_text(raw: bytes) -> str:
    """A key's bytes written as a key file holds them."""
    import base64

    return base64.urlsafe_b64encode(raw).decode("ascii")


@keys.command("list")
@JSON_OPTION
@DB_OPTION
@_KEY_FILE
def keys_list(as_json: bool, db: str | None, key_file: str | None) -> None:
    """Configured key ids (the primary first) and the credentials encrypted under each, also
    under keys that are not configured. Never prints a key."""
    usage = _secrets(db, key_file).keys.usage()
    if as_json:
        _print_json([u.to_dict() for u in usage])
        return
    if not usage:
        click.echo("no key configured and no credential stored")
    for u in usage:
        state = ("primary" if u.primary else "configured") if u.configured else "NOT CONFIGURED"
        names = ", ".join(u.credentials) or "-"
        source = f" from {u.source}" if u.source else ""
        click.echo(f"{u.key_id}  {state:<14} {len(u.credentials)} credential(s): {names}"
                   f"{source}")


@keys.command("rotate")
@DB_OPTION
@_KEY_FILE
def keys_rotate(db: str | None, key_file: str | None) -> None:
    """Re-encrypt every credential under the newest (primary) key, in one transaction.

    Configure the new key first (newest first, the old ones after it). If any credential
    cannot be decrypted, nothing changes.
    """
    report = _secrets(db, key_file).keys.rotate()
    click.echo(f"re-encrypted {len(report.rotated)} credential(s) under key {report.key_id}"
               + (f": {', '.join(report.rotated)}" if report.rotated else "")
               + (f"; {len(report.unchanged)} already were" if report.unchanged else ""))


# -- constants -----------------------------------------------------------------------------------


@click.group()
def constants() -> None:
    """Named plain-text values shared by every pipeline (${constants.NAME} in parameters)."""


@constants.command("set")
@click.argument("name")
@click.argument("value")
@click.option("--description", help="What the constant is for.")
@DB_OPTION
def constants_set(name: str, value: str, description: str | None, db: str | None) -> None:
    """Create or replace constant NAME with VALUE (plain text, not a secret)."""
    info = _secrets(db).constants.set(name, value, description=description)
    click.echo(f"constant {info.name!r} set")


@constants.command("get")
@click.argument("name")
@DB_OPTION
def constants_get(name: str, db: str | None) -> None:
    """Print the value of constant NAME."""
    click.echo(_secrets(db).constants.get(name))


@constants.command("list")
@JSON_OPTION
@DB_OPTION
def constants_list(as_json: bool, db: str | None) -> None:
    """Every constant with its value."""
    found = _secrets(db).constants.list()
    if as_json:
        _print_json([c.to_dict() for c in found])
        return
    for c in found:
        click.echo(f"{c.name} = {c.value}" + (f"  # {c.description}" if c.description else ""))


@constants.command("delete")
@click.argument("name")
@DB_OPTION
def constants_delete(name: str, db: str | None) -> None:
    """Delete constant NAME."""
    _secrets(db).constants.delete(name)
    click.echo(f"constant {name!r} deleted")


# -- credentials ---------------------------------------------------------------------------------


@click.group()
def credentials() -> None:
    """Named secrets (a password, an API key and secret, a token), encrypted at rest."""


def _env_sources(items: tuple[str, ...], fields: list[str]) -> dict[str, str]:
    """``--from-env`` values: ``FIELD=VAR``, or ``VAR`` for the first field."""
    sources: dict[str, str] = {}
    for item in items:
        field_name, sep, var = item.partition("=")
        if not sep:
            field_name, var = (fields[0] if fields else "password"), item
        if not field_name or not var:
            raise click.BadParameter(f"expected FIELD=VARIABLE or VARIABLE, got {item!r}",
                                     param_hint="--from-env")
        sources[field_name] = var
    return sources


@credentials.command("set")
@click.argument("name")
@click.option("--username", help="The user name (plain text; listings show it).")
@click.option("--field", "fields", multiple=True, metavar="FIELD",
              help="A secret field to set (repeatable), e.g. api_key; default: password.")
@click.option("--from-env", "from_env", multiple=True, metavar="[FIELD=]VARIABLE",
              help="Read a field from an environment variable (repeatable).")
@click.option("--stdin", "use_stdin", is_flag=True,
              help="Read the fields from standard input, one line each, in --field order.")
@click.option("--description", help="What the credential is for.")
@DB_OPTION
@_KEY_FILE
def credentials_set(name: str, username: str | None, fields: tuple[str, ...],
                    from_env: tuple[str, ...], use_stdin: bool, description: str | None,
                    db: str | None, key_file: str | None) -> None:
    """Create or replace credential NAME, encrypting its secret fields under the primary key.

    Values are never arguments: each field is prompted (hidden, asked twice) unless it comes
    from --from-env or --stdin.
    """
    wanted = list(dict.fromkeys(fields))
    env = _env_sources(from_env, wanted)
    for field_name in env:
        if field_name not in wanted:
            wanted.append(field_name)
    if not wanted:
        wanted = ["password"]
    values: dict[str, str] = {}
    for field_name, var in env.items():
        value = os.environ.get(var)
        if not value:
            raise click.UsageError(f"--from-env: the environment variable {var} is not set")
        values[field_name] = value
    rest = [f for f in wanted if f not in values]
    if use_stdin and rest:
        try:
            lines = sys.stdin.read().splitlines() if len(rest) > 1 else \
                [sys.stdin.read().rstrip("\r\n")]
        except UnicodeDecodeError:
            raise click.UsageError("--stdin: the input is not UTF-8 text") from None
        if len(lines) < len(rest):
            raise click.UsageError(f"--stdin: expected {len(rest)} line(s) ({', '.join(rest)}), "
                                   f"got {len(lines)}")
        values.update(zip(rest, lines, strict=False))
    elif rest:
        for field_name in rest:
            values[field_name] = click.prompt(
                f"{field_name} for {name}", hide_input=True, confirmation_prompt=True,
                value_proc=_long_enough)
    info = _secrets(db, key_file).credentials.set(
        name, secrets=values, username=username, description=description)
    click.echo(f"credential {info.name!r} set: {', '.join(info.fields)} encrypted with key "
               f"{info.key_id}" + (f"; username {info.username}" if info.username else ""))


def _long_enough(value: str) -> str:
    if len(value) < MIN_SECRET_LENGTH:
        raise click.UsageError(f"at least {MIN_SECRET_LENGTH} characters")
    return value


@credentials.command("list")
@JSON_OPTION
@DB_OPTION
def credentials_list(as_json: bool, db: str | None) -> None:
    """Every credential: user name, field names and key id (never a value)."""
    found = _secrets(db).credentials.list()
    if as_json:
        _print_json([c.to_dict() for c in found])
        return
    for c in found:
        user = f"  username {c.username}" if c.username else ""
        click.echo(f"{c.name}  fields: {', '.join(c.fields)}  key {c.key_id}{user}"
                   + (f"  # {c.description}" if c.description else ""))


@credentials.command("delete")
@click.argument("name")
@DB_OPTION
def credentials_delete(name: str, db: str | None) -> None:
    """Delete credential NAME (refused while a connection uses it)."""
    _secrets(db).credentials.delete(name)
    click.echo(f"credential {name!r} deleted")


# -- connections ---------------------------------------------------------------------------------


@click.group()
def connections() -> None:
    """Named connections of integrations that tasks use with secondary_configuration_id."""


def _options(items: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--option")
        key = key.strip()
        if key == "headers" or key.startswith("headers."):
            header = key.partition(".")[2]
            if not header:
                raise click.BadParameter("give headers as headers.NAME=VALUE",
                                         param_hint="--option")
            out.setdefault("headers", {})[header] = value
        else:
            out[key] = value
    return out


@connections.command("add")
@click.argument("name")
@click.option("--integration", required=True, help="The integration, e.g. http or fivetran.")
@click.option("--base-url", help="The API base URL (default: the vendor's).")
@click.option("--auth", help="Auth scheme: none, basic, bearer, header (or what the "
              "integration defines).")
@click.option("--credential", help="The credential holding the secret fields.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A non-secret option (repeatable); headers.NAME=VALUE adds a header.")
@click.option("--description", help="What the connection is for.")
@click.option("--replace", is_flag=True, help="Replace the connection if it exists.")
@DB_OPTION
@click.pass_context
def connections_add(ctx: click.Context, name: str, integration: str, base_url: str | None,
                    auth: str | None, credential: str | None, options: tuple[str, ...],
                    description: str | None, replace: bool, db: str | None) -> None:
    """Store connection NAME for an integration, checked against what it requires."""
    info = _secrets(db, ctx=ctx).connections.add(
        name, integration=integration, base_url=base_url, auth=auth, credential=credential,
        options=_options(options), description=description, replace=replace)
    click.echo(f"connection {info.name!r} ({info.integration}) "
               + ("replaced" if replace else "added"))


@connections.command("list")
@click.option("--integration", help="Only connections of this integration.")
@JSON_OPTION
@DB_OPTION
def connections_list(integration: str | None, as_json: bool, db: str | None) -> None:
    """Every connection: integration, base URL, auth scheme, credential."""
    found = _secrets(db).connections.list(integration=integration)
    if as_json:
        _print_json([c.to_dict() for c in found])
        return
    for c in found:
        click.echo(f"{c.name}  {c.integration}  {c.base_url or '(default URL)'}  auth "
                   f"{c.auth or '-'}  credential {c.credential or '-'}")


@connections.command("show")
@click.argument("name")
@JSON_OPTION
@DB_OPTION
def connections_show(name: str, as_json: bool, db: str | None) -> None:
    """Connection NAME with its options and its credential's field names (no values)."""
    secrets = _secrets(db)
    info = secrets.connections.get(name)
    cred = secrets.credentials.get(info.credential) if info.credential else None
    if as_json:
        _print_json({**info.to_dict(), "credential_info": cred.to_dict() if cred else None})
        return
    click.echo(f"connection {info.name}: {info.integration}")
    click.echo(f"  base URL: {info.base_url or '(the integration default)'}")
    click.echo(f"  auth: {info.auth or '(the integration default)'}")
    if cred is not None:
        click.echo(f"  credential: {cred.name} (fields {', '.join(cred.fields)}, key "
                   f"{cred.key_id}" + (f", username {cred.username}" if cred.username else "")
                   + ")")
    else:
        click.echo("  credential: -")
    for key, value in sorted(info.options.items()):
        click.echo(f"  option {key}: {json.dumps(value) if not isinstance(value, str) else value}")
    if info.description:
        click.echo(f"  description: {info.description}")


@connections.command("delete")
@click.argument("name")
@DB_OPTION
def connections_delete(name: str, db: str | None) -> None:
    """Delete connection NAME (its credential stays)."""
    _secrets(db).connections.delete(name)
    click.echo(f"connection {name!r} deleted")
