"""The store's tables (SQLAlchemy Core). Changes go through a migration in ``migrations/``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = ("clients", "events", "metadata", "pipeline_runs", "pipelines", "task_runs")

metadata = MetaData()

TS = DateTime(timezone=True)

clients = Table(
    "clients", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
)

pipelines = Table(
    "pipelines", metadata,
    Column("id", String(36), primary_key=True),
    Column("client_id", String(36), ForeignKey("clients.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("tags", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("definition", JSON, nullable=False),
    Column("source", Text),
    Column("schedule_type", Integer),
    Column("frequency", Integer),
    Column("frequency_type", Integer),
    Column("start_time", String(32)),
    Column("num_tasks", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("error_message", Text),
    Column("active", Boolean, nullable=False),
    UniqueConstraint("client_id", "name", name="uq_pipelines_client_name"),
)

pipeline_runs = Table(
    "pipeline_runs", metadata,
    Column("id", String(36), primary_key=True),
    Column("pipeline_id", String(36), ForeignKey("pipelines.id"), nullable=False),
    Column("run_type", String(16), nullable=False),
    Column("trigger", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("definition", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("started_at", TS),
    Column("ended_at", TS),
    Column("error", Text),
    Column("cancel_requested", Boolean, nullable=False),
    Column("owner", String(200)),
    Column("heartbeat_at", TS),
    Index("ix_pipeline_runs_pipeline", "pipeline_id", "created_at"),
)

task_runs = Table(
    "task_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(36), ForeignKey("pipeline_runs.id"), nullable=False),
    Column("task_id", String(200), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("integration", String(100)),
    Column("job", String(100)),
    Column("state", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("external_id", String(200)),
    Column("external", JSON),
    Column("started_at", TS),
    Column("ended_at", TS),
    Column("next_attempt_at", TS),
    Column("error", Text),
    Column("meta", JSON),
    Column("outcome", String(16)),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("run_id", "task_id", name="uq_task_runs_run_task"),
)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", TS, nullable=False),
    Column("level", String(10), nullable=False),
    Column("pipeline", String(200)),
    Column("run_id", String(36)),
    Column("task_id", String(200)),
    Column("message", Text, nullable=False),
    Index("ix_events_time", "time"),
    Index("ix_events_run", "run_id"),
)
