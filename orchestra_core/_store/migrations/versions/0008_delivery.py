"""Data delivery: named destinations and data templates, delivery checkpoints.

Revision ID: delivery
Revises: api
"""

import sqlalchemy as sa
from alembic import op

revision = "delivery"
down_revision = "api"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``destinations``, ``data_templates`` and ``delivery_checkpoints``."""
    op.create_table(
        "destinations",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("credential", sa.String(200)),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "data_templates",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "delivery_checkpoints",
        sa.Column("delivery", sa.String(300), primary_key=True),
        sa.Column("part", sa.String(300), primary_key=True),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("checksum", sa.String(100)),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    """Drop the delivery tables."""
    op.drop_table("delivery_checkpoints")
    op.drop_table("data_templates")
    op.drop_table("destinations")
