"""Reading triggers from pipeline files: the cattrs structure hooks and the field checks.

:func:`register_trigger_hooks` installs the hooks on a converter (every converter
:func:`orchestra_core._config.make_converter` builds has them). A trigger is a mapping with a
``kind`` (or a key only one kind has, e.g. ``cron:``); its fields are structured with the
converter's own hooks, then :func:`check_trigger` looks at what types cannot say (a valid cron
expression, a known timezone, ...). Each problem names its field, so the user sees it at its
path in the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cattrs import Converter
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
)

from .._values import InvalidValue, parse_duration, suggest
from .model import (
    TRIGGER_KINDS,
    AfterTrigger,
    ChangesTrigger,
    FrequencyType,
    IntervalTrigger,
    QueueTrigger,
    SingleTrigger,
    Trigger,
    assign_ids,
)
from .times import parse_at, parse_cron, parse_start, zone

__all__ = (
    "TriggerProblem",
    "check_trigger",
    "register_trigger_hooks",
    "structure_trigger",
    "structure_triggers",
)

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


# -- checking -----------------------------------------------------------------------------------


def _never_fires(text: str, seconds_first: bool) -> bool:
    """Whether croniter finds no time at all for the cron expression *text*."""
    from croniter import croniter
    from croniter.croniter import CroniterBadDateError

    try:
        croniter(text, datetime(2026, 1, 1), second_at_beginning=seconds_first).get_next(datetime)
    except CroniterBadDateError:
        return True
    return False


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
            never = _never_fires(*parse_cron(cron))
        except ValueError as exc:
            bad("cron", str(exc))
        else:
            if never:
                bad("cron", f"the cron expression {cron!r} never fires (no date matches it, "
                    "e.g. the 30th of February)")
    if isinstance(trigger, IntervalTrigger):
        if trigger.frequency < 1:
            bad("frequency", f"expected a whole number >= 1, got {trigger.frequency}")
        limit = {FrequencyType.MINUTES: 1440, FrequencyType.HOURS: 24}.get(
            trigger.frequency_type)
        if limit is not None and trigger.frequency > limit:
            bad("frequency", f"at most {limit} {trigger.frequency_type.value}; use "
                "frequency_type: days for longer intervals")
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
    if isinstance(trigger.misfire_grace, str):
        share = float(trigger.misfire_grace[:-1])
        if not 0 < share <= 100:
            bad("misfire_grace", f"a share of the period is more than 0% and at most 100%, got "
                f"{trigger.misfire_grace!r}")
    elif trigger.misfire_grace < 0:
        bad("misfire_grace", f"expected seconds >= 0, got {trigger.misfire_grace:g}")
    for name in ("check_every",):
        value = getattr(trigger, name, None)
        if value is not None and value < 1:
            bad(name, f"expected at least 1 second, got {value:g}")
    return out


# -- structuring --------------------------------------------------------------------------------


def register_trigger_hooks(converter: Converter) -> None:
    """Teach *converter* to structure :class:`Trigger` and ``tuple[Trigger, ...]`` (a
    pipeline's ``triggers``), with its own hooks for the fields."""
    converter.register_structure_hook_func(
        lambda t: t is Trigger, lambda raw, _: structure_trigger(raw, converter))
    converter.register_structure_hook_func(
        lambda t: t == tuple[Trigger, ...], lambda raw, _: structure_triggers(raw, converter))
    converter.register_structure_hook_func(lambda t: t == float | str, _grace)


def _grace(raw: Any, _: Any) -> float | str:
    """``misfire_grace``: a duration (``90``, ``"2m"``) or a share of the period (``"50%"``)."""
    if isinstance(raw, str) and raw.strip().endswith("%"):
        try:
            share = float(raw.strip()[:-1])
        except ValueError:
            raise InvalidValue(f"expected a duration such as '2m' or a share of the period "
                               f"such as '50%', got {raw!r}") from None
        return f"{share:g}%"
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise InvalidValue(f"expected a duration such as '2m' or a share of the period such "
                           f"as '50%', got {raw!r}")
    return parse_duration(raw) if isinstance(raw, str) else float(raw)


def _kind_of(raw: Mapping[str, Any]) -> str:
    kind = raw.get("kind")
    if kind is not None:
        if not isinstance(kind, str) or kind.strip().lower() not in TRIGGER_KINDS:
            raise InvalidValue(
                f"unknown trigger kind {kind!r}" + (suggest(kind, list(TRIGGER_KINDS))
                                                    if isinstance(kind, str) else "")
                + f"; kinds: {', '.join(TRIGGER_KINDS)}")
        return kind.strip().lower()
    for key, inferred in _INFER:
        if key in raw:
            return inferred
    raise InvalidValue("missing required key 'kind' (one of " + ", ".join(TRIGGER_KINDS) + ")")


def structure_trigger(raw: Any, converter: Converter) -> Trigger:
    """The trigger *raw* describes: dispatch on ``kind``, structure the fields with
    *converter*, check them; cattrs validation errors name each bad field."""
    if not isinstance(raw, Mapping):
        raise InvalidValue("a trigger is a mapping such as {cron: '30 2 * * *'}")
    kind = _kind_of(raw)
    cls = TRIGGER_KINDS[kind]
    trigger = converter.structure({k: v for k, v in raw.items() if k != "kind"}, cls)
    problems = check_trigger(trigger)
    if problems:
        errors = []
        for p in problems:
            exc: BaseException = InvalidValue(str(p))
            name, _, index = p.field.partition("[")
            if index:
                inner = InvalidValue(str(p))
                inner.__notes__ = [IterableValidationNote(f"index {index[:-1]}",
                                                          int(index[:-1]), str)]
                exc = IterableValidationError("invalid item", [inner], tuple)
            exc.__notes__ = [AttributeValidationNote(f"field {name}", name, str)]
            errors.append(exc)
        raise ClassValidationError(f"While structuring {cls.__name__}", errors, cls)
    return trigger


def structure_triggers(raw: Any, converter: Converter) -> tuple[Trigger, ...]:
    """A pipeline's ``triggers`` (a list, or a mapping of id to trigger): each trigger gets
    its id (given, or its kind, numbered when several share a kind) and ids must be unique."""
    if isinstance(raw, Mapping):
        raw = [{"id": k, **v} if isinstance(v, Mapping) and "id" not in v else v
               for k, v in raw.items()]
    if not isinstance(raw, list | tuple):
        raise InvalidValue("expected a list of triggers")
    out: list[Trigger] = []
    errors: list[BaseException] = []
    for i, item in enumerate(raw):
        try:
            out.append(structure_trigger(item, converter))
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
                exc = ClassValidationError("duplicate id", [dup], type(trigger))
                exc.__notes__ = [IterableValidationNote(f"index {i}", i, Trigger)]
                errors.append(exc)
            seen.setdefault(trigger.id or "", i)
    if errors:
        raise IterableValidationError("invalid triggers", errors, tuple)
    return tuple(assign_ids(out))
