"""``orchestra validate``, ``plugins``, ``run``, ``runs`` and ``logs``: check and run pipeline
files, and look at the runs they made."""

from __future__ import annotations

import json
import os
import sys
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

import click

from ._common import (
    DB_OPTION,
    JSON_OPTION,
    format_ts,
    host_of,
    open_store,
    parse_limits,
    redactor_of,
)
from ._graceful import GRACE_OPTION, SIGTERM_EXIT, until_sigterm

__all__ = ("logs", "plugins", "run", "runs", "validate")


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@JSON_OPTION
@click.option("--db", envvar="ORCHESTRA_DB", metavar="URL_OR_PATH",
              help="Also check that the connections, constants and credentials the tasks "
              "name exist in this store (not checked without it).")
@click.pass_context
def validate(ctx: click.Context, files: tuple[str, ...], as_json: bool, db: str | None) -> None:
    """Check pipeline FILES (YAML or JSON) and report every problem.

    Exits 0 when every file is valid, 1 when any file has a problem.
    """
    host = host_of(ctx)
    store = open_store(db) if db else None
    results = []
    for path in files:
        pipeline, problems = host.check_file(path, store=store)
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
    from .._models import Problem

    return Problem(**p).format()


def _n(count: int | None, word: str) -> str:
    count = count or 0
    return f"{count} {word}{'' if count == 1 else 's'}"


@click.command()
@JSON_OPTION
@click.option("--check", is_flag=True,
              help="Instead: check that every installed plugin's declared orchestra-core "
                   "range includes this core; exit 1 naming those that do not.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool, check: bool) -> None:
    """List loaded plugins with their distribution, version, integrations and jobs."""
    if check:
        ctx.exit(check_core_ranges(as_json))
    infos = host_of(ctx).plugins()
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


def check_core_ranges(as_json: bool) -> int:
    """``plugins --check``: report plugins whose declared core range excludes this core;
    the exit status (1 when there are some)."""
    from .. import __version__
    from ._compat import check_plugins

    found = list(check_plugins(__version__))
    bad = [r for r in found if not r.compatible]
    if as_json:
        click.echo(json.dumps({"core": __version__, "plugins": [{
            "distribution": r.distribution, "version": r.version,
            "entry_points": list(r.entry_points), "requires": r.requirement,
            "compatible": r.compatible} for r in found]}, indent=2))
    else:
        for r in found:
            wants = f"orchestra-core{r.requirement}" if r.requirement else "any orchestra-core"
            click.echo(f"{'ok  ' if r.compatible else 'FAIL'} {r.distribution} {r.version}: "
                       f"declares {wants}")
        click.echo(f"orchestra-core {__version__}: {len(found) - len(bad)} of {len(found)} "
                   "installed plugins declare a range that includes it"
                   + ("" if not bad else "; upgrade or reinstall: "
                      + ", ".join(r.distribution for r in bad)))
    return 1 if bad else 0


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--resume", "resume", metavar="RUN_ID",
              help="Continue an interrupted run instead of starting a new one.")
@click.option("--run-type", type=click.Choice(["full", "refresh", "source"]), default="full",
              show_default=True, help="full: every task; refresh: all but activations; "
              "source: ingestion only.")
@click.option("--progress", type=click.Choice(["auto", "table", "plain", "none"]),
              default="auto", show_default=True,
              help="Live table on a terminal, one line per transition otherwise.")
