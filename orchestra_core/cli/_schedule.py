"""``orchestra pipelines``, ``orchestra triggers`` and ``orchestra serve``."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

import click

from .._errors import ConfigError
from ._common import DB_OPTION, JSON_OPTION, format_ts, host_of, open_store, parse_limits
from ._fire_times import backfill, preview
from ._graceful import GRACE_OPTION

__all__ = ("pipelines", "serve", "triggers")

_CLIENT = click.option("--client", default="default", show_default=True,
                       help="The client (team) the pipeline belongs to.")


def _registry(db: str | None) -> Any:
    from .._scheduling.registry import PipelineRegistry

    return PipelineRegistry(open_store(db))


def _when(value: datetime | None) -> str:
    return format_ts(value) if value is not None else "-"


def _describe(spec: dict[str, Any], kind: str) -> str:
    shown = {k: v for k, v in spec.items() if k != "kind"}
    return f"{kind} " + ", ".join(f"{k}={v}" for k, v in shown.items())


# -- pipelines ---------------------------------------------------------------------------------


@click.group()
def pipelines() -> None:
    """Registered pipelines: stored with their triggers and version history."""


@pipelines.command("apply")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@JSON_OPTION
@DB_OPTION
@click.pass_context
def pipelines_apply(ctx: click.Context, files: tuple[str, ...], as_json: bool,
                    db: str | None) -> None:
    """Register (or update) the pipelines in FILES with their triggers.

    Every file is validated first; if any has a problem nothing is stored. A changed
    definition becomes a new version; triggers whose spec changed are rescheduled.
    """
    host = host_of(ctx)
    loaded = []
    problems = []
    for path in files:
        pipeline, found = host.check_file(path)
        problems += found
        if pipeline is not None:
            loaded.append(pipeline)
    if problems:
        for p in problems:
            click.echo(p.format(), err=True)
        click.echo(f"nothing applied: {len(problems)} problem(s)", err=True)
        ctx.exit(1)
    names = [(p.client, p.name) for p in loaded]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise click.UsageError("pipeline(s) given twice: " + ", ".join(n for _, n in dupes))
    registry = _registry(db)
    results = [registry.apply(p) for p in loaded]
    if as_json:
        click.echo(json.dumps([{
            "name": r.name, "client": r.client, "version": r.version, "status": r.status,
            "triggers_added": list(r.triggers_added),
            "triggers_changed": list(r.triggers_changed),
            "triggers_removed": list(r.triggers_removed)} for r in results], indent=2))
        return
    for r in results:
        changes = [f"+{t}" for t in r.triggers_added] + [f"~{t}" for t in r.triggers_changed]
        changes += [f"-{t}" for t in r.triggers_removed]
        click.echo(f"{r.status} pipeline {r.name!r} version {r.version}"
                   + (f" (triggers: {' '.join(changes)})" if changes else ""))
        for t in registry.list_triggers(pipeline=r.name, client=r.client):
            if t["name"] in r.triggers_added or t["name"] in r.triggers_changed:
                nxt = _when(t["next_fire_at"]) if t["next_fire_at"] else "never by itself"
                click.echo(f"  {t['name']} ({t['kind']}): next {nxt}")


@pipelines.command("list")
@JSON_OPTION
@DB_OPTION
def pipelines_list(as_json: bool, db: str | None) -> None:
    """Registered pipelines: version, active, triggers, next fire time, latest run."""
    found = _registry(db).list()
    if as_json:
        click.echo(json.dumps(found, indent=2, default=str))
        return
    if not found:
        click.echo("no registered pipelines (register one: orchestra pipelines apply FILE)")
    for p in found:
        state = "active" if p["active"] else "inactive"
        click.echo(f"{p['name']:<28} v{p['version']:<4} {state:<9} "
                   f"{p['triggers']} trigger(s)  next {_when(p['next_fire_at'])}  "
                   f"last run {p['last_run_state'] or '-'}"
                   + (f"  [{p['client']}]" if p["client"] != "default" else ""))


@pipelines.command("show")
@click.argument("name")
@_CLIENT
@click.option("--version", "version", type=click.IntRange(min=1),
              help="Print this version's definition.")
@JSON_OPTION
@DB_OPTION
def pipelines_show(name: str, client: str, version: int | None, as_json: bool,
                   db: str | None) -> None:
    """A registered pipeline: state, versions and triggers (or one version's definition)."""
    registry = _registry(db)
    if version is not None:
        registry.get(name, client)
        click.echo(json.dumps(registry.definition(name, client, version), indent=2))
        return
    info = registry.get(name, client)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    click.echo(f"pipeline {info['name']!r} ({client}): version {info['version']}, "
               f"{'active' if info['active'] else 'inactive'}")
    if info["error_message"]:
        click.echo(f"  latest run error: {info['error_message']}")
    click.echo("  triggers:" if info["triggers"] else "  triggers: none (runs only by hand)")
    for t in info["triggers"]:
        click.echo(f"    {t['name']:<16} {_describe(t['spec'], t['kind'])}")
        click.echo(f"    {'':<16} last {_when(t['last_fire_at'])}  next "
                   f"{_when(t['next_fire_at'])}"
                   + (f"  ({t['last_result']})" if t["last_result"] else ""))
    click.echo("  versions:")
    for v in info["versions"]:
        click.echo(f"    v{v['version']}  {_when(v['created_at'])}  {v['source'] or ''}")


@pipelines.command("delete")
@click.argument("name")
@_CLIENT
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@DB_OPTION
def pipelines_delete(name: str, client: str, yes: bool, db: str | None) -> None:
    """Unregister pipeline NAME: its versions and triggers are deleted, its runs kept."""
    registry = _registry(db)
    registry.get(name, client)
    if not yes:
        click.confirm(f"Delete pipeline {name!r} and its triggers?", abort=True)
    kept = registry.delete(name, client)
    click.echo(f"deleted pipeline {name!r}" + (f" (its {kept} run(s) are kept)" if kept else ""))


@pipelines.command("activate")
@click.argument("name")
@_CLIENT
@DB_OPTION
def pipelines_activate(name: str, client: str, db: str | None) -> None:
    """Let NAME's triggers fire again (from now on; missed times are not caught up)."""
    changed = _registry(db).set_active(name, client, True)
    click.echo(f"pipeline {name!r} " + ("activated" if changed else "was already active"))


@pipelines.command("deactivate")
@click.argument("name")
@_CLIENT
@DB_OPTION
def pipelines_deactivate(name: str, client: str, db: str | None) -> None:
    """Stop NAME's triggers from firing; it can still be run by hand."""
    changed = _registry(db).set_active(name, client, False)
    click.echo(f"pipeline {name!r} " + ("deactivated" if changed else "was already inactive"))


@pipelines.command("run")
@click.argument("name")
@_CLIENT
@click.option("--run-type", type=click.Choice(["full", "refresh", "source"]), default="full",
              show_default=True, help="The scope of the run.")
@click.option("--queue", "queue_only", is_flag=True,
              help="Only create the run; 'orchestra serve' executes it.")
@DB_OPTION
@click.pass_context
def pipelines_run(ctx: click.Context, name: str, client: str, run_type: str,
                  queue_only: bool, db: str | None) -> None:
    """Run registered pipeline NAME by hand (also when it is deactivated).

    Waits for the run and exits 0 when it succeeds; with --queue, prints the run id and
    leaves the run to the service.
    """
    import anyio

    from .._engine import Engine
    from .._scheduling.registry import PipelineRegistry

    store = open_store(db)
    registry = PipelineRegistry(store)
    if queue_only:
        run_id = registry.queue_run(name, client, run_type=run_type, trigger="manual")
        click.echo(f"run {run_id} queued (store: {store.url})")
        return
    pipeline = registry.pipeline(name, client)
    from ._progress import PlainProgress

    engine = Engine(host_of(ctx), store)

    def created(run_id: str) -> None:
        click.echo(f"run {run_id} started (store: {store.url})")
        sys.stdout.flush()

    result = anyio.run(lambda: engine.run(pipeline, run_type=run_type, trigger="manual",
                                          on_transition=PlainProgress(), on_created=created))
    click.echo(f"run {result.run_id} {result.state}"
               + (f": {result.error}" if result.error else ""))
    ctx.exit(0 if result.succeeded else 1)


# -- triggers ----------------------------------------------------------------------------------


@click.group()
def triggers() -> None:
    """Triggers of registered pipelines: list, add, delete."""


@triggers.command("list")
@click.option("--pipeline", help="Only this pipeline's triggers.")
@_CLIENT
@JSON_OPTION
@DB_OPTION
def triggers_list(pipeline: str | None, client: str, as_json: bool, db: str | None) -> None:
    """Every trigger with its kind, spec, last and next fire time."""
    found = _registry(db).list_triggers(pipeline=pipeline, client=client)
    if as_json:
        click.echo(json.dumps(found, indent=2, default=str))
        return
    for t in found:
        state = "" if t["active"] else "  (pipeline inactive)"
        click.echo(f"{t['id'][:8]}  {t['pipeline']}/{t['name']:<14} "
                   f"{_describe(t['spec'], t['kind'])}")
        click.echo(f"          last {_when(t['last_fire_at'])}  next {_when(t['next_fire_at'])}"
                   f"  [{t['origin']}]{state}")


@triggers.command("add")
@click.argument("pipeline")
@click.argument("spec")
@_CLIENT
@DB_OPTION
def triggers_add(pipeline: str, spec: str, client: str, db: str | None) -> None:
    """Add a trigger to registered PIPELINE. SPEC is YAML or JSON with the keys of a trigger in
    a pipeline file, e.g. '{cron: "30 2 * * *", timezone: Europe/London}'.

    Triggers added here are kept when the pipeline's file is applied again.
    """
    import yaml

    from .._config import structure
    from .._document_limits import string_problems, too_large, yaml_problem
    from .._triggers.model import Trigger

    limit = too_large(spec, None) or yaml_problem(spec, None)
    if limit is not None:
        raise click.BadParameter(limit.format(), param_hint="SPEC")
    try:
        raw = yaml.safe_load(spec)
    except (yaml.YAMLError, ValueError) as exc:
        raise click.BadParameter(f"not YAML or JSON: {exc}", param_hint="SPEC") from None
    bad = string_problems(raw)
    if bad:
        raise ConfigError(bad, summary="SPEC: invalid trigger")
    trigger, problems = structure(raw, Trigger, "trigger")
    if problems:
        raise ConfigError(problems, summary="SPEC: invalid trigger")
    row = _registry(db).add_trigger(pipeline, trigger, client)
    nxt = _when(row["next_fire_at"]) if row["next_fire_at"] else "never by itself"
    click.echo(f"added trigger {row['name']} ({row['kind']}) to {pipeline!r}: id {row['id']}, "
               f"next {nxt}")


@triggers.command("delete")
@click.argument("trigger")
@DB_OPTION
def triggers_delete(trigger: str, db: str | None) -> None:
    """Delete TRIGGER: its id (or a unique prefix) or PIPELINE/NAME.

    A trigger declared in a pipeline file comes back when that file is applied again.
    """
    row = _registry(db).delete_trigger(trigger)
    click.echo(f"deleted trigger {row['pipeline']}/{row['name']} ({row['kind']})"
               + ("; it is declared in the pipeline's file: remove it there too"
                  if row["origin"] == "file" else ""))


# -- serve -------------------------------------------------------------------------------------


@click.command()
@DB_OPTION
@click.option("--host", "http_host", default="127.0.0.1", show_default=True,
              help="The address the HTTP server listens on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(min=0),
              help="The HTTP port (0: any free port).")
@click.option("--workers", type=click.IntRange(min=1), default=16, show_default=True,
              help="Runs executing at once.")
@click.option("--max-concurrency", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Tasks executing at once, across runs.")
@click.option("--limit", "limits", multiple=True, metavar="INTEGRATION=N",
              help="At most N tasks of INTEGRATION at once, across runs (repeatable), e.g. "
                   "fivetran=20.")
@click.option("--no-scheduler", is_flag=True,
              help="Only execute runs (another process schedules them).")
@click.option("--max-requests", type=click.IntRange(min=1), default=64, show_default=True,
              help="HTTP requests handled at once; more are answered 503.")
@GRACE_OPTION
@click.pass_context
def serve(ctx: click.Context, db: str | None, http_host: str, port: int, workers: int,
          max_concurrency: int, limits: tuple[str, ...], no_scheduler: bool,
          max_requests: int, grace: float) -> None:
    """Run the service: the scheduler, a worker pool and the HTTP server, until SIGTERM.

    Registered pipelines run on their triggers; pending runs are executed; runs interrupted
    by a crash are resumed. SIGTERM or Ctrl-C stops it gracefully (see --grace), leaving
    running runs to be resumed by the next start. The HTTP server answers the REST API at
    /api/v1 and the web dashboard at / (sign in with a token: orchestra tokens create).
    """
    import logging

    import anyio

    from .._service import Service

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    host = host_of(ctx)
    integration_limits = parse_limits(host, limits)
    store = open_store(db)
    service = Service(host, store, http_host=http_host, port=port, workers=workers,
                      max_concurrency=max_concurrency, scheduler=not no_scheduler,
                      signals=True, grace=grace, max_requests=max_requests,
                      integration_limits=integration_limits)
    anyio.run(service.run)


# ``pipelines backfill`` and ``triggers preview`` live with the fire-time computations
pipelines.add_command(backfill)
triggers.add_command(preview)
