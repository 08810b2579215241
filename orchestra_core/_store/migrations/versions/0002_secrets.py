"""Constants, credentials (encrypted) and connections.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the constants, credentials and connections tables."""
    op.create_table(
        "constants",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "credentials",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("username", sa.String(500)),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "connections",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("integration", sa.String(100), nullable=False),
        sa.Column("base_url", sa.Text),
        sa.Column("auth", sa.String(32)),
        sa.Column("credential", sa.String(200), sa.ForeignKey("credentials.name")),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    """Drop the tables."""
    for table in ("connections", "credentials", "constants"):
        op.drop_table(table)
