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


def record_cli_change(obj: dict[str, Any], args: list[str]) -> None:
    """Record the command line *args* in the audit log of the store the command opened,
    if it is a change (:data:`CHANGES`). Masked; never fails the command."""
    store = obj.get("store")
    words = args[:1] + [a for a in args[1:] if not a.startswith("-")][:1]
    if store is None or not words or (tuple(words[:1]) not in CHANGES
                                      and tuple(words) not in CHANGES):
        return
    from .._api.audit import AuditLog

    redactor = obj.get("redactor")
    shown = [redactor.mask(a) if redactor is not None else a for a in args]
    try:
        AuditLog(store, redactor).record(actor=local_user(), via="cli",
                                         action="cli." + ".".join(words), target=None,
                                         after={"command": ["orchestra", *shown]})
    except Exception as exc:  # the change is made; say that recording it failed
        click.echo(f"warning: could not record this change in the audit log: "
                   f"{type(exc).__name__}", err=True)
