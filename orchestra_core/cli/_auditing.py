"""The command line's changes in the audit log: who (``local:<user>``), which command."""

from __future__ import annotations

import getpass
from typing import Any

import click

__all__ = ("CHANGES", "local_user", "record_cli_change")


def local_user() -> str:
    """Who runs the command line, as the audit log names them: ``local:<user>``."""
    try:
        return f"local:{getpass.getuser()}"
    except Exception:  # no user name in this environment
        return "local:unknown"


#: Commands that change something, recorded in the audit log when they succeed.
CHANGES = {
    ("pipelines", "apply"), ("pipelines", "delete"), ("pipelines", "activate"),
    ("pipelines", "deactivate"), ("pipelines", "run"), ("triggers", "add"),
    ("triggers", "delete"), ("runs", "cancel"), ("run",), ("constants", "set"),
    ("constants", "delete"), ("credentials", "set"), ("credentials", "delete"),
    ("connections", "add"), ("connections", "delete"), ("keys", "rotate"),
    ("queue", "push"), ("queue", "claim"), ("queue", "complete"), ("queue", "fail"),
    ("tokens", "create"), ("tokens", "revoke"),
}


def _target(ctx: click.Context, args: list[str]) -> str | None:
    """The first argument of the command *args* name (a file, a pipeline, a run id...)."""
    command: Any = ctx.command
    rest = list(args)
    name = ""
    try:
        while isinstance(command, click.Group) and rest:
            name, command, rest = command.resolve_command(ctx, rest)
        if command is None:
            return None
        with command.make_context(name, rest, parent=ctx, resilient_parsing=True) as sub:
            for param in command.params:
                if isinstance(param, click.Argument) and sub.params.get(param.name):
                    value = sub.params[param.name]
                    return str(value[0] if isinstance(value, tuple) else value)
    except (click.ClickException, click.exceptions.Exit):
        return None
    return None


def record_cli_change(ctx: click.Context, args: list[str], status: int = 0) -> None:
    """Record the command line *args* in the audit log of the store the command opened,
    if it is a change (:data:`CHANGES`): who, the command (masked) and its first argument
    as the target. Never fails the command."""
    obj = ctx.find_root().ensure_object(dict)
    store = obj.get("store")
    words = args[:1] + [a for a in args[1:] if not a.startswith("-")][:1]
    if store is None or not words:
        return
    if tuple(words[:1]) in CHANGES:
        words = words[:1]
    elif tuple(words) not in CHANGES:
        return
    from .._api.audit import AuditLog

    redactor = obj.get("redactor")
    shown = [redactor.mask(a) if redactor is not None else a for a in args]
    target = _target(ctx, args)
    try:
        AuditLog(store, redactor).record(
            actor=local_user(), via="cli", action="cli." + ".".join(words),
            target=redactor.mask(target) if redactor is not None and target else target,
            after={"command": ["orchestra", *shown], "exit_status": status})
    except Exception as exc:  # the change is made; say that recording it failed
        click.echo(f"warning: could not record this change in the audit log: "
                   f"{type(exc).__name__}", err=True)
