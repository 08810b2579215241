"""Webhook deliveries seen (replay protection that survives a restart).

Revision ID: edge
Revises: intent
"""

import sqlalchemy as sa
from alembic import op

revision = "edge"
down_revision = "intent"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``webhook_deliveries``: the event ids received within the replay window."""
    op.create_table(
        "webhook_deliveries",
        sa.Column("event_id", sa.String(300), primary_key=True),
        sa.Column("integration", sa.String(100), nullable=False),
        sa.Column("received_at", TS, nullable=False),
    )
    op.create_index("ix_webhook_deliveries_received", "webhook_deliveries", ["received_at"])


def downgrade() -> None:
    """Drop the table."""
    op.drop_table("webhook_deliveries")