@click.option("--max-concurrency", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Tasks executing at once.")
@click.option("--limit", "limits", multiple=True, metavar="INTEGRATION=N",
              help="At most N tasks of INTEGRATION at once (repeatable), e.g. fivetran=20.")
@click.option("--simulate", is_flag=True,
              help="Run against local vendor simulators: each integration of the pipeline "
                   "that ships one gets a simulator on 127.0.0.1, and its quick-start "
                   "environment variables point at it for this run. Unknown connector, "
                   "job and sync ids are created on first use; a connection the store lacks "
                   "is served by the simulator. Every wait of a runner "
                   "(ctx.sleep, ctx.next_event: polling, back-off) lasts at most a tenth of "
                   "--simulate-duration (at least 0.1 s).")
@click.option("--simulate-duration", type=click.FloatRange(min=0.1), default=3.0,
              show_default=True, metavar="SECONDS",
              help="With --simulate: how long each simulated vendor run takes.")
@click.option("--durability", type=click.Choice(["full", "normal"]), default=None,
              help="How a SQLite store commits. full: every commit reaches the disk, a "
              "power cut loses nothing committed. normal: faster; a killed process loses "
              "nothing, a power cut may lose the last commits. Default: the pipeline "
              "file's durability, else ORCHESTRA_DURABILITY, else full.")
@GRACE_OPTION
@DB_OPTION
@click.pass_context
def run(ctx: click.Context, file: str | None, resume: str | None, run_type: str,
        progress: str, max_concurrency: int, limits: tuple[str, ...], simulate: bool,
        simulate_duration: float, durability: str | None, grace: float,
        db: str | None) -> None:
    """Run the pipeline in FILE (or resume RUN_ID) and wait for it to finish.

    Exits 0 when the run succeeds, 1 when it fails or is cancelled (Ctrl-C cancels it).
    SIGTERM stops gracefully (see --grace) and leaves the run to be resumed: exit 143.
    """
    import contextlib

    import anyio

    from .._engine import Engine

    if (file is None) == (resume is None):
        raise click.UsageError("give a pipeline FILE, or --resume RUN_ID (not both)")
    if resume is not None and not resume.strip():
        raise click.BadParameter("give the id of the run to resume (or a unique prefix of "
                                 "it); `orchestra runs list` shows them", param_hint="--resume")
    if simulate and resume is not None:
        raise click.UsageError("--simulate starts fresh simulators: it cannot resume a run")
    host = host_of(ctx)
    integration_limits = parse_limits(host, limits)
    store = open_store(db, durability=durability)
    if file is not None and simulate:  # a connection the store lacks: the simulator's
        from ..testing._simulated import load_simulated_pipeline

        pipeline, served = load_simulated_pipeline(host, file, store)
        for found in served:
            click.echo(f"task {found.task}: connection {found.connection!r} is not in the "
                       f"store; simulated by the {found.integration} simulator")
    elif file is not None:
        pipeline = host.load_pipeline(file, store=store)
    if file is not None:
        if durability is None and pipeline.durability is not None:
            store.set_durability(pipeline.durability.value)
        task_ids = [t.id for t in pipeline.tasks] + [s.id for s in pipeline.stages]
    else:
        rows = store.task_runs(store.get_run(resume)["id"])
        task_ids = [r["task_id"] for r in rows]
    mode = progress
    if mode == "auto":
        mode = "table" if sys.stdout.isatty() else "plain"
    from ._progress import PlainProgress, TableProgress

    reporter: Any = (TableProgress(task_ids) if mode == "table" else PlainProgress()
                     if mode == "plain" else None)

    current: list[str] = [resume] if resume is not None else []

    def created(run_id: str) -> None:
        current.append(run_id)
        click.echo(f"run {run_id} started (store: {store.url})")
        sys.stdout.flush()

    async def execute() -> Any:
        if resume is not None:
            click.echo(f"resuming run {resume} (store: {store.url})")
            return await engine.resume(resume, on_transition=reporter)
        return await engine.run(pipeline, run_type=run_type, on_transition=reporter,
                                on_created=created)

    def stopping() -> None:
        click.echo(f"received SIGTERM: no new task starts; waiting up to {grace:g} s for "
                   "running processes", err=True)

    async def go() -> Any:
        return await until_sigterm(engine, execute, grace, stopping)

    with contextlib.ExitStack() as stack:
        env: Mapping[str, str] | None = None  # the process environment
        sleep_cap: float | None = None  # runners wait as long as they ask
        if simulate:
            from ..testing._simulated import simulated

            simulation = stack.enter_context(simulated(host, pipeline,
                                                       run_duration=simulate_duration))
            for vendor in simulation.vendors:
                click.echo(f"{vendor.integration} simulator on {vendor.url}")
            env = ChainMap(dict(simulation.env), os.environ)  # os.environ itself is not changed
            sleep_cap = simulation.sleep_cap  # every ctx.sleep shortened: polling keeps up
        engine = Engine(host, store, max_concurrency=max_concurrency,
                        integration_limits=integration_limits, env=env)
        engine.sleep_cap = sleep_cap
        if reporter is not None:
            stack.enter_context(reporter)
        result = anyio.run(go)
    db_opt = f" --db {db}" if db else ""
    if result is None:  # SIGTERM: drained, then left to be resumed
        left = current[0] if current else "(not created)"
        click.echo(f"run {left} stopped by SIGTERM; resume it with: orchestra run --resume "
                   f"{left}{db_opt}")
        ctx.exit(SIGTERM_EXIT)
    click.echo(f"run {result.run_id} {result.state}"
               + (f": {host.redactor.mask(result.error)}" if result.error else ""))
    click.echo(f"details: orchestra runs show {result.run_id}{db_opt}")
    if simulate:
        click.echo(f"run records are in {store.url}; see them with: orchestra runs show "
                   f"{result.run_id}{db_opt} and orchestra logs --run {result.run_id}{db_opt}")
    ctx.exit(0 if result.succeeded else 1)


@click.group()
def runs() -> None:
    """List, inspect and cancel pipeline runs."""


@runs.command("list")
@click.option("--pipeline", help="Only runs of this pipeline.")
@click.option("--state", help="Only runs in this state.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@JSON_OPTION
@DB_OPTION
def runs_list(pipeline: str | None, state: str | None, limit: int, as_json: bool,
              db: str | None) -> None:
    """Recent runs, newest first."""
    found = open_store(db, read_only=True).list_runs(pipeline=pipeline, state=state,
                                                     limit=limit)
    redactor = redactor_of()
    if as_json:
        click.echo(json.dumps(redactor.mask_obj(found), indent=2, default=str))
        return
    for r in found:
        click.echo(f"{r['id']}  {r['pipeline']:<24} {r['state']:<10} {r['run_type']:<8} "
                   f"{format_ts(r['created_at'])}"
                   + (f"  {redactor.mask(r['error'])}" if r["error"] else ""))


@runs.command("show")
@click.argument("run_id")
@JSON_OPTION
@DB_OPTION
def runs_show(run_id: str, as_json: bool, db: str | None) -> None:
    """A run and each of its task runs (state, attempt, external id, times, error)."""
    store = open_store(db, read_only=True)
    redactor = redactor_of()
    run = store.get_run(run_id)
    tasks = store.task_runs(run["id"])
    if as_json:
        run = {k: v for k, v in run.items() if k != "definition"}
        click.echo(json.dumps(redactor.mask_obj({"run": run, "tasks": tasks}), indent=2,
                              default=str))
        return
    click.echo(f"run {run['id']}: pipeline {run['pipeline']!r} ({run['client']}), "
               f"{run['run_type']}, {run['state']}")
    click.echo(f"  started {format_ts(run['started_at'])}, ended {format_ts(run['ended_at'])}")
    if run["error"]:
        click.echo(f"  error: {redactor.mask(run['error'])}")
    for t in tasks:
        line = f"  {t['task_id']:<24} {t['state']:<12} attempt {t['attempt']}"
        if t["kind"] == "stage":
            line += f"  stage outcome: {t['outcome'] or '-'}"
        if t["external_id"]:
            line += f"  external id: {t['external_id']}"
        if t["error"]:
            line += f"  {t['error']}"
        click.echo(redactor.mask(line))


@runs.command("cancel")
@click.argument("run_id")
@DB_OPTION
def runs_cancel(run_id: str, db: str | None) -> None:
    """Ask the process running RUN_ID to cancel it (running tasks are cancelled at the vendor)."""
    store = open_store(db)
    run = store.get_run(run_id)
    state = store.request_cancel(run["id"])
    if state in ("succeeded", "failed", "cancelled"):
        click.echo(f"run {run['id']} already ended: {state}")
    else:
        click.echo(f"cancel requested for run {run['id']}")


@click.command()
@click.option("--since", type=click.DateTime(), help="From this time (UTC).")
@click.option("--until", type=click.DateTime(), help="Up to this time (UTC).")
@click.option("--level", type=click.Choice(["debug", "info", "warning", "error"]),
              help="Minimum level.")
@click.option("--pipeline", help="Only this pipeline.")
@click.option("--run", "run_id", help="Only this run.")
@click.option("--task", help="Only this task.")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True)
@JSON_OPTION
@DB_OPTION
def logs(since: Any, until: Any, level: str | None, pipeline: str | None, run_id: str | None,
         task: str | None, limit: int, as_json: bool, db: str | None) -> None:
    """Log lines of runs, oldest first, filtered by time, level, pipeline, run and task."""
    from datetime import UTC

    store = open_store(db, read_only=True)
    found = store.logs(since=since.replace(tzinfo=UTC) if since else None,
                       until=until.replace(tzinfo=UTC) if until else None, level=level,
                       pipeline=pipeline, run_id=store.get_run(run_id)["id"] if run_id else None,
                       task=task, limit=limit)
    redactor = redactor_of()
    if as_json:
        click.echo(json.dumps(redactor.mask_obj(found), indent=2, default=str))
        return
    for e in found:
        where = e["pipeline"] or ""
        if e["task_id"]:
            where += f"/{e['task_id']}"
        click.echo(f"{format_ts(e['time'])} {e['level'].upper():<7} {where}: "
                   f"{redactor.mask(e['message'])}")
