"""Queues and their elements, stored notifications, alerts sent per run.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``queue_elements``, ``notifications`` and ``alerts_sent``."""
    op.create_table(
        "queue_elements",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.String(200), nullable=False),
        sa.Column("reference", sa.String(200)),
        sa.Column("data", sa.JSON),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("claimed_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("created_by", sa.String(200)),
        sa.Column("claimed_by", sa.String(200)),
    )
    op.create_index("ix_queue_elements_claim", "queue_elements", ["queue", "status", "id"])
    op.create_index("ix_queue_elements_reference", "queue_elements", ["queue", "reference"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(36)),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_index("ix_notifications_time", "notifications", ["created_at"])
    op.create_table(
        "alerts_sent",
        sa.Column("run_id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(64), primary_key=True),
        sa.Column("sent_at", TS, nullable=False),
    )


def downgrade() -> None:
    """Drop the tables."""
    for table in ("alerts_sent", "notifications", "queue_elements"):
        op.drop_table(table)
