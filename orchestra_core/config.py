"""The one cattrs converter, and structuring that reports problems instead of raising.

:func:`structure` turns raw JSON-like data into attrs objects and collects every problem with
its JSON path. :func:`parameter` declares a job parameter with aliases and help text.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, override

from .errors import ConfigError
from .models import Problem
from .pipeline import Condition, ConditionKind, Pipeline, StageOutcome, Task, TaskRetry
from .scheduling.model import Trigger, structure_trigger, structure_triggers

__all__ = (
    "InvalidValue",
    "converter",
    "field_aliases",
    "file_keys",
    "key_name",
    "parameter",
    "parse_duration",
    "structure",
    "structure_or_raise",
    "suggest",
)

T = TypeVar("T")

#: The converter every Orchestra model is structured with. Unknown keys are rejected.
converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


class InvalidValue(ValueError):
    """Raised by structure hooks; its text is shown to the user as is."""


def parameter(
    *,
    default: Any = attrs.NOTHING,
    aliases: tuple[str, ...] = (),
    help: str = "",
    **kwargs: Any,
) -> Any:
    """An attrs field for a job parameter model, with accepted *aliases* and *help* text.

    ``connectionid = parameter(aliases=("connector_id",), help="The connection id")``
    """
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata["aliases"] = tuple(aliases)
    metadata["help"] = help
    return attrs.field(default=default, metadata=metadata, **kwargs)


def key_name(field: attrs.Attribute) -> str:
    """The key a field is written as in files (``async_`` is written ``async``)."""
    return field.name.rstrip("_")


def file_keys(cls: type) -> list[str]:
    """The keys attrs class *cls* accepts in files, in declaration order."""
    return [key_name(f) for f in attrs.fields(cls) if not f.metadata.get("internal")]


def field_aliases(cls: type) -> dict[str, str]:
    """Map every accepted key of attrs class *cls*, aliases included, to its canonical key."""
    names: dict[str, str] = {}
    for f in attrs.fields(cls):
        canonical = key_name(f)
        names[canonical] = canonical
        for alias in f.metadata.get("aliases", ()):
            names[alias] = canonical
    return names


def suggest(word: str, choices: list[str] | tuple[str, ...], cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` when *word* is close to one of *choices*, else ``""``."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=cutoff)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*d)?\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*"
                       r"(?:(\d+(?:\.\d+)?)\s*m)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$")


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like ``90``, ``"30s"``, ``"5m"``, ``"1h30m"``, ``"2d"``."""
    if isinstance(value, bool):
        raise InvalidValue(f"expected a duration (seconds or e.g. '5m'), got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            match = _DURATION.match(text)
            if not text or match is None or not any(match.groups()):
                raise InvalidValue(
                    f"expected a duration such as 90, '30s', '5m' or '1h30m', got {value!r}"
                ) from None
            d, h, m, s = (float(g) if g else 0.0 for g in match.groups())
            seconds = d * 86400 + h * 3600 + m * 60 + s
    else:
        raise InvalidValue(f"expected a duration (seconds or e.g. '5m'), got {_kind(value)}")
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        raise InvalidValue(f"a duration must be a finite number >= 0, got {value!r}")
    return seconds


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"{value!r}"


def _str(value: Any, typ: Any) -> Any:
    if isinstance(typ, type) and issubclass(typ, enum.Enum):  # StrEnum dispatches here
        return _enum(value, typ)
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidValue(f"expected a string, got {_kind(value)}")


def _int(value: Any, _: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise InvalidValue(f"expected an integer, got {_kind(value)}")


def _float(value: Any, _: Any) -> float:
    return parse_duration(value) if isinstance(value, str) else _number(value)


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidValue(f"expected a finite number, got {value!r}")
        if value < 0:
            raise InvalidValue(f"expected a number >= 0, got {value!r}")
        return float(value)
    raise InvalidValue(f"expected a number, got {_kind(value)}")


_TRUE = {"true", "yes", "on", "y"}
_FALSE = {"false", "no", "off", "n"}


def _bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise InvalidValue(f"expected true or false (or yes/no), got {_kind(value)}")


def _str_tuple(value: Any, _: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple):
        raise InvalidValue(f"expected a list of strings, got {_kind(value)}")
    bad = [i for i, v in enumerate(value) if not isinstance(v, str)]
    if bad:
        raise InvalidValue(f"expected a list of strings; item {bad[0]} is {_kind(value[bad[0]])}")
    return tuple(value)


def _mapping(value: Any, _: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidValue(f"expected a mapping, got {_kind(value)}")
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise InvalidValue(f"keys must be strings, got {bad[0]!r}")
    return dict(value)


def _enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    choices = [m.value for m in cls]
    if isinstance(value, str):
        wanted = value.strip().lower()
        for member in cls:
            if member.value == wanted:
                return member
    raise InvalidValue(
        f"expected one of {', '.join(map(str, choices))}, got {_kind(value)}"
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
    raise InvalidValue(f"expected a condition name or mapping, got {_kind(value)}")


def _retry(value: Any, _: Any) -> TaskRetry:
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"count": value}
    if not isinstance(value, Mapping):
        raise InvalidValue(f"expected a retry count or a mapping, got {_kind(value)}")
    policy = _RETRY_FN[0](value, TaskRetry)
    if policy.count < 0:
        raise InvalidValue(f"count must be >= 0, got {policy.count}")
    if policy.backoff < 1:
        raise InvalidValue(f"backoff must be >= 1, got {policy.backoff}")
    if not 0 <= policy.jitter <= 1:
        raise InvalidValue(f"jitter must be between 0 and 1, got {policy.jitter}")
    return policy


def _exact(typ: Any, hook: Any) -> None:
    """Register *hook* for exactly the (generic) type *typ*."""
    converter.register_structure_hook_func(lambda t: t == typ, hook)


converter.register_structure_hook(str, _str)
converter.register_structure_hook(int, _int)
converter.register_structure_hook(float, _float)
converter.register_structure_hook(bool, _bool)
_exact(tuple[str, ...], _str_tuple)
_exact(Mapping[str, Any], _mapping)
_exact(dict[str, Any], _mapping)
converter.register_structure_hook_func(
    lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _enum
)
converter.register_structure_hook(Condition, _condition)
converter.register_structure_hook_func(lambda t: t is Trigger, structure_trigger)
_exact(tuple[Trigger, ...], structure_triggers)
_RETRY_FN = [make_dict_structure_fn(TaskRetry, converter, _cattrs_forbid_extra_keys=True)]
converter.register_structure_hook(TaskRetry, _retry)
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


def _problems_from(exc: BaseException, path: str, noun: str) -> list[Problem]:
    out: list[Problem] = []

    def walk(err: BaseException, where: str) -> None:
        if isinstance(err, ClassValidationError | IterableValidationError):
            for sub in err.exceptions:
                walk(sub, _child_path(sub, where))
            return
        if isinstance(err, ForbiddenExtraKeysError):
            allowed = file_keys(err.cl) if attrs.has(err.cl) else []
            for extra in sorted(map(str, err.extra_fields)):
                out.append(Problem(
                    path=f"{where}.{extra}" if re.fullmatch(r"[A-Za-z_][\w\-]*", extra)
                    else where,
                    message=f"unknown {noun} {extra!r}" + suggest(extra, allowed)
                    + (f"; accepted: {', '.join(allowed)}" if allowed else ""),
                    code=f"unknown-{noun}",
                ))
            return
        if isinstance(err, KeyError):
            base, _, name = where.rpartition(".")
            out.append(Problem(path=base or where, message=f"missing required {noun} {name!r}",
                               code="missing-required"))
            return
        if isinstance(err, InvalidValue):
            out.append(Problem(path=where, message=str(err), code="invalid-value"))
            return
        if isinstance(err, ValueError | TypeError) and str(err):
            out.append(Problem(path=where, message=_clean(str(err)), code="invalid-value"))
            return
        out.append(Problem(path=where, message=f"invalid value ({type(err).__name__})",
                           code="invalid-value"))

    walk(exc, path)
    return out


def _child_path(err: BaseException, where: str) -> str:
    for note in getattr(err, "__notes__", None) or []:
        if isinstance(note, AttributeValidationNote):
            return f"{where}.{_KEY_NAMES.get(note.name, note.name)}"
        if isinstance(note, IterableValidationNote):
            return f"{where}[{note.index}]"
    return where


#: Attribute names whose key in files differs (``async_`` is written ``async``).
_KEY_NAMES = {"async_": "async"}


def _clean(text: str) -> str:
    return text.replace("__init__() ", "").replace("__init__", "")


def structure(raw: Any, cls: type[T], path: str = "$", *, noun: str = "key") -> tuple[
    T | None, list[Problem]
]:
    """Structure *raw* into *cls*; return ``(obj, [])`` or ``(None, problems)``.

    Never raises for bad input: every problem comes back with its JSON path. *noun* names
    what a field is in messages (``key``, ``parameter``).
    """
    if attrs.has(cls) and not isinstance(raw, Mapping):
        return None, [Problem(path=path, message=f"expected a mapping, got {_kind(raw)}",
                              code="invalid-value")]
    try:
        return converter.structure(raw, cls), []
    except Exception as exc:
        return None, _add_help(_problems_from(exc, path, noun), cls)


def _add_help(problems: list[Problem], cls: type) -> list[Problem]:
    """Append a parameter's help text to "missing required" messages about it."""
    if not attrs.has(cls):
        return problems
    helps = {key_name(f): f.metadata.get("help") for f in attrs.fields(cls)}
    fixed = []
    for p in problems:
        match = re.match(r"missing required \w+ '([^']+)'$", p.message)
        if match and helps.get(match.group(1)):
            p = attrs.evolve(p, message=f"{p.message} ({helps[match.group(1)]})")
        fixed.append(p)
    return fixed


def structure_or_raise(raw: Any, cls: type[T], path: str = "$") -> T:
    """Like :func:`structure`, but raise :class:`ConfigError` listing every problem."""
    obj, problems = structure(raw, cls, path)
    if problems:
        raise ConfigError(problems)
    assert obj is not None
    return obj


def _int_tuple(value: Any, _: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    if not isinstance(value, list | tuple):
        raise InvalidValue(f"expected a list of integers, got {_kind(value)}")
    return tuple(_int(v, int) for v in value)


_exact(tuple[int, ...], _int_tuple)
_exact(Mapping[str, str], lambda v, _: {
    k: _str(x, str) for k, x in _mapping(v, None).items()})
_exact(Any, lambda v, _: v)
