"""The Hightouch simulator's vendor state: workspaces, syncs and runs, driven by a clock.

Pure Python, no HTTP: :class:`~orchestra_hightouch.testing.HightouchSimulator` serves it.
A run's status is computed from the clock when it is read, so a fake clock moves every run
along deterministically: ``queued`` (also while it waits behind the sync's previous run),
then ``querying``, ``processing`` and ``reporting`` for their durations, then its outcome.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from attrs import define, field

__all__ = (
    "IN_PROGRESS",
    "TERMINAL",
    "IdSource",
    "RateWindow",
    "SimRun",
    "SimState",
    "SimSync",
    "SimWorkspace",
    "iso",
)

#: Statuses of a run in progress, in order.
IN_PROGRESS = ("queued", "querying", "processing", "reporting")
#: The documented terminal statuses of a run (``SyncRunStatus``).
TERMINAL = ("success", "warning", "failed", "cancelled", "interrupted")


def iso(when: datetime | None) -> str | None:
    """*when* as Hightouch writes times: ISO 8601 UTC with milliseconds and ``Z``."""
    if when is None:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _rows(added: int, changed: int = 0, removed: int = 0) -> dict[str, int]:
    return {"addedCount": added, "changedCount": changed, "removedCount": removed}


@define
class SimWorkspace:
    """A Hightouch workspace: its API keys share one rate limit (200 requests / 10 s)."""

    id: str
    slug: str
    rate: RateWindow


@define(kw_only=True)
class SimSync:
    """A sync as the simulator keeps it.

    :param durations: seconds a run spends ``querying``, ``processing`` and ``reporting``.
    :param outcome: the terminal status of the next runs (``success``, ``warning``,
        ``failed``, ``cancelled``, ``interrupted``, or any other string to play an unknown
        status), unless :attr:`script` holds a per-run outcome.
    :param rows: rows each run plans to add; ``rejected`` of them fail (``warning``).
    :param status_override: when set, every run of this sync reports this status (failure
        injection of unknown or unexpected in-progress values).
    """

    id: str
    slug: str
    workspace_id: str
    disabled: bool = False
    durations: tuple[float, float, float] = (1.0, 2.0, 1.0)
    outcome: str = "success"
    script: deque[str] = field(factory=deque)
    rows: int = 100
    rejected: int = 3
    error: str = "Destination rejected the request: invalid API key for the destination"
    status_override: str | None = None
    created_at: datetime | None = None
    alert_state: str = "ok"

    def to_json(self, last_run_at: datetime | None) -> dict[str, Any]:
        """The ``Sync`` object of ``GET /syncs/{id}``."""
        created = iso(self.created_at)
        return {
            "id": self.id,
            "slug": self.slug,
            "workspaceId": self.workspace_id,
            "createdAt": created,
            "updatedAt": created,
            "destinationId": str(int(self.id) + 7000),
            "modelId": str(int(self.id) + 9000),
            "configuration": {"mode": "upsert", "object": "contact"},
            "schedule": None,
            "status": "disabled" if self.disabled else "success",
            "disabled": self.disabled,
            "lastRunAt": iso(last_run_at),
            "referencedColumns": ["email", "name"],
            "primaryKey": "email",
            "externalSegment": None,
            "tags": {},
        }


@define(kw_only=True)
class SimRun:
    """One sync run; its status follows from the clock (see the module docstring)."""

    id: int
    sync: SimSync
    created_at: datetime
    outcome: str
    durations: tuple[float, float, float]
    rows: int
    rejected: int
    full_resync: bool = False
    previous: SimRun | None = None
    stopped_at: datetime | None = None
    stopped_as: str | None = None

    @property
    def started_at(self) -> datetime:
        """When the run leaves ``queued``: once created and the previous run finished."""
        if self.previous is None:
            return self.created_at
        return max(self.created_at, self.previous.finished_at)

    @property
    def finished_at(self) -> datetime:
        """When the run reaches its terminal status."""
        natural = self.started_at + timedelta(seconds=sum(self.durations))
        if self.stopped_at is not None:
            return min(natural, max(self.stopped_at, self.created_at))
        return natural

    def status(self, now: datetime) -> str:
        """The run's status at *now*."""
        if self.sync.status_override is not None:
            return self.sync.status_override
        if now >= self.finished_at:
            return self.stopped_as or self.outcome
        elapsed = (now - self.started_at).total_seconds()
        if elapsed < 0:
            return "queued"
        querying, processing, _ = self.durations
        if elapsed < querying:
            return "querying"
        if elapsed < querying + processing:
            return "processing"
        return "reporting"

    def to_json(self, now: datetime) -> dict[str, Any]:
        """The ``SyncRun`` object of ``GET /syncs/{id}/runs`` (a numeric ``id``)."""
        status = self.status(now)
        started = self.started_at if now >= self.started_at else None
        finished = self.finished_at if now >= self.finished_at else None
        data: dict[str, Any] = {
            "id": self.id,
            "createdAt": iso(self.created_at),
            "startedAt": iso(started),
            "finishedAt": iso(finished),
            "status": status,
            "completionRatio": self._ratio(now),
            "error": None,
        }
        if status in ("queued", "querying"):
            return data  # no row counts yet: parsers must not expect them (af-ht issue #22)
        successful, failed = self._counts(now)
        if now >= self.finished_at:
            if self.stopped_as == "interrupted":
                data["error"] = "The sync run was interrupted"
            elif self.stopped_as is None and self.outcome == "failed":
                data["error"] = self.sync.error
        data.update(
            querySize=self.rows,
            plannedRows=_rows(self.rows),
            successfulRows=_rows(successful),
            failedRows=_rows(failed),
        )
        return data

    def _counts(self, now: datetime) -> tuple[int, int]:
        """Rows synced and rows rejected so far."""
        if now < self.finished_at:
            return int(self.rows * self._ratio(now)), 0
        if self.stopped_as is not None:
            return int(self.rows * self._ratio(now)), 0
        if self.outcome == "warning":
            return self.rows - self.rejected, self.rejected
        if self.outcome == "failed":
            return 0, self.rows
        return self.rows, 0

    def _ratio(self, now: datetime) -> float:
        """The share of rows processed at *now* (frozen when the run was stopped)."""
        if now >= self.finished_at and self.stopped_as is None:
            return 1
        querying, processing, _ = self.durations
        at = min(now, self.finished_at)
        elapsed = (at - self.started_at).total_seconds() - querying
        if elapsed <= 0 or processing <= 0:
            return 0
        return round(min(1.0, elapsed / processing), 3)


