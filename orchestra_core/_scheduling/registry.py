"""Registered pipelines: stored with their version history and their triggers.

``orchestra pipelines apply FILE`` calls :meth:`PipelineRegistry.apply`: a new definition becomes a
new version; the pipeline's file triggers are created, updated (their next fire time
recomputed when their spec changed) or removed. Triggers added by hand
(:meth:`PipelineRegistry.add_trigger`) are kept across applies. A deactivated pipeline's triggers do
not fire (their next fire time is cleared); activating it again schedules them from now on.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import attrs
import sqlalchemy as sa
from attrs import frozen

from .._delivery.listing import added_notifications
from .._errors import OrchestraError
from .._pipeline import Pipeline
from .._serialize import pipeline_from_definition, pipeline_to_definition
from .._store import utc
from .._store.schema import clients, pipeline_runs, pipeline_versions, pipelines, triggers
from .._triggers.model import Trigger, trigger_to_raw
from .._triggers.preview import FireTime, preview_fires
from .._values import suggest
from .pending_runs import insert_pending_runs
from .trigger_rows import (
    first_fire,
    schedule_columns,
    start_seq,
    sync_file_triggers,
    trigger_from_row,
)

__all__ = ("ApplyResult", "PipelineNotRegistered", "PipelineRegistry", "TriggerNotFound")


class PipelineNotRegistered(OrchestraError):
    """No registered pipeline has that name (for that client)."""


class TriggerNotFound(OrchestraError):
    """No trigger matches the given id."""


@frozen
class ApplyResult:
    """What :meth:`PipelineRegistry.apply` did to one pipeline."""

    name: str
    client: str
    version: int
    status: str  #: ``created``, ``updated`` or ``unchanged``
    triggers_added: tuple[str, ...] = ()
    triggers_changed: tuple[str, ...] = ()
    triggers_removed: tuple[str, ...] = ()


class PipelineRegistry:
    """Registered pipelines and their triggers in a :class:`~orchestra_core.Store`.

    :param clock: supplies ``now()`` (the real clock by default).
    """

    def __init__(self, store: Any, *, clock: Any = None) -> None:
        self.store = store
        self.clock = clock

    def _now(self) -> datetime:
        return self.clock.now() if self.clock is not None else datetime.now(UTC)

    # -- pipelines -----------------------------------------------------------------------------

    def apply(self, pipeline: Pipeline) -> ApplyResult:
        """Store *pipeline* (a new version when its definition changed) and sync its triggers."""
        now = self._now()
        definition = pipeline_to_definition(pipeline)
        with self.store.engine.begin() as conn:
            existing = self._find(conn, pipeline.name, pipeline.client)
            latest = None
            if existing is not None:
                latest = conn.execute(
                    sa.select(pipeline_versions.c.version, pipeline_versions.c.definition)
                    .where(pipeline_versions.c.pipeline_id == existing["id"])
                    .order_by(pipeline_versions.c.version.desc()).limit(1)).first()
            if latest is not None and latest.definition == definition:
                return ApplyResult(pipeline.name, pipeline.client, latest.version, "unchanged")
            version = (latest.version + 1) if latest is not None else 1
            pipeline_id = self.store.ensure_pipeline(conn, pipeline.name, pipeline.client,
                                                     definition, pipeline.source)
            conn.execute(pipelines.update().where(pipelines.c.id == pipeline_id)
                         .values(**schedule_columns(pipeline)))
            conn.execute(pipeline_versions.insert().values(
                pipeline_id=pipeline_id, version=version, definition=definition,
                source=pipeline.source, created_at=now))
            added_notifications(conn, pipeline.name, latest.definition if latest else None,
                                definition, now)
            active = bool(conn.execute(sa.select(pipelines.c.active)
                                       .where(pipelines.c.id == pipeline_id)).scalar())
            added, changed, removed = sync_file_triggers(conn, pipeline_id, pipeline, active, now)
        status = "created" if latest is None else "updated"
        return ApplyResult(pipeline.name, pipeline.client, version, status, added, changed,
                           removed)

    def _find(self, conn: sa.Connection, name: str, client: str) -> dict[str, Any] | None:
        row = conn.execute(sa.select(pipelines).join(
            clients, clients.c.id == pipelines.c.client_id).where(
            pipelines.c.name == name, clients.c.name == client)).mappings().first()
        return dict(row) if row is not None else None

    def _registered(self, conn: sa.Connection, name: str, client: str) -> dict[str, Any]:
        row = self._find(conn, name, client)
        if row is not None:
            has = conn.execute(sa.select(pipeline_versions.c.id).where(
                pipeline_versions.c.pipeline_id == row["id"]).limit(1)).first()
            if has is not None:
                return row
        known = [r[0] for r in conn.execute(sa.select(pipelines.c.name).join(
            pipeline_versions, pipeline_versions.c.pipeline_id == pipelines.c.id).distinct())]
        raise PipelineNotRegistered(
            f"no registered pipeline {name!r}" + (f" for client {client!r}"
                                                  if client != "default" else "")
            + suggest(name, known) + "; register one with: orchestra pipelines apply FILE")

    def list(self) -> list[dict[str, Any]]:
        """Every registered pipeline: name, client, version, active, triggers, next fire
        time, and its latest run's state."""
        with self.store.engine.connect() as conn:
            latest = (sa.select(pipeline_versions.c.pipeline_id,
                                sa.func.max(pipeline_versions.c.version).label("version"))
                      .group_by(pipeline_versions.c.pipeline_id).subquery())
            rows = conn.execute(
                sa.select(pipelines.c.id, pipelines.c.name, clients.c.name.label("client"),
                          pipelines.c.active, pipelines.c.updated_at, latest.c.version)
                .join(latest, latest.c.pipeline_id == pipelines.c.id)
                .join(clients, clients.c.id == pipelines.c.client_id)
                .order_by(clients.c.name, pipelines.c.name)).mappings().all()
            out = []
            for r in rows:
                trig = conn.execute(
                    sa.select(sa.func.count(), sa.func.min(triggers.c.next_fire_at))
                    .where(triggers.c.pipeline_id == r["id"])).first()
                last = conn.execute(
                    sa.select(pipeline_runs.c.state, pipeline_runs.c.created_at)
                    .where(pipeline_runs.c.pipeline_id == r["id"])
                    .order_by(pipeline_runs.c.created_at.desc()).limit(1)).first()
                out.append({**dict(r), "triggers": trig[0], "next_fire_at": utc(trig[1]),
                            "last_run_state": last.state if last else None,
                            "last_run_at": utc(last.created_at) if last else None})
        return out

    def get(self, name: str, client: str = "default") -> dict[str, Any]:
        """A registered pipeline with its versions (newest first) and triggers."""
        with self.store.engine.connect() as conn:
            row = self._registered(conn, name, client)
            versions = [dict(v) for v in conn.execute(
                sa.select(pipeline_versions.c.version, pipeline_versions.c.created_at,
                          pipeline_versions.c.source)
                .where(pipeline_versions.c.pipeline_id == row["id"])
                .order_by(pipeline_versions.c.version.desc())).mappings()]
        return {"id": row["id"], "name": row["name"], "client": client,
                "active": row["active"], "created_at": row["created_at"],
                "updated_at": row["updated_at"], "error_message": row["error_message"],
                "version": versions[0]["version"], "versions": versions,
                "triggers": self.list_triggers(pipeline=name, client=client)}

    def pipeline(self, name: str, client: str = "default", version: int | None = None
                 ) -> Pipeline:
        """The registered pipeline (its latest version, or *version*)."""
        with self.store.engine.connect() as conn:
            row = self._registered(conn, name, client)
            query = sa.select(pipeline_versions.c.definition, pipeline_versions.c.source,
                              pipeline_versions.c.version).where(
                pipeline_versions.c.pipeline_id == row["id"])
            if version is not None:
                query = query.where(pipeline_versions.c.version == version)
            found = conn.execute(query.order_by(pipeline_versions.c.version.desc())
                                 .limit(1)).first()
        if found is None:
            raise PipelineNotRegistered(f"pipeline {name!r} has no version {version}")
        return pipeline_from_definition(found.definition, source=found.source)

    def definition(self, name: str, client: str = "default", version: int | None = None
                   ) -> dict[str, Any]:
        """The stored definition of a registered pipeline (latest version or *version*)."""
        return pipeline_to_definition(self.pipeline(name, client, version))

    def delete(self, name: str, client: str = "default") -> int:
        """Unregister pipeline *name*: its versions and triggers go; its run history stays.
        Returns how many runs it kept."""
        with self.store.engine.begin() as conn:
            row = self._registered(conn, name, client)
            conn.execute(triggers.delete().where(triggers.c.pipeline_id == row["id"]))
            conn.execute(pipeline_versions.delete().where(
                pipeline_versions.c.pipeline_id == row["id"]))
            runs = conn.execute(sa.select(sa.func.count()).select_from(pipeline_runs).where(
                pipeline_runs.c.pipeline_id == row["id"])).scalar() or 0
            if not runs:
                conn.execute(pipelines.delete().where(pipelines.c.id == row["id"]))
        return int(runs)

    def set_active(self, name: str, client: str = "default", active: bool = True) -> bool:
        """Activate or deactivate pipeline *name*; return whether that changed anything.

        A deactivated pipeline's triggers stop firing (it can still be run by hand);
        re-activated, they fire from now on (times missed while inactive are not caught up).
        """
        now = self._now()
        with self.store.engine.begin() as conn:
            row = self._registered(conn, name, client)
            if bool(row["active"]) == active:
                return False
            conn.execute(pipelines.update().where(pipelines.c.id == row["id"]).values(
                active=active, status="active" if active else "inactive", updated_at=now))
            for trig in conn.execute(sa.select(triggers).where(
                    triggers.c.pipeline_id == row["id"])).mappings().all():
                nxt = first_fire(trigger_from_row(trig), now) if active else None
                conn.execute(triggers.update().where(triggers.c.id == trig["id"]).values(
                    active=active, next_fire_at=nxt, updated_at=now,
                    cursor=now if active else trig["cursor"],
                    cursor_seq=(start_seq(conn, trig["kind"]) if active and trig["kind"] == "after"
                                else trig["cursor_seq"])))
        return True

    # -- triggers ------------------------------------------------------------------------------

    def list_triggers(self, *, pipeline: str | None = None, client: str = "default"
                      ) -> list[dict[str, Any]]:
        """Triggers (all, or of *pipeline*) with their spec, last and next fire times."""
        query = (sa.select(triggers, pipelines.c.name.label("pipeline"),
                           clients.c.name.label("client"))
                 .join(pipelines, pipelines.c.id == triggers.c.pipeline_id)
                 .join(clients, clients.c.id == pipelines.c.client_id)
                 .order_by(clients.c.name, pipelines.c.name, triggers.c.name))
        if pipeline is not None:
            query = query.where(pipelines.c.name == pipeline, clients.c.name == client)
        with self.store.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        for r in rows:
            for key in ("next_fire_at", "last_fire_at", "cursor", "created_at", "updated_at"):
                r[key] = utc(r[key])
        return rows

    def preview(self, name: str, client: str = "default", *, start: datetime | None = None,
                count: int = 10) -> list[FireTime]:
        """The next *count* fire times after *start* (default: now) of registered pipeline
        *name*'s scheduled triggers (those of its file and those added by hand), in UTC and
        local time, DST-affected ones marked (see :func:`~orchestra_core.preview_fires`)."""
        rows = self.list_triggers(pipeline=name, client=client)
        if not rows:
            with self.store.engine.connect() as conn:
                self._registered(conn, name, client)  # raises for an unknown pipeline
        return preview_fires([trigger_from_row(r) for r in rows], start=start or self._now(),
                             count=count)

    def add_trigger(self, name: str, trigger: Trigger, client: str = "default"
                    ) -> dict[str, Any]:
        """Add *trigger* to registered pipeline *name* (kept across ``apply``)."""
        now = self._now()
        with self.store.engine.begin() as conn:
            row = self._registered(conn, name, client)
            taken = {r[0] for r in conn.execute(sa.select(triggers.c.name).where(
                triggers.c.pipeline_id == row["id"]))}
            trigger_id = trigger.id
            if trigger_id is None:
                n = 1
                trigger_id = trigger.kind
                while trigger_id in taken:
                    n += 1
                    trigger_id = f"{trigger.kind}-{n}"
            elif trigger_id in taken:
                raise OrchestraError(f"pipeline {name!r} already has a trigger {trigger_id!r}; "
                                     "give another id or delete that one first")
            trigger = attrs.evolve(trigger, id=trigger_id)
            spec = trigger_to_raw(trigger)
            spec.pop("id", None)
            active = bool(row["active"])
            new_id = str(uuid.uuid4())
            conn.execute(triggers.insert().values(
                id=new_id, pipeline_id=row["id"], name=trigger_id, kind=trigger.kind,
                spec=spec, origin="api", active=active,
                next_fire_at=first_fire(trigger, now) if active else None, cursor=now,
                cursor_seq=start_seq(conn, trigger.kind), created_at=now, updated_at=now))
        return next(t for t in self.list_triggers(pipeline=name, client=client)
                    if t["id"] == new_id)

    def delete_trigger(self, ref: str) -> dict[str, Any]:
        """Delete the trigger *ref*: its id (or a unique prefix), or ``PIPELINE/NAME``."""
        found = self.find_trigger(ref)
        with self.store.engine.begin() as conn:
            conn.execute(triggers.delete().where(triggers.c.id == found["id"]))
        return found

    def find_trigger(self, ref: str) -> dict[str, Any]:
        """The trigger *ref* names (id, unique id prefix, or ``PIPELINE/NAME``)."""
        rows = self.list_triggers()
        if "/" in ref:
            pipe, _, trig = ref.rpartition("/")
            match = [r for r in rows if r["pipeline"] == pipe and r["name"] == trig]
        else:
            match = [r for r in rows if r["id"].startswith(ref)] if ref else []
        if not match:
            raise TriggerNotFound(f"no trigger {ref!r} (give its id from 'orchestra triggers "
                                  "list', or PIPELINE/TRIGGER_NAME)")
        if len(match) > 1:
            raise TriggerNotFound(f"trigger id prefix {ref!r} is ambiguous ({len(match)} "
                                  "triggers)")
        return match[0]

    # -- runs ----------------------------------------------------------------------------------

    def queue_run(self, name: str, client: str = "default", *, run_type: str = "full",
                  trigger: str = "manual", scheduled_at: datetime | None = None) -> str:
        """Create a pending run of registered pipeline *name* (latest version), for a worker
        (``orchestra serve``) to execute; works whether the pipeline is active or not.
        *scheduled_at* is the time it stands for (default: now)."""
        now = self._now()
        with self.store.engine.begin() as conn:
            row = self._registered(conn, name, client)
            definition = conn.execute(
                sa.select(pipeline_versions.c.definition)
                .where(pipeline_versions.c.pipeline_id == row["id"])
                .order_by(pipeline_versions.c.version.desc()).limit(1)).scalar()
            return insert_pending_runs(
                conn, [(row["id"], definition, run_type, trigger, scheduled_at)], now)[0]
