"""The Fivetran simulator's account state: connections, their syncs, webhooks.

Time comes from a clock (a ``FakeClock`` in tests): a sync started at ``t`` ends at
``t + duration``; :meth:`FivetranState.advance` applies every change due by the clock's current
time, in time order (the simulator calls it before answering any request). Webhook events are
scheduled through the *emit* callback the moment they become known (a sync's ``sync_end`` when
it starts), as callables that bring the state up to date and return the payload, or ``None``
when the event did not happen after all (a sync restarted with ``force`` or stopped by a
pause). Nothing here does I/O.
"""

from __future__ import annotations

import enum
import itertools
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from attrs import define, field

__all__ = ("Connector", "Emit", "FivetranState", "Outcome", "Sync", "iso")

#: ``emit(event, group_id, payload_fn, at)``: schedule a webhook event due at *at*.
Emit = Callable[[str, str, Callable[[], "dict[str, Any] | None"], datetime], None]


class Outcome(enum.StrEnum):
    """How a simulated sync ends."""

    SUCCESS = "success"
    FAILURE = "failure"
    FAILURE_WITH_TASK = "failure_with_task"
    #: Fivetran runs out of source API quota: ``sync_state`` becomes ``rescheduled`` with a
    #: ``rescheduled_for`` time; auto-scheduled connections resume by themselves then, manual
    #: ones wait for the next trigger.
    RESCHEDULED = "rescheduled"


SYNC_END_STATUS = {
    Outcome.SUCCESS: "SUCCESSFUL",
    Outcome.FAILURE: "FAILURE",
    Outcome.FAILURE_WITH_TASK: "FAILURE_WITH_TASK",
    Outcome.RESCHEDULED: "RESCHEDULED",
}


