"""Trigger models: when a registered pipeline runs by itself.

One attrs class per kind, all sharing :class:`Trigger`'s fields. In a pipeline file a trigger
is a mapping with a ``kind`` (or a key only one kind has, e.g. ``cron:``); see
``docs/scheduling.md``. :func:`structure_trigger` is the cattrs structure hook,
:func:`trigger_to_raw` the inverse (used for stored definitions).
"""

from __future__ import annotations

import enum
import functools
import re
import zoneinfo
from collections.abc import Mapping
from datetime import UTC, datetime, time
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
    "parse_cron",
    "trigger_to_raw",
)


class Misfire(enum.StrEnum):
    """What a trigger does about fire times missed while no scheduler was running."""

    RUN_ONCE = "run_once"  #: one run for all the missed times
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
    ``misfire`` applies after downtime (:class:`Misfire`); ``misfire_grace`` is how late (in
    seconds) a fire may be and still count as on time.
    """

    kind: ClassVar[str] = ""
    id: str | None = None
    run_type: str = "full"
    misfire: Misfire = Misfire.RUN_ONCE
    misfire_grace: float = 60.0


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

#: A key only one kind has: the kind of a trigger written without ``kind``.
_INFER = (("assets", "changes"), ("cron", "cron"), ("frequency", "interval"), ("at", "single"),
          ("queue", "queue"), ("pipeline", "after"))

_PIPELINE_OUTCOMES = ("succeeded", "failed", "cancelled")
_STAGE_OUTCOMES = ("succeeded", "partial", "failed")
_RUN_TYPES = ("full", "refresh", "source")


class TriggerProblem(ValueError):
    """A problem with one field of a trigger (its text is shown as is)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# -- cron ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def parse_cron(expr: str) -> tuple[str, bool]:
    """``(expression, seconds_first)`` for croniter from a 5- or 6-field cron expression
    (``?`` is read as ``*``); ``ValueError`` with a clear message if it is not valid."""
    from croniter import croniter

    if not isinstance(expr, str) or not expr.strip():
        raise ValueError("expected a cron expression such as '30 2 * * *'")
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"a cron expression has 5 fields (minute hour day month weekday) or 6 "
                         f"(seconds first), got {len(fields)} in {expr!r}")
    text = " ".join("*" if f == "?" else f for f in fields)
    seconds_first = len(fields) == 6
    try:
        croniter(text, datetime(2026, 1, 1), second_at_beginning=seconds_first)
    except Exception as exc:  # croniter raises several error types
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None
    return text, seconds_first


@functools.cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The timezone *name*; ``ValueError`` naming close matches if there is none."""
    from ..config import suggest

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown timezone {name!r}" + suggest(str(name), list(_zones()))
                         + " (use an IANA name such as 'Europe/London' or 'UTC')") from None


def parse_start(value: str, tz: zoneinfo.ZoneInfo) -> tuple[datetime | None, time]:
    """An interval trigger's ``start_time``: ``(anchor date-time or None, time of day)``."""
    text = value.strip()
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", text):
        return None, time.fromisoformat(text.zfill(len(text) + (len(text.split(":")[0]) == 1)))
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected a time of day ('06:00') or a date and time "
                         f"('2026-01-05T06:00'), got {value!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when, when.astimezone(tz).time()


