"""Run ownership: who executes a run, and when another process may take it over.

A process executing a run records itself as the run's ``owner`` (``host:pid``) and renews
``heartbeat_at`` every :data:`HEARTBEAT_INTERVAL` seconds. The owner is presumed dead when its
heartbeat is older than :data:`LEASE_SECONDS`, or at once when it ran on this host and its
process no longer exists. Taking a run over is a conditional ``UPDATE`` of owner and
heartbeat, so two processes never both resume one run.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any

from .._errors import OrchestraError
from .._store import utc

__all__ = ("HEARTBEAT_INTERVAL", "LEASE_SECONDS", "RunOwned", "claim_for_resume",
           "owner_alive", "try_claim")

#: Seconds between heartbeats of a run's owner.
HEARTBEAT_INTERVAL = 10.0
#: A run whose owner has not beaten for this long may be resumed by another process.
LEASE_SECONDS = 30.0


class RunOwned(OrchestraError):
    """The run is being executed by another live process."""




def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_alive(owner: str | None, heartbeat_at: datetime | None, now: datetime, *,
                lease: float = LEASE_SECONDS) -> bool:
    """Whether *owner* (``host:pid``) still holds its lease at *now*."""
    heartbeat_at = utc(heartbeat_at)
    if not owner or heartbeat_at is None:
        return False
    if now - heartbeat_at > timedelta(seconds=lease):
        return False
    host, _, pid = owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid():
        return _pid_alive(int(pid))
    return True


def try_claim(store: Any, run: dict[str, Any], owner: str, now: datetime) -> bool:
    """Make *owner* the owner of *run* if nobody changed its owner or heartbeat since *run*
    was read; ``True`` when it did."""
    from .._store.schema import pipeline_runs

    c = pipeline_runs.c
    cond = [c.id == run["id"], c.state.in_(("pending", "running"))]
    cond.append(c.owner.is_(None) if run["owner"] is None else c.owner == run["owner"])
    hb = run["heartbeat_at"]
    cond.append(c.heartbeat_at.is_(None) if hb is None else c.heartbeat_at == hb)
    with store.engine.begin() as conn:
        result = conn.execute(pipeline_runs.update().where(*cond)
                              .values(owner=owner, heartbeat_at=now))
        return result.rowcount == 1


def claim_for_resume(store: Any, run: dict[str, Any], owner: str, now: datetime) -> None:
    """Take *run* over for *owner*, or raise :class:`RunOwned` when its owner is alive (or
    another process took it over first)."""
    beat = utc(run["heartbeat_at"] or run.get("created_at"))
    if run["owner"] != owner and owner_alive(run["owner"], beat, now):
        ago = (now - beat).total_seconds() if beat else 0.0
        raise RunOwned(
            f"run {run['id']} is being executed by {run['owner']} (last heartbeat {ago:.0f} s "
            f"ago); it can be resumed once that process has stopped (its lease expires "
            f"{LEASE_SECONDS:.0f} s after its last heartbeat). To stop it: orchestra runs "
            f"cancel {run['id']}")
    if not try_claim(store, run, owner, now):
        raise RunOwned(f"run {run['id']} was just taken over by another process")
