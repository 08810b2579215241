"""Registered pipelines history, triggers, queues, leases and notifications.

Revision ID: 0003
Revises: 0002
"""

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the tables (filled in by the issue that owns them)."""


def downgrade() -> None:
    """Drop the tables."""
