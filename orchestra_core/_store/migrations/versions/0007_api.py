"""API tokens (stored as hashes), the append-only audit log, acknowledged notifications,
an index for run listings.

Revision ID: api
Revises: edge
"""

import sqlalchemy as sa
from alembic import op

revision = "api"
down_revision = "edge"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``api_tokens`` and ``audit_log``."""
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("client", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(200)),
        sa.Column("last_used_at", TS),
        sa.Column("revoked_at", TS),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("time", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("client", sa.String(200)),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.String(500)),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
    )
    op.create_index("ix_audit_log_time", "audit_log", ["time"])
    op.create_index("ix_pipeline_runs_created", "pipeline_runs", ["created_at", "id"])
    op.create_index("ix_pipeline_runs_state_created", "pipeline_runs",
                    ["state", "created_at", "id"])
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("acknowledged_at", TS))
        batch.add_column(sa.Column("acknowledged_by", sa.String(200)))


def downgrade() -> None:
    """Drop the tables."""
    op.drop_index("ix_pipeline_runs_state_created", "pipeline_runs")
    op.drop_index("ix_pipeline_runs_created", "pipeline_runs")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("acknowledged_by")
        batch.drop_column("acknowledged_at")
    op.drop_table("audit_log")
    op.drop_table("api_tokens")
