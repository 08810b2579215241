"""Initial schema: clients, pipelines, pipeline runs, task runs, events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the first tables."""
    op.create_table(
        "clients",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "pipelines",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("client_id", sa.String(36), sa.ForeignKey("clients.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("schedule_type", sa.Integer),
        sa.Column("frequency", sa.Integer),
        sa.Column("frequency_type", sa.Integer),
        sa.Column("start_time", sa.String(32)),
        sa.Column("num_tasks", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error_message", sa.Text),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.UniqueConstraint("client_id", "name", name="uq_pipelines_client_name"),
    )
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("pipeline_id", sa.String(36), sa.ForeignKey("pipelines.id"), nullable=False),
        sa.Column("run_type", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("ended_at", TS),
        sa.Column("error", sa.Text),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("heartbeat_at", TS),
    )
    op.create_index("ix_pipeline_runs_pipeline", "pipeline_runs", ["pipeline_id", "created_at"])
    op.create_table(
        "task_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), sa.ForeignKey("pipeline_runs.id"), nullable=False),
        sa.Column("task_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("integration", sa.String(100)),
        sa.Column("job", sa.String(100)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("external_id", sa.String(200)),
        sa.Column("external", sa.JSON),
        sa.Column("started_at", TS),
        sa.Column("ended_at", TS),
        sa.Column("next_attempt_at", TS),
        sa.Column("error", sa.Text),
        sa.Column("meta", sa.JSON),
        sa.Column("outcome", sa.String(16)),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("run_id", "task_id", name="uq_task_runs_run_task"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("time", TS, nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("pipeline", sa.String(200)),
        sa.Column("run_id", sa.String(36)),
        sa.Column("task_id", sa.String(200)),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_events_time", "events", ["time"])
    op.create_index("ix_events_run", "events", ["run_id"])


def downgrade() -> None:
    """Drop everything."""
    for table in ("events", "task_runs", "pipeline_runs", "pipelines", "clients"):
        op.drop_table(table)
