"""The cattrs structure hooks behind :func:`orchestra_core._config.make_converter`.

Values in pipeline files are read leniently but strictly checked: ``"5m"`` is a duration,
``"yes"`` a boolean, ``"3"`` an integer, while ``true`` is not a number. Every hook raises
:class:`~orchestra_core._values.InvalidValue` with the text the user sees. The pipeline model's
own shapes (conditions written as a name or a mapping, ``retries: 3``, ``async`` for
``async_``) are registered by :func:`register_pipeline_hooks`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any

from cattrs import Converter
from cattrs.gen import make_dict_structure_fn, override

from ._pipeline import Condition, ConditionKind, Pipeline, StageOutcome, Task, TaskRetry
from ._values import InvalidValue, describe, parse_duration, suggest

__all__ = ("register_pipeline_hooks", "register_value_hooks")


def register_value_hooks(converter: Converter) -> None:
    """Teach *converter* Orchestra's reading of strings, numbers, booleans, enums, string and
    integer lists and string-keyed mappings."""
    converter.register_structure_hook(str, _str)
    converter.register_structure_hook(int, _int)
    converter.register_structure_hook(float, _float)
    converter.register_structure_hook(bool, _bool)
    _exact(converter, tuple[str, ...], _str_tuple)
    _exact(converter, tuple[int, ...], _int_tuple)
    _exact(converter, Mapping[str, Any], _mapping)
    _exact(converter, dict[str, Any], _mapping)
    _exact(converter, Mapping[str, str], _str_mapping)
    _exact(converter, Any, lambda v, _: v)
    converter.register_structure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _enum
    )


def register_pipeline_hooks(converter: Converter) -> None:
    """Teach *converter* the pipeline model's file forms: conditions, retries, ``async``, and
    a pipeline's ``source`` (never read from a file)."""
    converter.register_structure_hook(Condition, _condition)
    retry_fn = make_dict_structure_fn(TaskRetry, converter, _cattrs_forbid_extra_keys=True)
    converter.register_structure_hook(TaskRetry, lambda value, _: _retry(value, retry_fn))
    converter.register_structure_hook(
        Pipeline,
        make_dict_structure_fn(Pipeline, converter, _cattrs_forbid_extra_keys=True,
                               source=override(omit=True)),
    )
    converter.register_structure_hook(
        Task,
        make_dict_structure_fn(
            Task, converter, _cattrs_forbid_extra_keys=True, async_=override(rename="async")
        ),
    )


def _exact(converter: Converter, typ: Any, hook: Any) -> None:
    """Register *hook* for exactly the (generic) type *typ*."""
    converter.register_structure_hook_func(lambda t: t == typ, hook)


def _str(value: Any, typ: Any) -> Any:
    if typ is str and type(value) is str:  # the usual case, first
        return value
    if isinstance(typ, type) and issubclass(typ, enum.Enum):  # StrEnum dispatches here
        return _enum(value, typ)
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidValue(f"expected a string, got {describe(value)}")


#: The range of every integer in a file (the integers a JSON number holds exactly).
MAX_INT = 2**53 - 1
#: The largest number (a float: a duration in seconds, a fraction...) in a file: ~31 years.
MAX_NUMBER = 1e9
#: The most retries a task may have, and the largest retry ``backoff``.
MAX_RETRIES = 100
MAX_BACKOFF = 10.0
#: The longest wait between two attempts of a task, in seconds (a day).
MAX_RETRY_DELAY = 86400.0


def _int(value: Any, _: Any) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,30}\s*", value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if not -MAX_INT <= value <= MAX_INT:
            raise InvalidValue(f"expected an integer between {-MAX_INT} and {MAX_INT}, got "
                               f"{_short(value)}")
        return value
    raise InvalidValue(f"expected an integer, got {_short(describe(value))}")


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _float(value: Any, _: Any) -> float:
    return _number(parse_duration(value)) if isinstance(value, str) else _number(value)


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidValue(f"expected a finite number, got {value!r}")
        if value < 0:
            raise InvalidValue(f"expected a number >= 0, got {_short(value)}")
        if value > MAX_NUMBER:
            raise InvalidValue(f"expected a number at most {MAX_NUMBER:.0f} (durations: about "
                               f"31 years in seconds), got {_short(value)}")
        return float(value)
    raise InvalidValue(f"expected a number, got {describe(value)}")


