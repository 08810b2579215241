"""The store's tables (SQLAlchemy Core). Changes go through a migration in ``migrations/``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
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
    Column("max_active_runs", Integer),  # migration sched
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
    Column("scheduled_at", TS),  # migration sched
    Column("end_seq", BigInteger),  # migration aftercursor: completions in commit order
    Index("ix_pipeline_runs_pipeline", "pipeline_id", "created_at"),
    Index("ix_pipeline_runs_state", "state"),  # migration 0003
    Index("ix_pipeline_runs_created", "created_at", "id"),  # migration "api": run listings
    Index("ix_pipeline_runs_state_created", "state", "created_at", "id"),  # migration "api"
    Index("ix_pipeline_runs_end_seq", "end_seq"),  # migration aftercursor
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
    Column("intent", JSON),  # migration "intent": what a runner recorded before its trigger
    Column("end_seq", BigInteger),  # migration aftercursor: stage completions
    UniqueConstraint("run_id", "task_id", name="uq_task_runs_run_task"),
    Index("ix_task_runs_end_seq", "end_seq"),  # migration aftercursor
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

# -- queues and alerts (migration 0004) ---------------------------------------------------------

queue_elements = Table(
    "queue_elements", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("queue", String(200), nullable=False),
    Column("reference", String(200)),
    Column("data", JSON),
    Column("status", String(16), nullable=False),
    Column("message", Text),
    Column("created_at", TS, nullable=False),
    Column("claimed_at", TS),
    Column("finished_at", TS),
    Column("created_by", String(200)),
    Column("claimed_by", String(200)),
    Column("seq", BigInteger),  # commit order, assigned by the store (migration sched)
    Index("ix_queue_elements_claim", "queue", "status", "id"),
    Index("ix_queue_elements_seq", "queue", "seq"),
    Index("ix_queue_elements_reference", "queue", "reference"),
)

notifications = Table(
    "notifications", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", TS, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("pipeline", String(200), nullable=False),
    Column("run_id", String(36)),
    Column("message", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("acknowledged_at", TS),  # migration "api"
    Column("acknowledged_by", String(200)),
    Index("ix_notifications_time", "created_at"),
)

#: One row per alert sent for a run: an alert fires once, also across resumes and workers.
alerts_sent = Table(
    "alerts_sent", metadata,
    Column("run_id", String(36), primary_key=True),
    Column("kind", String(64), primary_key=True),
    Column("sent_at", TS, nullable=False),
)

# -- webhook deliveries seen within the replay window (migration 0006_edge) ---------------------

webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("event_id", String(300), primary_key=True),
    Column("integration", String(100), nullable=False),
    Column("received_at", TS, nullable=False),
    Index("ix_webhook_deliveries_received", "received_at"),
)


# -- constants, credentials and connections (orchestra_core._secrets; migration 0002) -----------

constants = Table(
    "constants", metadata,
    Column("name", String(200), primary_key=True),
    Column("value", Text, nullable=False),
    Column("description", Text),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

#: ``secret`` is the AES-GCM ciphertext of the secret fields (JSON), under key ``key_id``;
#: ``fields`` lists their names (never their values) so listings need no key.
credentials = Table(
    "credentials", metadata,
    Column("name", String(200), primary_key=True),
    Column("username", String(500)),
    Column("fields", JSON, nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("secret", Text, nullable=False),
    Column("description", Text),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

connections = Table(
    "connections", metadata,
    Column("name", String(200), primary_key=True),
    Column("integration", String(100), nullable=False),
    Column("base_url", Text),
    Column("auth", String(32)),
    Column("credential", String(200), ForeignKey("credentials.name")),
    Column("options", JSON, nullable=False),
    Column("description", Text),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)


# -- registered pipelines, triggers, asset events (orchestra_core._scheduling; migration 0003) --

#: Every version of a registered pipeline (``orchestra pipelines apply``), newest highest.
pipeline_versions = Table(
    "pipeline_versions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline_id", String(36), ForeignKey("pipelines.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("definition", JSON, nullable=False),
    Column("source", Text),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("pipeline_id", "version", name="uq_pipeline_versions"),
)

#: One row per trigger of a registered pipeline. ``next_fire_at`` is NULL when the trigger
#: never fires by itself (manual, a single trigger that fired, an inactive pipeline);
#: schedulers claim a due trigger by a conditional UPDATE of it.
triggers = Table(
    "triggers", metadata,
    Column("id", String(36), primary_key=True),
    Column("pipeline_id", String(36), ForeignKey("pipelines.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("origin", String(8), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("next_fire_at", TS),
    Column("last_fire_at", TS),
    Column("last_run_id", String(36)),
    Column("last_result", Text),
    Column("cursor", TS),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("cursor_seq", BigInteger),  # migration sched
    UniqueConstraint("pipeline_id", "name", name="uq_triggers_pipeline_name"),
    Index("ix_triggers_next_fire", "next_fire_at"),
)

#: A data asset updated by a task run (its declared outputs and the assets its job reported).
asset_events = Table(
    "asset_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset", String(500), nullable=False),
    Column("time", TS, nullable=False),
    Column("pipeline", String(200)),
    Column("run_id", String(36)),
    Column("task_id", String(200)),
    Index("ix_asset_events_asset", "asset", "time"),
    Index("ix_asset_events_time", "time"),
)


# -- data delivery (orchestra_core._delivery; migration 0008_delivery) -------------------------

#: Named destinations (``orchestra destinations add``): a type from a plugin, its options and
#: the credential whose fields it receives decrypted at delivery time.
destinations = Table(
    "destinations", metadata,
    Column("name", String(200), primary_key=True),
    Column("type", String(100), nullable=False),
    Column("options", JSON, nullable=False),
    Column("credential", String(200)),
    Column("concurrency", Integer, nullable=False),
    Column("description", Text),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

#: Named data templates (``orchestra templates add``): the shape of what a destination gets.
data_templates = Table(
    "data_templates", metadata,
    Column("name", String(200), primary_key=True),
    Column("definition", JSON, nullable=False),
    Column("description", Text),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

#: The batches and files a delivery has delivered (acknowledged), so a resumed delivery
#: skips them: ``delivery`` is ``"{run_id}/{task_id}"``, ``part`` a batch or file key.
delivery_checkpoints = Table(
    "delivery_checkpoints", metadata,
    Column("delivery", String(300), primary_key=True),
    Column("part", String(300), primary_key=True),
    Column("rows", Integer, nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("checksum", String(100)),
    Column("created_at", TS, nullable=False),
)


# -- API tokens and the audit log (orchestra_core._api; migration 0005) --------------------------

#: An API token: only the SHA-256 of the token is stored; the token itself is shown once.
api_tokens = Table(
    "api_tokens", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("client", String(200), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
    Column("created_by", String(200)),
    Column("last_used_at", TS),
    Column("revoked_at", TS),
)

#: Every change made through the API or the CLI; rows are only ever inserted.
audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", TS, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("via", String(16), nullable=False),
    Column("client", String(200)),
    Column("action", String(100), nullable=False),
    Column("target", String(500)),
    Column("before", JSON),
    Column("after", JSON),
    Index("ix_audit_log_time", "time"),
)

#: Named resources held by running tasks (``resource: NAME``): one row per held resource, a
#: lease that expires unless its holder renews it, so a killed holder blocks no one for long
#: (migration ``rules``).
resource_leases = Table(
    "resource_leases", metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(36), nullable=False),
    Column("owner", String(200)),
    Column("run_id", String(36)),
    Column("task_id", String(200)),
    Column("acquired_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
)