def parse_at(value: str, tz: zoneinfo.ZoneInfo) -> datetime:
    """A single trigger's ``at`` as an aware UTC time."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"expected a date and time such as '2026-07-01T09:00' (optionally "
                         f"with an offset such as '+02:00'), got {value!r}") from None
    if when.tzinfo is None:
        from .times import local_to_utc

        return local_to_utc(when, tz)
    return when.astimezone(UTC)


# -- checking -----------------------------------------------------------------------------------


def check_trigger(trigger: Trigger) -> list[TriggerProblem]:
    """Problems of a structured trigger, each naming its field."""
    out: list[TriggerProblem] = []

    def bad(field: str, message: str) -> None:
        out.append(TriggerProblem(field, message))

    if trigger.id is not None and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}",
                                                   trigger.id):
        bad("id", f"invalid trigger id {trigger.id!r}: use letters, digits, '_', '-' and '.', "
            "at most 100 characters")
    if trigger.run_type not in _RUN_TYPES:
        bad("run_type", f"expected one of {', '.join(_RUN_TYPES)}, got {trigger.run_type!r}")
    tz = None
    if hasattr(trigger, "timezone"):
        try:
            tz = zone(trigger.timezone)  # type: ignore[attr-defined]
        except ValueError as exc:
            bad("timezone", str(exc))
    cron = getattr(trigger, "cron", None)
    if cron is not None:
        try:
            parse_cron(cron)
        except ValueError as exc:
            bad("cron", str(exc))
    if isinstance(trigger, IntervalTrigger):
        if trigger.frequency < 1:
            bad("frequency", f"expected a whole number >= 1, got {trigger.frequency}")
        limit = {FrequencyType.MINUTES: 1440, FrequencyType.HOURS: 24}.get(
            trigger.frequency_type)
        if limit is not None and trigger.frequency > limit:
            bad("frequency", f"at most {limit} {trigger.frequency_type.value} (the schedule "
                "repeats within each day); use frequency_type: days for longer intervals")
        if tz is not None:
            try:
                parse_start(trigger.start_time, tz)
            except ValueError as exc:
                bad("start_time", str(exc))
    if isinstance(trigger, SingleTrigger) and tz is not None:
        try:
            parse_at(trigger.at, tz)
        except ValueError as exc:
            bad("at", str(exc))
    if isinstance(trigger, QueueTrigger):
        if trigger.min_elements < 1:
            bad("min_elements", f"expected a whole number >= 1, got {trigger.min_elements}")
        if not trigger.queue.strip():
            bad("queue", "expected the name of a queue")
    if isinstance(trigger, AfterTrigger):
        allowed = _STAGE_OUTCOMES if trigger.stage else _PIPELINE_OUTCOMES
        for i, outcome in enumerate(trigger.outcome):
            if outcome not in allowed:
                what = "stage" if trigger.stage else "pipeline"
                bad(f"outcome[{i}]", f"a {what} outcome is one of {', '.join(allowed)}, got "
                    f"{outcome!r}")
        if not trigger.outcome:
            bad("outcome", "give at least one outcome")
    if isinstance(trigger, ChangesTrigger):
        if not trigger.assets and not trigger.pipeline:
            bad("assets", "a changes trigger needs 'assets' (names or patterns such as "
                "'stripe.*'), 'pipeline' (the pipeline that updates them), or both")
        if trigger.offset is not None and trigger.cron is None:
            bad("offset", "'offset' is the look-back window of a scheduled check: give 'cron' "
                "too, or leave 'offset' out")
    for name in ("check_every",):
        value = getattr(trigger, name, None)
        if value is not None and value < 1:
            bad(name, f"expected at least 1 second, got {value:g}")
    return out


# -- structuring --------------------------------------------------------------------------------


def _kind_of(raw: Mapping[str, Any]) -> str:
    kind = raw.get("kind")
    if kind is not None:
        if not isinstance(kind, str) or kind.strip().lower() not in TRIGGER_KINDS:
            from ..config import InvalidValue, suggest

            raise InvalidValue(
                f"unknown trigger kind {kind!r}" + (suggest(kind, list(TRIGGER_KINDS))
                                                    if isinstance(kind, str) else "")
                + f"; kinds: {', '.join(TRIGGER_KINDS)}")
        return kind.strip().lower()
    for key, inferred in _INFER:
        if key in raw:
            return inferred
    from ..config import InvalidValue

    raise InvalidValue("missing required key 'kind' (one of " + ", ".join(TRIGGER_KINDS) + ")")


def structure_trigger(raw: Any, _: Any) -> Trigger:
    """cattrs structure hook for :class:`Trigger`: dispatch on ``kind`` and check fields."""
    from cattrs.errors import AttributeValidationNote, ClassValidationError

    from ..config import InvalidValue, converter

    if not isinstance(raw, Mapping):
        raise InvalidValue("a trigger is a mapping such as {cron: '30 2 * * *'}")
    kind = _kind_of(raw)
    cls = TRIGGER_KINDS[kind]
    trigger = converter.structure({k: v for k, v in raw.items() if k != "kind"}, cls)
    problems = check_trigger(trigger)
    if problems:
        errors = []
        for p in problems:
            exc = InvalidValue(str(p))
            name, _, index = p.field.partition("[")
            if index:
                from cattrs.errors import IterableValidationNote

                inner = InvalidValue(str(p))
                inner.__notes__ = [IterableValidationNote(f"index {index[:-1]}",
                                                          int(index[:-1]), str)]
                exc = _as_iterable(inner)
            exc.__notes__ = [AttributeValidationNote(f"field {name}", name, str)]
            errors.append(exc)
        raise ClassValidationError(f"While structuring {cls.__name__}", errors, cls)
    return trigger


def structure_triggers(raw: Any, _: Any) -> tuple[Trigger, ...]:
    """cattrs structure hook for a pipeline's ``triggers`` list: each trigger gets its id
    (given, or its kind, numbered when several share a kind) and ids must be unique."""
    from cattrs.errors import AttributeValidationNote, IterableValidationNote

    from ..config import InvalidValue

    if isinstance(raw, Mapping):
        raw = [{"id": k, **v} if isinstance(v, Mapping) and "id" not in v else v
               for k, v in raw.items()]
    if not isinstance(raw, list | tuple):
        raise InvalidValue("expected a list of triggers")
    out: list[Trigger] = []
    errors: list[BaseException] = []
    for i, item in enumerate(raw):
        try:
            out.append(structure_trigger(item, Trigger))
        except Exception as exc:
            exc.__notes__ = [*getattr(exc, "__notes__", []),
                             IterableValidationNote(f"index {i}", i, Trigger)]
            errors.append(exc)
    if not errors:
        seen: dict[str, int] = {}
        for i, trigger in enumerate(assign_ids(out)):
            if trigger.id in seen:
                dup = InvalidValue(f"duplicate trigger id {trigger.id!r}: already used by "
                                   f"trigger {seen[trigger.id]}")
                dup.__notes__ = [AttributeValidationNote("field id", "id", str)]
                from cattrs.errors import ClassValidationError

                exc = ClassValidationError("duplicate id", [dup], type(trigger))
                exc.__notes__ = [IterableValidationNote(f"index {i}", i, Trigger)]
                errors.append(exc)
            seen.setdefault(trigger.id or "", i)
    if errors:
        from cattrs.errors import IterableValidationError

        raise IterableValidationError("invalid triggers", errors, tuple)
    return tuple(assign_ids(out))


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


def _as_iterable(inner: BaseException) -> BaseException:
    from cattrs.errors import IterableValidationError

    return IterableValidationError("invalid item", [inner], tuple)  # type: ignore[arg-type]


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
