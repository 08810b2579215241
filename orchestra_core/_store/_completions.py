"""Completions numbered in commit order: ``after`` triggers find upstream completions by
this number, never by end times.

Whenever a write sets the ``ended_at`` of a pipeline run or of a stage, the row gets a new
number (``end_seq``) as the last step before the commit: one past every number committed
before it (both tables share one count). On PostgreSQL the numbering holds a lock until the
commit, so numbers follow commit order; SQLite has one writer at a time anyway. A run that
ended in a long transaction, or on a machine whose clock is behind, is numbered when it
becomes visible, and two completions with the same end time get two numbers.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ("LOCK_KEY", "MARK_SQL", "RUN_QMARK", "STAGE_QMARK", "completion_mark",
           "number_completions")

#: The PostgreSQL advisory lock (``hashtext``) held from numbering until the commit.
LOCK_KEY = "orchestra.completions"

#: The number of the newest completion committed (0 when none).
_MARK = ("(SELECT coalesce(max(m), 0) FROM (SELECT max(end_seq) AS m FROM pipeline_runs "
        "UNION ALL SELECT max(end_seq) AS m FROM task_runs) AS marks)")
_NEXT = f"{_MARK} + 1"
#: The same, for the PostgreSQL write path's statements (``_postgres_writes``).
MARK_SQL = _MARK

_RUN_SQL = (f"UPDATE pipeline_runs SET end_seq = {_NEXT} "
            "WHERE id = {id} AND ended_at IS NOT NULL")
_STAGE_SQL = (f"UPDATE task_runs SET end_seq = {_NEXT} WHERE run_id = {{run}} AND "
              "task_id = {task} AND kind = 'stage' AND ended_at IS NOT NULL")
#: The same statements with qmark parameters, for the SQLite write path's DBAPI cursor.
RUN_QMARK = _RUN_SQL.format(id="?")
STAGE_QMARK = _STAGE_SQL.format(run="?", task="?")


def completion_mark(conn: sa.Connection) -> int:
    """The number of the newest completion committed: an ``after`` trigger created now
    fires only for completions numbered above it."""
    import sqlalchemy as sa

    return int(conn.execute(sa.text(f"SELECT {_MARK}")).scalar() or 0)


def number_completions(conn: sa.Connection, run_ids: Collection[str],
                       tasks: Collection[tuple[str, str]]) -> None:
    """Number the ended runs among *run_ids* and the ended stages among *tasks*
    (``(run_id, task_id)`` pairs) whose ``ended_at`` this transaction wrote; call it last,
    just before the commit."""
    import sqlalchemy as sa

    if not run_ids and not tasks:
        return
    if conn.dialect.name == "postgresql":
        if not run_ids and not _any_stage(conn, tasks):
            return  # no stage among them: no lock for plain task ends
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                     {"key": LOCK_KEY})
    if run_ids:
        conn.execute(sa.text(_RUN_SQL.format(id=":id")), [{"id": r} for r in run_ids])
    if tasks:
        conn.execute(sa.text(_STAGE_SQL.format(run=":run", task=":task")),
                     [{"run": r, "task": t} for r, t in tasks])


#: Pairs per ``IN`` list: PostgreSQL refuses a row-value ``IN`` of 10,000 pairs ("stack
#: depth limit exceeded").
_CHUNK = 1000


def _any_stage(conn: sa.Connection, tasks: Collection[tuple[str, str]]) -> bool:
    import sqlalchemy as sa

    from .schema import task_runs

    t = task_runs.c
    pairs: list[Any] = list(tasks)
    for i in range(0, len(pairs), _CHUNK):
        if conn.execute(sa.select(t.id).where(
                sa.tuple_(t.run_id, t.task_id).in_(pairs[i:i + _CHUNK]), t.kind == "stage",
                t.ended_at.is_not(None)).limit(1)).first() is not None:
            return True
    return False
