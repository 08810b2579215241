"""``orchestra triggers preview`` (the next fire times of a pipeline) and ``orchestra
pipelines backfill`` (one run per fire time of a past window)."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

import click

from ._common import DB_OPTION, JSON_OPTION, format_ts, host_of, open_store

__all__ = ("backfill", "preview")

_CLIENT = click.option("--client", default="default", show_default=True,
                       help="The client (team) the pipeline belongs to.")


class _When(click.ParamType):
    """An ISO 8601 date or date-time; without an offset it is UTC."""

    name = "DATETIME"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            when = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"expected a date or date-time such as 2026-03-29 or "
                      f"2026-03-29T01:30 (UTC unless it has an offset), got {value!r}",
                      param, ctx)
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


WHEN = _When()


@click.command("preview")
@click.argument("pipeline")
@click.option("--from", "start", type=WHEN,
              help="Preview from this time (ISO 8601; UTC unless it has an offset). "
                   "Default: now.")
@click.option("-n", "count", type=click.IntRange(min=1, max=10_000), default=10,
              show_default=True, help="How many fire times.")
@_CLIENT
@JSON_OPTION
@DB_OPTION
@click.pass_context
def preview(ctx: click.Context, pipeline: str, start: datetime | None, count: int, client: str,
            as_json: bool, db: str | None) -> None:
    """The next fire times of PIPELINE's scheduled triggers, in local time and UTC.

    PIPELINE is a registered pipeline's name, or a pipeline file (previewed before it is
    applied). Fires that a daylight-saving change affects are marked with '!' and a note.
    """
    from .._scheduling.registry import PipelineRegistry
    from .._triggers.preview import preview_fires

    if os.path.isfile(pipeline):
        loaded = host_of(ctx).load_pipeline(pipeline)
        fires = preview_fires(loaded, start=start, count=count)
    else:
        fires = PipelineRegistry(open_store(db)).preview(pipeline, client, start=start,
                                                         count=count)
    if as_json:
        click.echo(json.dumps([f.to_dict() for f in fires], indent=2))
        return
    if not fires:
        click.echo(f"{pipeline}: no scheduled fire times (no cron, interval or single "
                   "trigger, or all in the past)")
        return
    for f in fires:
        local = f.local.strftime("%Y-%m-%d %H:%M:%S %Z")
        click.echo(f"{'!' if f.dst else ' '} {local:<26} {format_ts(f.at):<21} {f.trigger}"
                   + (f"  ({f.dst})" if f.dst else ""))


@click.command("backfill")
@click.argument("name")
@click.option("--from", "start", type=WHEN, required=True,
              help="The first time to backfill (ISO 8601; UTC unless it has an offset).")
@click.option("--to", "end", type=WHEN, required=True,
              help="The last time to backfill (inclusive).")
@click.option("--trigger", help="Only this trigger's fire times (default: every scheduled "
                                "trigger of the pipeline).")
@click.option("--concurrency", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs executing at once.")
@click.option("--run-type", type=click.Choice(["full", "refresh", "source"]), default="full",
              show_default=True, help="The scope of the runs.")
@click.option("--dry-run", is_flag=True, help="Only list the fire times.")
@_CLIENT
@DB_OPTION
@click.pass_context
def backfill(ctx: click.Context, name: str, start: datetime, end: datetime,
             trigger: str | None, concurrency: int, run_type: str, dry_run: bool, client: str,
             db: str | None) -> None:
    """Run registered pipeline NAME once per fire time of its scheduled triggers from --from
    to --to, oldest first, at most --concurrency at once.

    Each run carries its fire time as its scheduled time (${run.scheduled_at} in task
    parameters, ORCHESTRA_SCHEDULED_AT for process tasks). Exits 0 when every run succeeds.
    """
    import anyio

    from .._engine import Engine
    from .._scheduling.backfill import backfill as run_backfill
    from .._scheduling.backfill import backfill_times
    from .._scheduling.registry import PipelineRegistry

    store = open_store(db)
    registry = PipelineRegistry(store)
    times = backfill_times(registry, name, client, start, end, trigger=trigger)
    click.echo(f"{len(times)} fire time(s) of {name!r} from {format_ts(start)} to "
               f"{format_ts(end)}" + (f", {concurrency} at once" if not dry_run else ""))
    if dry_run:
        for when, trigger_id in times:
            click.echo(f"  {format_ts(when)}  {trigger_id}")
        return
    engine = Engine(host_of(ctx), store)

    def created(run_id: str, when: datetime) -> None:
        click.echo(f"run {run_id} started for {format_ts(when)}")
        sys.stdout.flush()

    results = anyio.run(lambda: run_backfill(
        engine, registry, name, start, end, client=client, trigger=trigger,
        concurrency=concurrency, run_type=run_type, on_created=created))
    failed = 0
    for (when, _), result in zip(times, results, strict=True):
        failed += not result.succeeded
        click.echo(f"{format_ts(when)}  run {result.run_id} {result.state}"
                   + (f": {result.error}" if result.error else ""))
    click.echo(f"backfill of {name!r}: {len(results) - failed} succeeded, {failed} did not")
    ctx.exit(0 if failed == 0 else 1)
