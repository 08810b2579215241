"""Converters, and structuring that reports problems instead of raising.

:func:`make_converter` builds a cattrs converter that reads every Orchestra model from pipeline
files; each :class:`~orchestra_core.Orchestra` host owns one (``host.converter``), so two hosts
never share structuring state. :func:`structure` turns raw JSON-like data into attrs objects and
collects every problem with its JSON path. :func:`parameter` declares a job parameter with
aliases and help text; :func:`unreadable_fields` finds the fields of a parameter class a
converter cannot read (the host refuses such a plugin when it starts).

Code without a host (a stored definition read back, a plugin's unit test) may leave out
``converter=``: a private converter built on first use serves it, and is never handed out.
"""

from __future__ import annotations

import functools
import re
import typing
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
    StructureHandlerNotFoundError,
)

from ._hooks import register_pipeline_hooks, register_value_hooks
from ._values import InvalidValue, describe, parse_duration, suggest
from .errors import ConfigError
from .models import Problem
from .scheduling._parse import register_trigger_hooks

__all__ = (
    "InvalidValue",
    "field_aliases",
    "file_keys",
    "key_name",
    "make_converter",
    "parameter",
    "parse_duration",
    "structure",
    "structure_or_raise",
    "suggest",
    "unreadable_fields",
)

T = TypeVar("T")


def make_converter() -> cattrs.Converter:
    """A new converter that reads every Orchestra model (and plugins' parameter and option
    classes) from pipeline files: unknown keys are rejected, values read as
    :mod:`orchestra_core._hooks` describes."""
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    register_value_hooks(converter)
    register_trigger_hooks(converter)
    register_pipeline_hooks(converter)
    return converter


@functools.cache
def _private_converter() -> cattrs.Converter:
    """The converter of code that has no host; private, so nothing can add hooks to it."""
    return make_converter()


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


def structure(raw: Any, cls: type[T], path: str = "$", *, noun: str = "key",
              converter: cattrs.Converter | None = None) -> tuple[T | None, list[Problem]]:
    """Structure *raw* into *cls* with *converter*; return ``(obj, [])`` or ``(None, problems)``.

    Never raises for bad input: every problem comes back with its JSON path. *noun* names
    what a field is in messages (``key``, ``parameter``). Pass the host's converter
    (``host.converter``) where there is a host.
    """
    if attrs.has(cls) and not isinstance(raw, Mapping):
        return None, [Problem(path=path, message=f"expected a mapping, got {describe(raw)}",
                              code="invalid-value")]
    try:
        used = converter if converter is not None else _private_converter()
        return used.structure(raw, cls), []
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


def structure_or_raise(raw: Any, cls: type[T], path: str = "$", *,
                       converter: cattrs.Converter | None = None) -> T:
    """Like :func:`structure`, but raise :class:`ConfigError` listing every problem."""
    obj, problems = structure(raw, cls, path, converter=converter)
    if problems:
        raise ConfigError(problems)
    assert obj is not None
    return obj


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


# -- checking parameter classes ------------------------------------------------------------------


def unreadable_fields(cls: type, converter: cattrs.Converter) -> list[tuple[str, str]]:
    """The fields of attrs class *cls* that *converter* cannot structure, as ``(field name,
    reason)`` pairs (a field of type :class:`uuid.UUID`, say, or of a type nested in it, e.g.
    ``list[uuid.UUID]``). Empty when every field can be read from a file."""
    try:
        attrs.resolve_types(cls)
    except Exception as exc:
        return [("", f"its annotations cannot be resolved: {type(exc).__name__}: {exc}")]
    out = []
    for f in attrs.fields(cls):
        if f.type is None or f.metadata.get("internal"):
            continue
        bad = _unreadable(converter, f.type, set())
        if bad is not None:
            out.append((f.name, f"its type {_type_name(f.type)} has no structure hook"
                        + (f" (for {_type_name(bad)})" if bad != f.type else "")))
    return out


def _unreadable(converter: cattrs.Converter, typ: Any, seen: set[int]) -> Any:
    """The part of *typ* (itself, a type argument, a nested attrs field's type) that
    *converter* has no structure hook for, or ``None``."""
    if id(typ) in seen:
        return None
    seen.add(id(typ))
    try:
        converter.get_structure_hook(typ)
    except StructureHandlerNotFoundError as exc:
        return exc.type_ or typ
    except Exception:  # a hook factory failed: the type cannot be read either
        return typ
    origin = typing.get_origin(typ)
    if origin is typing.Literal:
        return None
    args = typing.get_args(typ)[:1] if origin is typing.Annotated else typing.get_args(typ)
    # hooks for unions and variadic tuples look their members up only when called
    for arg in args:
        if arg is not type(None) and (isinstance(arg, type) or typing.get_origin(arg)):
            bad = _unreadable(converter, arg, seen)
            if bad is not None:
                return bad
    if isinstance(typ, type) and attrs.has(typ):
        for f in attrs.fields(attrs.resolve_types(typ)):
            bad = _unreadable(converter, f.type, seen) if f.type is not None else None
            if bad is not None:
                return bad
    return None


def _type_name(typ: Any) -> str:
    if isinstance(typ, type) and typing.get_origin(typ) is None:
        return typ.__qualname__ if typ.__module__ == "builtins" else \
            f"{typ.__module__}.{typ.__qualname__}"
    return repr(typ).replace("typing.", "")
