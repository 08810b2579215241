"""The ``orchestra`` command line: the root group and ``main``. Each command group lives in
its own module, named in :data:`COMMANDS` and imported when the command runs; what they
share is in :mod:`._common`."""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from .._errors import OrchestraError
from .._redaction import Redactor
from ._common import ErrorEdgeGroup, LazyCommands, echo_error
from ._startup import pause, resume

__all__ = ("COMMANDS", "cli", "main")

#: Every command, by the module (of this package) that defines it: a command line imports
#: the module of the command it runs, not the others (``--help`` lists them all).
COMMANDS: dict[str, str] = {
    "validate": "._run:validate",
    "plugins": "._run:plugins",
    "plugin": "._plugin:plugin",
    "run": "._run:run",
    "runs": "._run:runs",
    "logs": "._run:logs",
    "pipelines": "._schedule:pipelines",
    "triggers": "._schedule:triggers",
    "serve": "._schedule:serve",
    "init": "._secrets:init",
    "keys": "._secrets:keys",
    "constants": "._secrets:constants",
    "credentials": "._secrets:credentials",
    "connections": "._secrets:connections",
    "queue": "._queues:queue",
    "notifications": "._queues:notifications",
    "simulate": "._simulate:simulate",
    "destinations": "._delivery:destinations",
    "templates": "._delivery:templates",
    "orchestrations": "._delivery:orchestrations",
    "tokens": "._api:tokens",
    "audit": "._api:audit",
    "webhooks": "._webhooks:webhooks",
}


@click.group(cls=ErrorEdgeGroup, commands=LazyCommands(COMMANDS),
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="orchestra")
@click.option("--no-plugins", is_flag=True, envvar="ORCHESTRA_DISABLE_PLUGIN_AUTOLOAD",
              help="Load only the built-in integrations, no installed plugins.")
@click.option("--block", "blocked", multiple=True, metavar="NAME",
              help="Do not load the plugin NAME (repeatable). Also ORCHESTRA_BLOCK_PLUGINS=a,b.")
@click.pass_context
def cli(ctx: click.Context, no_plugins: bool, blocked: tuple[str, ...]) -> None:
    """Orchestra: run data pipelines of Fivetran, dbt Cloud, Census, Hightouch, Amperity,
    HTTP and local-process tasks, declared in YAML or JSON files."""
    env_blocked = [b.strip() for b in os.environ.get("ORCHESTRA_BLOCK_PLUGINS", "").split(",")]
    obj = ctx.ensure_object(dict)  # main() puts the command line's redactor in it
    obj.update(no_plugins=no_plugins, blocked=[*blocked, *filter(None, env_blocked)])
    obj.setdefault("redactor", Redactor())


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``orchestra`` script."""
    pause()  # no garbage collection while the command imports what it uses (see _startup)
    redactor = Redactor()  # the command line's: its host's, and what its output is masked with
    try:
        cli.main(args=argv, prog_name="orchestra", standalone_mode=True,
                 obj={"redactor": redactor})
    except OrchestraError as exc:  # raised while building the host, before a command runs
        echo_error(exc, redactor)
        sys.exit(1)
    finally:
        resume(freeze=False)  # a command that never got its host or store: as it was
