"""Parameter models of the Fivetran integration jobs."""

from __future__ import annotations

import re

from attrs import frozen

from orchestra_core import parameter

__all__ = ("CONNECTION_ID", "FivetranSyncAll")

#: What a connection id must (fully) match: ``ambush_prettiest``, or 32 hex digits on newer
#: accounts.
CONNECTION_ID = re.compile(r"[A-Za-z0-9_]+")


@frozen(kw_only=True)
class FivetranSyncAll:
    """Parameters of ``fivetran_sync_all``: sync every table of one Fivetran connection."""

    connectionid: str = parameter(
        aliases=("connector_id", "connection_id"),
        help="the Fivetran connection id, two words joined by an underscore, "
        "e.g. ambush_prettiest",
    )
    force: bool = parameter(
        default=False,
        help="restart the sync if the connection is already syncing (otherwise a running "
        "sync is left alone)",
    )
    poll_interval: float = parameter(
        default=30.0, help="seconds between status checks while waiting (or e.g. '1m')"
    )
    wait_timeout: float | None = parameter(
        default=None,
        help="give up waiting for the sync after this many seconds (or e.g. '2h'); "
        "no limit by default",
    )
    reschedule_limit: float | None = parameter(
        default=None,
        help="fail when Fivetran keeps the sync rescheduled (waiting for source API quota) "
        "longer than this many seconds (or e.g. '6h'); no limit by default",
    )
    pause_on_cancel: bool = parameter(
        default=False,
        help="when the task is cancelled or times out, pause the connection (Fivetran has no "
        "cancel endpoint; pausing stops the running sync and future scheduled syncs until "
        "the connection is resumed)",
    )
    record_tables: bool = parameter(
        default=True,
        help="after the sync, read the connection's schema configuration and record its "
        "enabled tables as metadata and data assets",
    )
