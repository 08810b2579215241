"""Parameter models of the Census integration jobs."""

from __future__ import annotations

from attrs import frozen

from orchestra_core import parameter

__all__ = ("CensusSync",)


@frozen(kw_only=True)
class CensusSync:
    """Parameters of ``census_sync``: run one Census sync and wait for the sync run to finish."""

    syncid: int = parameter(
        aliases=("connectionid", "sync_id", "runid"),
        help="the Census sync id, an integer such as 12345",
    )
    force_full_sync: bool = parameter(
        default=False,
        aliases=("full_resync",),
        help="resend every record instead of only the changes since the last run",
    )
    poll_interval: float = parameter(
        default=10.0, help="seconds between status checks while waiting (or e.g. '30s')"
    )
    fail_on_skipped: bool = parameter(
        default=True,
        help="fail the task when Census skips the run because an earlier run of the sync "
        "was still going (false: count a skipped run as a success)",
    )
