"""Completions numbered in commit order (``pipeline_runs.end_seq``, ``task_runs.end_seq``):
``after`` triggers find upstream completions by this number (``triggers.cursor_seq``),
never by end times.

Revision ID: aftercursor
Revises: rules
"""

import sqlalchemy as sa
from alembic import op

revision = "aftercursor"
down_revision = "rules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the columns; number the runs and stages that already ended in end-time order
    (an after trigger's time cursor still picks its first completions, see
    ``_scheduling/conditions.py``)."""
    op.add_column("pipeline_runs", sa.Column("end_seq", sa.BigInteger))
    op.create_index("ix_pipeline_runs_end_seq", "pipeline_runs", ["end_seq"])
    op.add_column("task_runs", sa.Column("end_seq", sa.BigInteger))
    op.create_index("ix_task_runs_end_seq", "task_runs", ["end_seq"])
    op.execute(
        "UPDATE pipeline_runs SET end_seq = (SELECT n FROM (SELECT id, row_number() OVER "
        "(ORDER BY ended_at, id) AS n FROM pipeline_runs WHERE ended_at IS NOT NULL) AS x "
        "WHERE x.id = pipeline_runs.id) WHERE ended_at IS NOT NULL")
    op.execute(
        "UPDATE task_runs SET end_seq = (SELECT n FROM (SELECT id, row_number() OVER "
        "(ORDER BY ended_at, id) + (SELECT coalesce(max(end_seq), 0) FROM pipeline_runs) "
        "AS n FROM task_runs WHERE kind = 'stage' AND ended_at IS NOT NULL) AS x "
        "WHERE x.id = task_runs.id) WHERE kind = 'stage' AND ended_at IS NOT NULL")
    # after triggers start from their time cursor once more, then keep a number
    op.execute("UPDATE triggers SET cursor_seq = NULL WHERE kind = 'after'")


def downgrade() -> None:
    """Drop the columns again."""
    op.drop_index("ix_task_runs_end_seq", "task_runs")
    with op.batch_alter_table("task_runs") as batch:
        batch.drop_column("end_seq")
    op.drop_index("ix_pipeline_runs_end_seq", "pipeline_runs")
    with op.batch_alter_table("pipeline_runs") as batch:
        batch.drop_column("end_seq")
