"""Parameter models of the Hightouch integration jobs."""

from __future__ import annotations

from attrs import frozen

from orchestra_core import parameter

__all__ = ("HightouchSync",)


@frozen(kw_only=True)
class HightouchSync:
    """Parameters of ``hightouch_sync``: run one Hightouch sync and wait for the run to finish.

    Name the sync by exactly one of ``syncid`` and ``sync_slug``.
    """

    syncid: str | None = parameter(
        default=None,
        aliases=("connectionid", "sync_id", "runid"),
        help="the Hightouch sync id, e.g. 12345; give this or sync_slug",
    )
    sync_slug: str | None = parameter(
        default=None,
        aliases=("slug",),
        help="the Hightouch sync slug, e.g. daily-accounts; give this or syncid",
    )
    full_resync: bool = parameter(
        default=False, help="resync every row instead of only the changes since the last run"
    )
    fail_on_warning: bool = parameter(
        default=False,
        help="treat a run that finished with warnings (e.g. rejected rows) as failed",
    )
    poll_interval: float = parameter(
        default=10.0, help="seconds between status checks while waiting (or e.g. '30s')"
    )
