"""Schedules: the scheduled time of a run, queue elements numbered in commit order, a
queue trigger's cursor on that number, a pipeline's limit of active runs.

Revision ID: sched
Revises: delivery
"""

import sqlalchemy as sa
from alembic import op

revision = "sched"
down_revision = "delivery"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add ``pipeline_runs.scheduled_at``, ``queue_elements.seq`` (existing elements keep
    their id as number), ``triggers.cursor_seq`` and ``pipelines.max_active_runs``."""
    op.add_column("pipeline_runs", sa.Column("scheduled_at", TS))
    op.add_column("queue_elements", sa.Column("seq", sa.BigInteger))
    op.execute("UPDATE queue_elements SET seq = id")
    op.create_index("ix_queue_elements_seq", "queue_elements", ["queue", "seq"])
    op.add_column("triggers", sa.Column("cursor_seq", sa.BigInteger))
    op.add_column("pipelines", sa.Column("max_active_runs", sa.Integer))


def downgrade() -> None:
    """Drop the columns again."""
    with op.batch_alter_table("pipelines") as batch:
        batch.drop_column("max_active_runs")
    with op.batch_alter_table("triggers") as batch:
        batch.drop_column("cursor_seq")
    op.drop_index("ix_queue_elements_seq", "queue_elements")
    with op.batch_alter_table("queue_elements") as batch:
        batch.drop_column("seq")
    with op.batch_alter_table("pipeline_runs") as batch:
        batch.drop_column("scheduled_at")
