"""The ``orchestra`` command line: the root group and ``main``. Each command group lives in
its own module and is added here; what they share is in :mod:`._common`."""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from .._errors import OrchestraError
from .._redaction import Redactor
from ._api import audit, tokens
from ._common import ErrorEdgeGroup, echo_error
from ._delivery import destinations, orchestrations, templates
from ._fire_times import backfill, preview
from ._plugin import plugin
from ._queues import notifications, queue
from ._run import logs, plugins, run, runs, validate
from ._schedule import pipelines, serve, triggers
from ._secrets import connections, constants, credentials, init, keys
from ._simulate import simulate
from ._startup import pause, resume
from ._webhooks import webhooks

__all__ = ("cli", "main")


@click.group(cls=ErrorEdgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


# every command, by the module that defines it
cli.add_command(validate)
cli.add_command(plugins)
cli.add_command(plugin)
cli.add_command(run)
cli.add_command(runs)
cli.add_command(logs)
cli.add_command(pipelines)
cli.add_command(triggers)
cli.add_command(serve)
triggers.add_command(preview)
pipelines.add_command(backfill)
cli.add_command(init)
cli.add_command(keys)
cli.add_command(constants)
cli.add_command(credentials)
cli.add_command(connections)
cli.add_command(queue)
cli.add_command(notifications)
cli.add_command(simulate)
cli.add_command(destinations)
cli.add_command(templates)
cli.add_command(orchestrations)
cli.add_command(tokens)
cli.add_command(audit)
cli.add_command(webhooks)


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
