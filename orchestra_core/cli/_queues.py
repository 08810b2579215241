"""``orchestra queue ...`` and ``orchestra notifications``: work queues and stored alerts."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ._common import DB_OPTION, JSON_OPTION, format_ts, open_store, redactor_of

__all__ = ("NOTHING_TO_CLAIM", "notifications", "queue")

#: Exit status of ``orchestra queue claim`` when the queue has no new element.
NOTHING_TO_CLAIM = 3


def _queues(db: str | None, who: str | None = None) -> Any:
    from .._queues import Queues

    return Queues(open_store(db), identity=who)


def _line(e: Any) -> str:
    data = json.dumps(e.data, separators=(",", ":"))
    if len(data) > 60:
        data = data[:57] + "..."
    parts = [f"{e.id:>6}", f"{e.queue:<16}", f"{e.status.value:<11}",
             f"{(e.reference or '-'):<16}", format_ts(e.created_at), data]
    if e.message:
        parts.append(f"({e.message})")
    return "  ".join(parts)


def _echo_element(e: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(e.to_dict(), indent=2))
        return
    click.echo(f"element {e.id} of queue {e.queue!r}: {e.status.value}")
    click.echo(f"  reference: {e.reference or '-'}")
    click.echo(f"  created:   {format_ts(e.created_at)} by {e.created_by or '-'}")
    if e.claimed_at:
        click.echo(f"  claimed:   {format_ts(e.claimed_at)} by {e.claimed_by or '-'}")
    if e.finished_at:
        click.echo(f"  finished:  {format_ts(e.finished_at)}")
    if e.message:
        click.echo(f"  message:   {e.message}")
    click.echo(f"  data:      {json.dumps(e.data)}")


_BY = click.option("--by", "who", metavar="NAME",
                   help="Who acts (recorded as created_by/claimed_by). Default: the process task "
                   "when run inside one, else user@host.")


@click.group()
def queue() -> None:
    """Push to, list, claim and finish elements of named work queues."""


@queue.command("push")
@click.argument("name")
@click.argument("data", required=False)
@click.option("--reference", "-r", metavar="REF", help="Your id for the element.")
@click.option("--data-file", type=click.File("r"), metavar="PATH",
              help="Read the JSON data from PATH ('-' for stdin) instead of DATA.")
@_BY
@JSON_OPTION
@DB_OPTION
def queue_push(name: str, data: str | None, reference: str | None, data_file: Any,
               who: str | None, as_json: bool, db: str | None) -> None:
    """Add an element to queue NAME; DATA is JSON (a bare word is taken as a string)."""
    if data is not None and data_file is not None:
        raise click.UsageError("give DATA or --data-file, not both")
    text = data_file.read() if data_file is not None else data
    value: Any = None
    if text is not None:
        from .._document_limits import json_problem, string_problems, too_large

        limit = too_large(text, None) or json_problem(text, None)
        if limit is not None:
            raise click.BadParameter(limit.format(), param_hint="DATA")
        try:
            value = json.loads(text)
            bad = string_problems(value)
            if bad:
                raise click.BadParameter(bad[0].format(), param_hint="DATA")
        except json.JSONDecodeError as exc:
            if data_file is not None or text.strip()[:1] in "{[\"":
                raise click.BadParameter(f"invalid JSON: {exc.msg} (line {exc.lineno}, column "
                                         f"{exc.colno})", param_hint="DATA") from None
            value = text  # a bare word: the string itself
    element = _queues(db, who).push(name, value, reference=reference)
    if as_json:
        click.echo(json.dumps(element.to_dict(), indent=2))
    else:
        click.echo(f"pushed element {element.id} to queue {name!r}")


@queue.command("list")
@click.argument("name", required=False)
@click.option("--status", type=click.Choice(["new", "in_progress", "done", "failed"]),
              help="Only elements in this status.")
@click.option("--reference", metavar="REF", help="Only elements with this reference.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@JSON_OPTION
@DB_OPTION
def queue_list(name: str | None, status: str | None, reference: str | None, limit: int,
               as_json: bool, db: str | None) -> None:
    """Elements of queue NAME, oldest first; without NAME, every queue with its counts."""
    queues = _queues(db)
    if name is None and status is None and reference is None:
        summary = queues.summary()
        if as_json:
            click.echo(json.dumps([{"queue": s.queue, **s.counts, "total": s.total}
                                   for s in summary], indent=2))
            return
        if not summary:
            click.echo("no queues")
        for s in summary:
            c = s.counts
            click.echo(f"{s.queue:<24} new {c['new']:>5}  in_progress {c['in_progress']:>5}  "
                       f"done {c['done']:>5}  failed {c['failed']:>5}")
        return
    found = queues.list(name, status=status, reference=reference, limit=limit)
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in found], indent=2))
        return
    for e in found:
        click.echo(_line(e))


@queue.command("claim")
@click.argument("name")
@_BY
@JSON_OPTION
@DB_OPTION
def queue_claim(name: str, who: str | None, as_json: bool, db: str | None) -> None:
    """Take the oldest new element of queue NAME (it becomes in_progress) and print it.

    Exits 3 when the queue has no new element.
    """
    element = _queues(db, who).claim(name)
    if element is None:
        if as_json:
            click.echo("null")
        click.echo(f"queue {name!r} has no new element", err=True)
        sys.exit(NOTHING_TO_CLAIM)
    _echo_element(element, as_json)


@queue.command("complete")
@click.argument("element_id", type=int)
@click.option("--message", "-m", help="What was done (kept with the element).")
@JSON_OPTION
@DB_OPTION
def queue_complete(element_id: int, message: str | None, as_json: bool, db: str | None) -> None:
    """Mark the claimed element ELEMENT_ID done."""
    element = _queues(db).complete(element_id, message)
    if as_json:
        click.echo(json.dumps(element.to_dict(), indent=2))
    else:
        click.echo(f"element {element.id} of queue {element.queue!r}: done")


@queue.command("fail")
@click.argument("element_id", type=int)
@click.option("--message", "-m", help="Why it failed (kept with the element).")
@JSON_OPTION
@DB_OPTION
def queue_fail(element_id: int, message: str | None, as_json: bool, db: str | None) -> None:
    """Mark the claimed element ELEMENT_ID failed."""
    element = _queues(db).fail(element_id, message)
    if as_json:
        click.echo(json.dumps(element.to_dict(), indent=2))
    else:
        click.echo(f"element {element.id} of queue {element.queue!r}: failed")


@queue.command("show")
@click.argument("element_id", type=int)
@JSON_OPTION
@DB_OPTION
def queue_show(element_id: int, as_json: bool, db: str | None) -> None:
    """One element with its data, status, times and who created and claimed it."""
    _echo_element(_queues(db).get(element_id), as_json)


@click.command("notifications")
@click.option("--pipeline", help="Only notifications about this pipeline.")
@click.option("--run", "run_id", metavar="RUN_ID", help="Only this run (an id prefix will do).")
@click.option("--kind", help="Only this kind, e.g. run.failed.")
@click.option("--since", type=click.DateTime(), help="From this time (UTC).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@JSON_OPTION
@DB_OPTION
def notifications(pipeline: str | None, run_id: str | None, kind: str | None, since: Any,
                  limit: int, as_json: bool, db: str | None) -> None:
    """Stored notifications (alerts sent to the 'stored' channel), newest first."""
    from datetime import UTC

    from .._notifications import NotificationLog

    found = NotificationLog(open_store(db, read_only=True)).list(
        pipeline=pipeline, run_id=run_id, kind=kind,
        since=since.replace(tzinfo=UTC) if since else None, limit=limit)
    redactor = redactor_of()
    if as_json:
        click.echo(json.dumps(redactor.mask_obj([n.to_dict() for n in found]), indent=2))
        return
    if not found:
        click.echo("no notifications")
    for n in found:
        text = " | ".join(redactor.mask(n.message).splitlines())  # one line per notification
        click.echo(f"{format_ts(n.created_at)}  {n.kind:<22} {n.pipeline}: {text}")