def iso(value: datetime | None) -> str | None:
    """*value* as Fivetran writes times: ISO-8601 UTC with microseconds and ``Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@define
class Sync:
    """A sync in progress."""

    id: str
    started_at: datetime
    ends_at: datetime
    outcome: Outcome


@define
class Connector:
    """One simulated connection and its scripted behaviour.

    :ivar duration: seconds a sync takes (per connection; the simulator's default otherwise).
    :ivar outcomes: scripted outcomes of the next syncs, consumed one per sync (then success).
    :ivar reschedule_delay: seconds from a rescheduled sync's end to its ``rescheduled_for``.
    :ivar triggers: how many sync requests (``POST .../sync`` or ``.../force``) it received.
    :ivar syncs: how many syncs started (triggers that were no-ops do not count).
    :ivar sync_state_override: reported instead of the real ``sync_state`` (to inject an
        unknown status value).
    """

    id: str
    group_id: str
    service: str
    schema: str
    created_at: datetime
    duration: float
    paused: bool = False
    schedule_type: str = "manual"
    sync_frequency: int = 360
    setup_state: str = "connected"
    sync_state: str = "scheduled"
    succeeded_at: datetime | None = None
    failed_at: datetime | None = None
    rescheduled_for: datetime | None = None
    outcomes: list[Outcome] = field(factory=list)
    reschedule_delay: float = 60.0
    triggers: int = 0
    syncs: int = 0
    current: Sync | None = None
    tasks: list[dict[str, Any]] = field(factory=list)
    warnings: list[dict[str, Any]] = field(factory=list)
    schemas: dict[str, Any] = field(factory=dict)
    sync_state_override: str | None = None
    #: ends of syncs in order: (sync id, outcome, when)
    history: list[tuple[str, Outcome, datetime]] = field(factory=list)

    def details(self) -> dict[str, Any]:
        """The ``data`` of ``GET /v1/connections/{id}``."""
        status: dict[str, Any] = {
            "setup_state": self.setup_state,
            "sync_state": self.sync_state_override or self.sync_state,
            "update_state": "delayed" if self.sync_state == "rescheduled" else "on_schedule",
            "is_historical_sync": self.syncs <= 1 and self.succeeded_at is None,
            "tasks": list(self.tasks),
            "warnings": list(self.warnings),
        }
        if self.sync_state == "rescheduled" and self.rescheduled_for is not None:
            status["rescheduled_for"] = iso(self.rescheduled_for)
        return {
            "id": self.id,
            "group_id": self.group_id,
            "service": self.service,
            "service_version": 1,
            "schema": self.schema,
            "connected_by": "_airworthy",
            "created_at": iso(self.created_at),
            "succeeded_at": iso(self.succeeded_at),
            "failed_at": iso(self.failed_at),
            "paused": self.paused,
            "pause_after_trial": False,
            "sync_frequency": self.sync_frequency,
            "schedule_type": self.schedule_type,
            "data_delay_sensitivity": "NORMAL",
            "status": status,
            "setup_tests": [],
            "config": {"host": f"{self.schema}.db.example", "port": 5432},
        }

    def schema_config(self) -> dict[str, Any]:
        """The ``data`` of ``GET /v1/connections/{id}/schemas``."""
        return {"enable_new_by_default": True, "schema_change_handling": "ALLOW_ALL",
                "schemas": self.schemas}


#: Two-word ids in Fivetran's style.
_WORDS_A = ("ambush", "speak", "projected", "program", "rushed", "quiet", "mellow", "sorted")
_WORDS_B = ("prettiest", "inexpensive", "sickle", "quoth", "buckle", "meadow", "lantern")


def default_schemas(schema: str) -> dict[str, Any]:
    """A small schema configuration: two enabled tables and one disabled."""
    return {
        "public": {
            "name_in_destination": schema,
            "enabled": True,
            "tables": {
                "orders": {"name_in_destination": "orders", "enabled": True,
                           "sync_mode": "SOFT_DELETE"},
                "customers": {"name_in_destination": "customers", "enabled": True,
                              "sync_mode": "SOFT_DELETE"},
                "audit_log": {"name_in_destination": "audit_log", "enabled": False,
                              "sync_mode": "HISTORY"},
            },
        },
    }


class FivetranState:
    """Every connection and webhook of one simulated Fivetran account.

    :param clock: the time source (``now()``).
    :param duration: default sync duration in seconds.
    :param conflict_when_syncing: answer 409 to a non-forced trigger of a syncing connection
        (Fivetran's docs allow both; the default is a 200 that starts nothing).
    """

    def __init__(self, clock: Any, *, duration: float = 2.0,
                 conflict_when_syncing: bool = False, emit: Emit | None = None) -> None:
        self.clock = clock
        self.duration = duration
        self.conflict_when_syncing = conflict_when_syncing
        self.emit: Emit = emit or (lambda event, group, payload, at: None)
        self.connectors: dict[str, Connector] = {}
        self._ids = itertools.count(1)
        self._happened: dict[tuple[str, str, str], dict[str, Any]] = {}
        #: no change is due before this time (``None``: unknown, rescan)
        self._quiet_until: datetime | None = None

    # -- set-up ---------------------------------------------------------------------------

    def add_connector(self, connector_id: str | None = None, *, group_id: str = "projected_sickle",
                      service: str = "postgres", schema: str | None = None,
                      duration: float | None = None, outcomes: Iterable[Outcome | str] = (),
                      schemas: dict[str, Any] | None = None, **fields: Any) -> Connector:
        """Add a connection (its fields as in :class:`Connector`) and return it."""
        n = next(self._ids)
        cid = connector_id or f"{_WORDS_A[n % len(_WORDS_A)]}_{_WORDS_B[n % len(_WORDS_B)]}{n}"
        name = schema or f"{service}_{n}"
        connector = Connector(
            id=cid, group_id=group_id, service=service, schema=name,
            created_at=self.clock.now() - timedelta(days=30),
            duration=self.duration if duration is None else duration,
            outcomes=[Outcome(o) for o in outcomes],
            schemas=schemas if schemas is not None else default_schemas(name), **fields)
        self.connectors[cid] = connector
        self.changed()
        return connector

    # -- time -------------------------------------------------------------------------------

    def next_change(self) -> datetime | None:
        """When the next scheduled change happens (a sync ends, a rescheduled sync resumes)."""
        times = []
        for c in self.connectors.values():
            if c.current is not None:
                times.append(c.current.ends_at)
            elif (c.sync_state == "rescheduled" and c.schedule_type == "auto"
                  and c.rescheduled_for is not None and not c.paused):
                times.append(c.rescheduled_for)
        return min(times) if times else None

    def advance(self) -> None:
        """Apply every change due by now, in time order."""
        now = self.clock.now()
        if self._quiet_until is not None and now < self._quiet_until:
            return  # nothing changes before then (every request calls this: keep it O(1))
        while (when := self.next_change()) is not None and when <= now:
            for c in list(self.connectors.values()):
                if c.current is not None and c.current.ends_at == when:
                    self._finish(c)
                elif (c.current is None and c.sync_state == "rescheduled"
                      and c.schedule_type == "auto" and c.rescheduled_for == when
                      and not c.paused):
                    self._start(c, when, resumed=True)
        self._quiet_until = self.next_change()

    def changed(self) -> None:
        """Say that a connection changed outside :meth:`advance` (the next call rescans)."""
        self._quiet_until = None

    def _later(self, key: tuple[str, str, str]) -> Callable[[], dict[str, Any] | None]:
        """A payload callable: the event *key* once the state reached its time, or ``None``
        when it did not happen."""
        def payload() -> dict[str, Any] | None:
            self.advance()
            return self._happened.pop(key, None)
        return payload

    def _start(self, c: Connector, when: datetime, *, resumed: bool = False) -> None:
        outcome = Outcome(c.outcomes.pop(0)) if c.outcomes else Outcome.SUCCESS
        sync = Sync(id=str(uuid.uuid4()), started_at=when,
                    ends_at=when + timedelta(seconds=c.duration), outcome=outcome)
        c.current = sync
        c.sync_state = "syncing"
        c.rescheduled_for = None
        c.syncs += 1
        self.changed()
        start = self._payload(c, "sync_start", when, sync.id, None)
        if resumed:  # announced when the reschedule happened; delivered by that callable
            self._happened[(c.id, "resume", iso(when) or "")] = start
        else:
            self.emit("sync_start", c.group_id, lambda: start, when)
        self.emit("sync_end", c.group_id, self._later((c.id, sync.id, "sync_end")),
                  sync.ends_at)

    def _finish(self, c: Connector) -> None:
        sync = c.current
        assert sync is not None
        c.current = None
        when = sync.ends_at
        data: dict[str, Any] = {"status": SYNC_END_STATUS[sync.outcome]}
        if sync.outcome is Outcome.SUCCESS:
            c.succeeded_at = when
            c.sync_state = "scheduled"
            c.tasks = []
        elif sync.outcome is Outcome.FAILURE:
            c.failed_at = when
            c.sync_state = "scheduled"
            data["reason"] = "java.sql.SQLException: connection reset by the source database"
        elif sync.outcome is Outcome.FAILURE_WITH_TASK:
            c.failed_at = when
            c.sync_state = "scheduled"
            c.tasks = [{"code": "reconnect", "message": "Reconnect: the source password "
                                                        "was changed"}]
            data["reason"] = "java.lang.RuntimeException: authentication failed"
            data["taskType"] = "reconnect"
        else:
            c.sync_state = "rescheduled"
            c.rescheduled_for = when + timedelta(seconds=c.reschedule_delay)
            data["reason"] = "the source's API quota is exhausted"
            if c.schedule_type == "auto":
                self.emit("sync_start", c.group_id,
                          self._later((c.id, "resume", iso(c.rescheduled_for) or "")),
                          c.rescheduled_for)
        c.history.append((sync.id, sync.outcome, when))
        self._happened[(c.id, sync.id, "sync_end")] = self._payload(c, "sync_end", when,
                                                                    sync.id, data)

    def _payload(self, c: Connector, event: str, when: datetime, sync_id: str,
                 data: dict[str, Any] | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "event": event, "created": iso(when), "connector_type": c.service,
            "connector_id": c.id, "connector_name": c.schema, "sync_id": sync_id,
            "destination_group_id": c.group_id,
        }
        if data is not None:
            payload["data"] = data
        return payload

    # -- API operations ------------------------------------------------------------------

    def trigger(self, c: Connector, force: bool) -> tuple[int, dict[str, Any]]:
        """A sync request: ``(status, body)``."""
        c.triggers += 1
        self.advance()
        if c.paused:
            return 409, {"code": "Conflict", "message": f"Connection '{c.id}' is paused: "
                                                        "resume it before syncing"}
        if c.setup_state != "connected":
            return 409, {"code": "Conflict", "message": f"Connection '{c.id}' setup is "
                                                        f"{c.setup_state}"}
        if c.current is not None and not force:
            if self.conflict_when_syncing:
                return 409, {"code": "Conflict",
                             "message": f"Connection '{c.id}' is already syncing"}
            return 200, _sync_ok(c)
        # force on a syncing connection: the running sync stops (its sync_end never comes)
        self._start(c, self.clock.now())
        return 200, _sync_ok(c)

    def patch(self, c: Connector, changes: dict[str, Any]) -> None:
        """``PATCH /v1/connections/{id}``: ``paused``, ``schedule_type``, ``sync_frequency``."""
        self.advance()
        self.changed()
        if "paused" in changes:
            paused = bool(changes["paused"])
            if paused and not c.paused:
                c.current = None  # pausing stops the running sync (no completion recorded)
                c.sync_state = "paused"
            elif not paused and c.paused:
                c.sync_state = "scheduled"
            c.paused = paused
        if "schedule_type" in changes:
            c.schedule_type = str(changes["schedule_type"])
        if "sync_frequency" in changes:
            c.sync_frequency = int(changes["sync_frequency"])


def _sync_ok(c: Connector) -> dict[str, Any]:
    return {"code": "Success",
            "message": f"Sync has been successfully triggered for connection with id '{c.id}'"}
