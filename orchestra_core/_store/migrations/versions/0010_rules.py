"""Named resource leases (``resource_leases``): ``resource: NAME`` on a task is a mutex
across every worker of the store.

Revision ID: rules
Revises: sched
"""

import sqlalchemy as sa
from alembic import op

revision = "rules"
down_revision = "sched"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``resource_leases``."""
    op.create_table(
        "resource_leases",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(36), nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("run_id", sa.String(36)),
        sa.Column("task_id", sa.String(200)),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop ``resource_leases``."""
    op.drop_table("resource_leases")
