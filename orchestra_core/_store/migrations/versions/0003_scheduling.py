"""Registered pipeline versions, triggers, asset events; runs indexed by state.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``pipeline_versions``, ``triggers`` and ``asset_events``."""
    op.create_table(
        "pipeline_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pipeline_id", sa.String(36), sa.ForeignKey("pipelines.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("pipeline_id", "version", name="uq_pipeline_versions"),
    )
    op.create_table(
        "triggers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("pipeline_id", sa.String(36), sa.ForeignKey("pipelines.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("next_fire_at", TS),
        sa.Column("last_fire_at", TS),
        sa.Column("last_run_id", sa.String(36)),
        sa.Column("last_result", sa.Text),
        sa.Column("cursor", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("pipeline_id", "name", name="uq_triggers_pipeline_name"),
    )
    op.create_index("ix_triggers_next_fire", "triggers", ["next_fire_at"])
    op.create_table(
        "asset_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("asset", sa.String(500), nullable=False),
        sa.Column("time", TS, nullable=False),
        sa.Column("pipeline", sa.String(200)),
        sa.Column("run_id", sa.String(36)),
        sa.Column("task_id", sa.String(200)),
    )
    op.create_index("ix_asset_events_asset", "asset_events", ["asset", "time"])
    op.create_index("ix_asset_events_time", "asset_events", ["time"])
    op.create_index("ix_pipeline_runs_state", "pipeline_runs", ["state"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_pipeline_runs_state", "pipeline_runs")
    op.drop_table("asset_events")
    op.drop_table("triggers")
    op.drop_table("pipeline_versions")
