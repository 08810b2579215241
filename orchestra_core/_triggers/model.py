"""Trigger models: when a registered pipeline runs by itself.

One attrs class per kind, all sharing :class:`Trigger`'s fields. In a pipeline file a trigger
is a mapping with a ``kind`` (or a key only one kind has, e.g. ``cron:``); see
``docs/scheduling.md``. :func:`trigger_to_raw` writes a trigger in that form (stored
definitions).

Only the standard library and attrs: reading triggers from files (the structure hooks and the
field checks) is :mod:`orchestra_core._triggers._parse`'s job, and time arithmetic is
:mod:`orchestra_core._triggers.times`'.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

import attrs
from attrs import frozen

__all__ = (
    "TRIGGER_KINDS",
    "AfterTrigger",
    "ChangesTrigger",
    "CronTrigger",
    "FrequencyType",
    "IntervalTrigger",
    "ManualTrigger",
    "Misfire",
    "QueueTrigger",
    "SingleTrigger",
    "Trigger",
    "assign_ids",
    "trigger_to_raw",
)


class Misfire(enum.StrEnum):
    """What a trigger does about fire times missed while no scheduler was running."""

    RUN_ONCE = "run_once"  #: one run for all the missed times (the latest)
    RUN_ALL = "run_all"  #: one run per missed time, each with its scheduled time
    SKIP = "skip"  #: no run for missed times; wait for the next one


class FrequencyType(enum.StrEnum):
    """The unit of an interval trigger's ``frequency`` (seed 003 ``frequencytypecode``)."""

    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"


@frozen(kw_only=True)
class Trigger:
    """What every trigger has.

    ``id`` names the trigger within its pipeline (default: its kind, numbered when a
    pipeline has several of one kind); ``run_type`` is the scope of the runs it creates;
    ``misfire`` applies after downtime (:class:`Misfire`); ``misfire_grace`` is how late a
    fire may be and still count as on time: seconds, or a share of the trigger's period as
    text such as ``"50%"`` (half the time to the next fire).
    """

    kind: ClassVar[str] = ""
    id: str | None = None
    run_type: str = "full"
    misfire: Misfire = Misfire.RUN_ONCE
    misfire_grace: float | str = 60.0


@frozen(kw_only=True)
class ManualTrigger(Trigger):
    """Runs only when someone asks (CLI, API, Python); never by itself."""

    kind: ClassVar[str] = "manual"


@frozen(kw_only=True)
class CronTrigger(Trigger):
    """At the times a cron expression matches, in ``timezone`` (UTC by default).

    Five fields (minute hour day month weekday), or six with seconds first.
    """

    kind: ClassVar[str] = "cron"
    cron: str
    timezone: str = "UTC"


@frozen(kw_only=True)
class IntervalTrigger(Trigger):
    """Every ``frequency`` ``frequency_type`` counted from ``start_time`` (seed 003 fields).

    ``start_time`` is a time of day (``"06:00"``) or a date and time
    (``"2026-01-05T06:00"``), read in ``timezone``.
    """

    kind: ClassVar[str] = "interval"
    frequency: int
    frequency_type: FrequencyType = FrequencyType.HOURS
    start_time: str = "00:00"
    timezone: str = "UTC"


@frozen(kw_only=True)
class SingleTrigger(Trigger):
    """Once, at ``at`` (a date and time, read in ``timezone`` when it has no offset)."""

    kind: ClassVar[str] = "single"
    at: str
    timezone: str = "UTC"


@frozen(kw_only=True)
class QueueTrigger(Trigger):
    """When queue ``queue`` holds at least ``min_elements`` new elements that arrived since
    the trigger last fired; checked every ``check_every`` seconds."""

    kind: ClassVar[str] = "queue"
    queue: str
    min_elements: int = 1
    check_every: float = 5.0


@frozen(kw_only=True)
class AfterTrigger(Trigger):
    """When pipeline ``pipeline`` (or its stage ``stage``) finishes with one of ``outcome``.

    Pipeline outcomes: succeeded, failed, cancelled; stage outcomes: succeeded, partial,
    failed. ``client`` defaults to this pipeline's client.
    """

    kind: ClassVar[str] = "after"
    pipeline: str
    stage: str | None = None
    outcome: tuple[str, ...] = ("succeeded",)
    client: str | None = None
    check_every: float = 5.0


@frozen(kw_only=True)
class ChangesTrigger(Trigger):
    """When data assets were updated since this pipeline last ran.

    ``assets`` are asset names or glob patterns (``stripe.*``); ``pipeline`` limits it to
    assets updated by that pipeline's runs (at least one of the two). With ``cron`` the
    check happens only at those times and looks back ``offset`` seconds; without it, every
    ``check_every`` seconds.
    """

    kind: ClassVar[str] = "changes"
    assets: tuple[str, ...] = ()
    pipeline: str | None = None
    cron: str | None = None
    timezone: str = "UTC"
    offset: float | None = None
    check_every: float = 5.0


#: Every trigger class by kind.
TRIGGER_KINDS: dict[str, type[Trigger]] = {
    cls.kind: cls for cls in (ManualTrigger, CronTrigger, IntervalTrigger, SingleTrigger,
                              QueueTrigger, AfterTrigger, ChangesTrigger)
}


def assign_ids(triggers: tuple[Trigger, ...] | list[Trigger]) -> list[Trigger]:
    """*triggers* with every missing id filled in: the kind, numbered from 2 when several
    triggers without an id share a kind (``cron``, ``cron-2``)."""
    counts: dict[str, int] = {}
    out = []
    for trigger in triggers:
        if trigger.id is None:
            counts[trigger.kind] = counts.get(trigger.kind, 0) + 1
            n = counts[trigger.kind]
            trigger = attrs.evolve(trigger, id=trigger.kind if n == 1 else f"{trigger.kind}-{n}")
        out.append(trigger)
    return out


def trigger_to_raw(trigger: Trigger) -> dict[str, Any]:
    """The file form of *trigger*: ``kind`` first, then only the keys that differ from their
    default."""
    out: dict[str, Any] = {"kind": trigger.kind}
    for f in attrs.fields(type(trigger)):
        value = getattr(trigger, f.name)
        if f.default is not attrs.NOTHING and value == f.default:
            continue
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out