_TRUE = {"true", "yes", "on", "y"}
_FALSE = {"false", "no", "off", "n"}


def _bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise InvalidValue(f"expected true or false (or yes/no), got {describe(value)}")


def _str_tuple(value: Any, _: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple):
        raise InvalidValue(f"expected a list of strings, got {describe(value)}")
    bad = [] if all(type(v) is str for v in value) else \
        [i for i, v in enumerate(value) if not isinstance(v, str)]
    if bad:
        raise InvalidValue(f"expected a list of strings; item {bad[0]} is "
                           f"{describe(value[bad[0]])}")
    return tuple(value)


def _int_tuple(value: Any, _: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    if not isinstance(value, list | tuple):
        raise InvalidValue(f"expected a list of integers, got {describe(value)}")
    return tuple(_int(v, int) for v in value)


def _mapping(value: Any, _: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidValue(f"expected a mapping, got {describe(value)}")
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise InvalidValue(f"keys must be strings, got {bad[0]!r}")
    return dict(value)


def _str_mapping(value: Any, _: Any) -> dict[str, str]:
    return {k: _str(x, str) for k, x in _mapping(value, None).items()}


def _enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    choices = [m.value for m in cls]
    if isinstance(value, str):
        wanted = value.strip().lower()
        for member in cls:
            if member.value == wanted:
                return member
    raise InvalidValue(
        f"expected one of {', '.join(map(str, choices))}, got {describe(value)}"
        + (suggest(value, choices) if isinstance(value, str) else "")
    )


def _condition(value: Any, _: Any) -> Condition:
    simple = [k.value for k in ConditionKind if k is not ConditionKind.STAGE_OUTCOME]
    if isinstance(value, str):
        wanted = value.strip().lower()
        if wanted in simple:
            return Condition(kind=ConditionKind(wanted))
        raise InvalidValue(
            f"expected one of {', '.join(simple)} or {{stage: <id>, outcome: [...]}}, got "
            f"{value!r}" + suggest(value, simple)
        )
    if isinstance(value, Mapping):
        extra = sorted(set(map(str, value)) - {"stage", "outcome"})
        if extra:
            raise InvalidValue(f"unknown key {extra[0]!r} in condition (expected stage, outcome)")
        stage = value.get("stage")
        if not isinstance(stage, str) or not stage:
            raise InvalidValue("a stage condition needs 'stage': the id of a stage")
        raw = value.get("outcome", [StageOutcome.SUCCEEDED.value])
        raw = [raw] if isinstance(raw, str) else raw
        if not isinstance(raw, list) or not raw:
            raise InvalidValue("'outcome' must be one outcome or a list of them")
        outcomes = tuple(_enum(o, StageOutcome) for o in raw)
        return Condition(kind=ConditionKind.STAGE_OUTCOME, stage=stage, outcomes=outcomes)
    raise InvalidValue(f"expected a condition name or mapping, got {describe(value)}")


def _retry(value: Any, structure_fn: Any) -> TaskRetry:
    """``retries: 3`` or a mapping, structured by *structure_fn* (the generated attrs hook)."""
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,30}\s*", value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"count": value}
    if not isinstance(value, Mapping):
        raise InvalidValue(f"expected a retry count or a mapping, got {describe(value)}")
    policy = structure_fn(value, TaskRetry)
    if not 0 <= policy.count <= MAX_RETRIES:
        raise InvalidValue(f"count must be between 0 and {MAX_RETRIES}, got {policy.count}")
    if not 1 <= policy.backoff <= MAX_BACKOFF:
        raise InvalidValue(f"backoff must be between 1 and {MAX_BACKOFF:g}, got "
                           f"{policy.backoff:g}")
    for name in ("delay", "max_delay"):
        if getattr(policy, name) > MAX_RETRY_DELAY:
            raise InvalidValue(f"{name} must be at most {MAX_RETRY_DELAY:.0f} seconds (a day), "
                               f"got {getattr(policy, name):g}")
    if not 0 <= policy.jitter <= 1:
        raise InvalidValue(f"jitter must be between 0 and 1, got {policy.jitter}")
    return policy
