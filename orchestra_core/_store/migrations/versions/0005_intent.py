"""The trigger intent of a task run (``task_runs.intent``).

A runner records, durably and before it sends a trigger, that it is about to trigger and what
the vendor said just before; a resumed run's ``recover`` adopts only a vendor run that began
after it.

Revision ID: intent
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "intent"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``task_runs.intent``."""
    with op.batch_alter_table("task_runs") as batch:
        batch.add_column(sa.Column("intent", sa.JSON))


def downgrade() -> None:
    """Drop ``task_runs.intent``."""
    with op.batch_alter_table("task_runs") as batch:
        batch.drop_column("intent")