class RateWindow:
    """Counts requests in a sliding window; answers whether one more is allowed.

    Also keeps the most requests seen in any window (:attr:`peak`) and how many were refused
    (:attr:`refused`), for tests that check a client stays under the limit.
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._times: deque[float] = deque()
        self.peak = 0
        self.refused = 0
        self.total = 0

    def allow(self) -> bool:
        """Count one request now; ``False`` (and not counted) when the window is full."""
        now = self._clock()
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        if len(self._times) >= self.limit:
            self.refused += 1
            return False
        self._times.append(now)
        self.total += 1
        self.peak = max(self.peak, len(self._times))
        return True


class IdSource:
    """Numeric ids counting up from *start*."""

    def __init__(self, start: int) -> None:
        self._next = itertools.count(start)

    def __call__(self) -> int:
        return next(self._next)


class SimState:
    """Everything the simulated Hightouch API knows: API keys, workspaces, syncs, runs.

    :param now: the clock's current UTC time.
    :param monotonic: the clock's monotonic seconds (for the rate-limit windows).
    :param rate_limit: requests allowed per workspace in *rate_window* seconds.
    """

    def __init__(self, now: Callable[[], datetime], monotonic: Callable[[], float], *,
                 rate_limit: int = 200, rate_window: float = 10.0) -> None:
        self.now = now
        self._monotonic = monotonic
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.workspaces: dict[str, SimWorkspace] = {}
        self.tokens: dict[str, str] = {}
        self.syncs: dict[str, SimSync] = {}
        self.runs: dict[int, SimRun] = {}
        self._sync_ids = IdSource(1001)
        self._run_ids = IdSource(50_000_001)
        self._workspace_ids = IdSource(31_337)

    # -- set-up ---------------------------------------------------------------------------

    def add_workspace(self, token: str, slug: str = "acme") -> SimWorkspace:
        """A workspace reached with API key *token* (more keys: :meth:`add_token`)."""
        workspace = SimWorkspace(
            id=str(self._workspace_ids()), slug=slug,
            rate=RateWindow(self.rate_limit, self.rate_window, self._monotonic),
        )
        self.workspaces[workspace.id] = workspace
        self.tokens[token] = workspace.id
        return workspace

    def add_token(self, token: str, workspace_id: str) -> None:
        """Another API key of workspace *workspace_id* (it shares the workspace's limit)."""
        self.tokens[token] = workspace_id

    def add_sync(self, workspace_id: str, *, slug: str | None = None,
                 sync_id: str | int | None = None, **settings: Any) -> SimSync:
        """A sync of *workspace_id*; *settings* are :class:`SimSync` fields."""
        new_id = str(sync_id) if sync_id is not None else str(self._sync_ids())
        sync = SimSync(id=new_id, slug=slug or f"sync-{new_id}", workspace_id=workspace_id,
                       created_at=self.now(), **settings)
        self.syncs[sync.id] = sync
        return sync

    # -- reads ----------------------------------------------------------------------------

    def sync_by_id(self, workspace_id: str, sync_id: str) -> SimSync | None:
        """The workspace's sync *sync_id*, or ``None``."""
        sync = self.syncs.get(sync_id)
        return sync if sync is not None and sync.workspace_id == workspace_id else None

    def sync_by_slug(self, workspace_id: str, slug: str) -> SimSync | None:
        """The workspace's sync called *slug*, or ``None``."""
        return next((s for s in self.syncs.values()
                     if s.slug == slug and s.workspace_id == workspace_id), None)

    def runs_of(self, sync_id: str) -> list[SimRun]:
        """The sync's runs, oldest first."""
        return [run for run in self.runs.values() if run.sync.id == sync_id]

    def last_run_at(self, sync_id: str) -> datetime | None:
        """When the sync's latest run was created."""
        runs = self.runs_of(sync_id)
        return runs[-1].created_at if runs else None

    # -- changes --------------------------------------------------------------------------

    def trigger(self, sync: SimSync, *, full_resync: bool = False) -> SimRun:
        """Queue a run of *sync* (behind its active run, as the API does)."""
        outcome = sync.script.popleft() if sync.script else sync.outcome
        runs = self.runs_of(sync.id)
        run = SimRun(
            id=self._run_ids(), sync=sync, created_at=self.now(), outcome=outcome,
            durations=sync.durations, rows=sync.rows * (3 if full_resync else 1),
            rejected=sync.rejected, full_resync=full_resync,
            previous=runs[-1] if runs else None,
        )
        self.runs[run.id] = run
        return run

    def stop(self, run_id: int, status: str = "cancelled") -> SimRun:
        """End run *run_id* now with *status* (``cancelled`` from the UI, ``interrupted``)."""
        run = self.runs[run_id]
        if self.now() < run.finished_at:
            run.stopped_at = self.now()
            run.stopped_as = status
        return run
