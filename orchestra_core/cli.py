"""The ``orchestra`` command line. The only place (with the HTTP server) that turns
:class:`~orchestra_core.errors.OrchestraError` into exit codes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from . import __version__
from .errors import OrchestraError

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ("main",)


def _host(ctx: click.Context) -> Any:
    from .host import Orchestra

    obj = ctx.find_root().obj
    if "host" not in obj:
        obj["host"] = Orchestra(load_entrypoints=not obj["no_plugins"], blocked=obj["blocked"])
    return obj["host"]


class _Group(click.Group):
    """Turns library errors into one clear message and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OrchestraError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
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
    ctx.obj = {"no_plugins": no_plugins, "blocked": [*blocked, *filter(None, env_blocked)]}


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def validate(ctx: click.Context, files: tuple[str, ...], as_json: bool) -> None:
    """Check pipeline FILES (YAML or JSON) and report every problem.

    Exits 0 when every file is valid, 1 when any file has a problem.
    """
    host = _host(ctx)
    results = []
    for path in files:
        pipeline, problems = host.check_file(path)
        results.append({
            "file": path,
            "valid": not problems,
            "pipeline": pipeline.name if pipeline else None,
            "tasks": len(pipeline.tasks) if pipeline else None,
            "stages": len(pipeline.stages) if pipeline else None,
            "problems": [p.to_dict() for p in problems],
        })
    valid = all(r["valid"] for r in results)
    if as_json:
        click.echo(json.dumps({"valid": valid, "files": results}, indent=2))
    else:
        total = 0
        for r in results:
            if r["valid"]:
                click.echo(f"ok  {r['file']}: pipeline {r['pipeline']!r} "
                           f"({_n(r['tasks'], 'task')}, {_n(r['stages'], 'stage')})")
            for p in r["problems"]:
                total += 1
                click.echo(_format_problem(p))
        bad = sum(not r["valid"] for r in results)
        if bad:
            click.echo(f"{_n(total, 'problem')} in {_n(bad, 'file')}", err=True)
    ctx.exit(0 if valid else 1)


def _format_problem(p: dict[str, Any]) -> str:
    from .models import Problem

    return Problem(**p).format()


def _n(count: int | None, word: str) -> str:
    count = count or 0
    return f"{count} {word}{'' if count == 1 else 's'}"


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List loaded plugins with their distribution, version, integrations and jobs."""
    infos = _host(ctx).plugins()
    if as_json:
        click.echo(json.dumps([{
            "name": i.name,
            "distribution": i.distribution,
            "version": i.version,
            "builtin": i.builtin,
            "integrations": [{"name": n, "jobs": list(jobs)} for n, jobs in i.integrations],
        } for i in infos], indent=2))
        return
    for info in infos:
        origin = " (built-in)" if info.builtin else ""
        click.echo(f"{info.name}: {info.distribution or '-'} {info.version or ''}{origin}".rstrip())
        for name, jobs in info.integrations:
            click.echo(f"  {name}: {', '.join(jobs) if jobs else '(no jobs)'}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``orchestra`` script."""
    try:
        cli.main(args=argv, prog_name="orchestra", standalone_mode=True)
    except OrchestraError as exc:  # raised while building the host, before a command runs
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
