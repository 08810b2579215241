"""``orchestra tokens`` (API tokens) and ``orchestra audit`` (the audit log)."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import click

from ._auditing import local_user
from ._common import DB_OPTION, JSON_OPTION, format_ts, open_store, redactor_of

__all__ = ("audit", "tokens")


@click.group()
def tokens() -> None:
    """API tokens: each belongs to one client and has a scope (read, run or admin)."""


@tokens.command("create")
@click.argument("name")
@click.option("--client", default="default", show_default=True,
              help="The client (team) whose pipelines and runs the token sees.")
@click.option("--scope", type=click.Choice(["read", "run", "admin"]), default="read",
              show_default=True, help="read: look; run: also start, cancel and resolve runs, "
              "use queues; admin: also apply pipelines and change configuration.")
@JSON_OPTION
@DB_OPTION
def tokens_create(name: str, client: str, scope: str, as_json: bool, db: str | None) -> None:
    """Create API token NAME and print it once: only its hash is stored."""
    from .._api.tokens import ApiTokens

    token, info = ApiTokens(open_store(db)).create(name, client=client, scope=scope,
                                                    created_by=local_user())
    if as_json:
        click.echo(json.dumps({**info.to_dict(), "token": token}, indent=2))
        return
    click.echo(f"created token {info.name!r} for client {info.client!r}, scope {info.scope}")
    click.echo(token)
    click.echo("Copy it now: it is not shown again (only its hash is stored).", err=True)


@tokens.command("list")
@click.option("--client", help="Only this client's tokens.")
@click.option("--all", "show_all", is_flag=True, help="Include revoked tokens.")
@JSON_OPTION
@DB_OPTION
def tokens_list(client: str | None, show_all: bool, as_json: bool, db: str | None) -> None:
    """API tokens: name, client, scope, created, last used (never the token)."""
    from .._api.tokens import ApiTokens

    found = ApiTokens(open_store(db)).list(client=client, revoked=show_all)
    if as_json:
        click.echo(json.dumps([t.to_dict() for t in found], indent=2))
        return
    if not found:
        click.echo("no tokens (create one: orchestra tokens create NAME --client C --scope read)")
    for t in found:
        click.echo(f"{t.name:<24} {t.client:<16} {t.scope:<6} created "
                   f"{format_ts(t.created_at)}  last used {format_ts(t.last_used_at)}"
                   + (f"  REVOKED {format_ts(t.revoked_at)}" if t.revoked_at else ""))


@tokens.command("revoke")
@click.argument("name")
@DB_OPTION
def tokens_revoke(name: str, db: str | None) -> None:
    """Revoke token NAME: requests with it are refused from now on."""
    from .._api.tokens import ApiTokens

    info = ApiTokens(open_store(db)).revoke(name)
    click.echo(f"revoked token {info.name!r} (client {info.client!r})")


@click.command()
@click.option("--client", help="Only changes of this client.")
@click.option("--actor", help="Only changes by token:NAME or local:USER.")
@click.option("--action", help="Only this action, or actions starting with it (pipeline.).")
@click.option("--target", help="Only changes of this target (a pipeline, a run id...).")
@click.option("--since", type=click.DateTime(), help="From this time (UTC).")
@click.option("--until", type=click.DateTime(), help="Up to this time (UTC).")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (before/after as JSON).")
@JSON_OPTION
@DB_OPTION
def audit(client: str | None, actor: str | None, action: str | None, target: str | None,
          since: Any, until: Any, limit: int, as_csv: bool, as_json: bool,
          db: str | None) -> None:
    """The audit log: every change made through the API and the CLI, newest first."""
    from .._api.audit import AuditLog, to_csv

    rows = AuditLog(open_store(db)).list(
        client=client, actor=actor, action=action, target=target,
        since=since.replace(tzinfo=UTC) if since else None,
        until=until.replace(tzinfo=UTC) if until else None, limit=limit)
    redactor = redactor_of()
    rows = redactor.mask_obj(rows)
    if as_csv:
        click.echo(to_csv(rows), nl=False)
        return
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for r in rows:
        click.echo(f"{r['time'][:19]}Z {r['actor']:<20} {r['via']:<4} {r['action']:<22} "
                   f"{r['target'] or '-'}" + (f"  [{r['client']}]" if r["client"] else ""))
