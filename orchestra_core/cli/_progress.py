"""Live progress of a run on the terminal: a table on a TTY, one line per transition otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from .._engine import Transition

__all__ = ("PlainProgress", "TableProgress")

_COLOURS = {"succeeded": "green", "failed": "red", "timed_out": "red", "cancelled": "yellow",
            "skipped": "dim", "running": "cyan", "queued": "blue", "up_for_retry": "magenta"}


class PlainProgress:
    """One line per committed transition: ``time task state (attempt n) message``."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, t: Transition) -> None:
        elapsed = time.monotonic() - self.start
        extra = f" {t.message}" if t.message else ""
        click.echo(f"{elapsed:8.2f}s {t.task_id} {t.state.value} (attempt {t.attempt}){extra}")
        sys.stdout.flush()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


class TableProgress:
    """A rich live table: task, state, attempt, elapsed time."""

    def __init__(self, task_ids: list[str]) -> None:
        from rich.live import Live

        self.rows: dict[str, dict[str, Any]] = {t: {"state": "pending", "attempt": 0,
                                                     "since": None, "end": None,
                                                     "message": ""} for t in task_ids}
        self.live = Live(self._table(), refresh_per_second=8, transient=False)

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(box=None, header_style="bold")
        for col in ("task", "state", "attempt", "elapsed", "message"):
            table.add_column(col)
        now = time.monotonic()
        for task_id, row in self.rows.items():
            since, end = row["since"], row["end"]
            elapsed = f"{(end or now) - since:.1f}s" if since else ""
            colour = _COLOURS.get(row["state"], "")
            table.add_row(task_id, f"[{colour}]{row['state']}[/]" if colour else row["state"],
                          str(row["attempt"] or ""), elapsed, row["message"][:60])
        return table

    def __call__(self, t: Transition) -> None:
        row = self.rows.setdefault(t.task_id, {"since": None, "end": None})
        if t.state.value == "running" and row.get("since") is None:
            row["since"] = time.monotonic()
        if t.state.value in ("succeeded", "failed", "skipped", "cancelled", "timed_out"):
            row["end"] = time.monotonic()
        row.update(state=t.state.value, attempt=t.attempt, message=t.message)
        self.live.update(self._table())

    def __enter__(self) -> TableProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.update(self._table())
        self.live.__exit__(*exc)
