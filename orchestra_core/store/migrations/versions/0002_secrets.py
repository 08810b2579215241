"""Constants, credentials (encrypted) and connections.

Revision ID: 0002
Revises: 0001
"""

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the tables (filled in by the issue that owns them)."""


def downgrade() -> None:
    """Drop the tables."""
