"""Parameter models of the Amperity integration jobs.

Every Amperity job starts one workflow for a config id; the prefix of the id says what it
runs: ``cg-`` a courier group, ``og-`` an orchestration group, ``cc-`` a campaign.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import ClassVar

import attrs
from attrs import frozen

from orchestra_core import parameter

__all__ = (
    "RUN_MODES",
    "AmperityCampaign",
    "AmperityCourierGroup",
    "AmperityOrchestrationGroup",
    "AmperityWorkflow",
    "is_iso_datetime",
)

#: Accepted values of ``run_mode`` (courier groups only).
RUN_MODES: tuple[str, ...] = ("full", "refresh", "source")

#: A date, a ``T`` and at least hours and minutes; :func:`datetime.fromisoformat` checks the rest.
_DATETIME_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}")


def is_iso_datetime(text: str) -> bool:
    """Whether *text* is an ISO-8601 date and time such as ``2026-03-01T00:00:00Z``.

    A bare date (``2026-03-01``) is not enough; a date-time without an offset is accepted.
    """
    if not _DATETIME_SHAPE.match(text):
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _config_id_first(cls: type, fields: list[attrs.Attribute]) -> list[attrs.Attribute]:
    """Order parameters ``config_id``, the job's own, then ``poll_interval``.

    attrs lists inherited fields first (and a redefined ``config_id`` last); messages such as
    "accepted: ..." show the fields in this order.
    """
    rank = {"config_id": 0, "poll_interval": 2}
    return sorted(fields, key=lambda f: rank.get(f.name, 1))


@frozen(kw_only=True)
class AmperityWorkflow:
    """Parameters every Amperity job shares: the config id to run and how often to check on
    the started workflow.

    Each job's subclass redefines ``config_id`` (for its help text and aliases) and sets
    :attr:`KIND` and :attr:`PREFIX`, which validation uses to check the id's prefix.
    """

    #: what the config id names, in messages ("courier group", ...)
    KIND: ClassVar[str] = ""
    #: the prefix every config id of this kind starts with ("cg-", ...)
    PREFIX: ClassVar[str] = ""

    config_id: str = parameter(
        aliases=("connectionid",),
        help="the id of the courier group (cg-), orchestration group (og-) or campaign (cc-)",
    )
    poll_interval: float = parameter(
        default=30.0, help="seconds between status checks while waiting (or e.g. '1m')"
    )


@frozen(kw_only=True, field_transformer=_config_id_first)
class AmperityCourierGroup(AmperityWorkflow):
    """Parameters of ``amperity_courier_group``: run a courier group (pull data into Amperity)."""

    KIND: ClassVar[str] = "courier group"
    PREFIX: ClassVar[str] = "cg-"

    config_id: str = parameter(
        aliases=("connectionid", "courier_group_id"),
        help="the courier group id, starting with cg-",
    )
    run_mode: str | None = parameter(
        default=None,
        help="full, refresh or source; the courier group's own setting by default",
    )
    range_from: str | None = parameter(
        default=None,
        help="start of the time window to load, an ISO-8601 date-time such as "
        "2026-03-01T00:00:00Z; required by file-based couriers",
    )
    range_to: str | None = parameter(
        default=None,
        help="end of the time window to load (exclusive), an ISO-8601 date-time; "
        "needs range_from",
    )


@frozen(kw_only=True, field_transformer=_config_id_first)
class AmperityOrchestrationGroup(AmperityWorkflow):
    """Parameters of ``amperity_orchestration_group``: run an orchestration group
    (send data from Amperity to destinations)."""

    KIND: ClassVar[str] = "orchestration group"
    PREFIX: ClassVar[str] = "og-"

    config_id: str = parameter(
        aliases=("connectionid", "orchestration_group_id"),
        help="the orchestration group id, starting with og-",
    )


@frozen(kw_only=True, field_transformer=_config_id_first)
class AmperityCampaign(AmperityWorkflow):
    """Parameters of ``amperity_campaign``: send an Amperity campaign."""

    KIND: ClassVar[str] = "campaign"
    PREFIX: ClassVar[str] = "cc-"

    config_id: str = parameter(
        aliases=("connectionid", "campaign_id"),
        help="the campaign id, starting with cc-",
    )
