"""Bounds on what reading one pipeline file may cost, checked before the file is parsed.

A pipeline file is small; a hostile or broken one must not make validation slow, hungry or
crash. Every check here is one linear pass without recursion and reports the first problem
with its line and column:

- the file holds at most :data:`MAX_BYTES` bytes and is UTF-8 text (:func:`decode`);
- YAML: collections nest at most :data:`MAX_DEPTH` deep and aliases expand to at most
  :data:`MAX_ALIAS_NODES` nodes in all (a "billion laughs" file is refused), no number is
  written with more than :data:`MAX_DIGITS` digits (:func:`yaml_problem`);
- JSON: the same depth and digit limits (:func:`json_problem`);
- every string and key of the parsed data can be stored: no NUL character, no lone UTF-16
  surrogate such as ``"\\ud800"`` (:func:`string_problems`).

Most files cannot break some of these limits, which a look at their text shows:
:func:`yaml_scan_needed` says when a YAML text could hold an alias or a long number (else only
its depth needs watching, which the loader does while it builds the document), and
:func:`strings_may_be_bad` when a parsed string could hold a NUL or a lone surrogate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from ._models import Problem
from ._text import bad_text
from ._values import key_path

__all__ = ("MAX_ALIAS_NODES", "MAX_BYTES", "MAX_DEPTH", "MAX_DIGITS", "bad_text", "decode",
           "json_problem", "string_problems", "strings_may_be_bad", "too_large", "yaml_problem",
           "yaml_scan_needed")

#: The largest pipeline file read, in bytes (8 MiB: a 10,000-task file fits).
MAX_BYTES = 8 * 1024 * 1024
#: The deepest nesting of mappings and lists.
MAX_DEPTH = 64
#: The most nodes that YAML aliases (``*name``, ``<<: *name``) may expand to in one file.
MAX_ALIAS_NODES = 100_000
#: The most digits a number may be written with.
MAX_DIGITS = 100


def _problem(message: str, code: str, source: str | None, line: int | None = None,
             column: int | None = None, path: str = "$") -> Problem:
    return Problem(path=path, message=message, file=source, line=line, column=column, code=code)


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def decode(data: bytes, source: str | None) -> tuple[str | None, Problem | None]:
    """*data* as text, or the located problem: too large, or not UTF-8."""
    if len(data) > MAX_BYTES:
        return None, _problem(f"the file is too large ({len(data)} bytes; a pipeline file "
                              f"holds at most {MAX_BYTES} bytes)", "too-large", source, 1, 1)
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1:].decode("utf-8", "replace")) + 1
        return None, _problem(f"the file is not UTF-8 text: byte 0x{data[exc.start]:02x} "
                              "cannot be decoded", "unreadable", source, line, column)


def too_large(text: str, source: str | None) -> Problem | None:
    """The problem when *text* is longer than a pipeline file may be."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        return _problem(f"the document is too large ({size} bytes; a pipeline file holds at "
                        f"most {MAX_BYTES} bytes)", "too-large", source, 1, 1)
    return None


_LONG_NUMBER = re.compile(r"[-+]?(?:0[xob])?[0-9_.]*[0-9][0-9_.eE+\-]*")


def _digits(value: str) -> int:
    return sum(c.isdigit() for c in value)


#: A run of characters a number longer than :data:`MAX_DIGITS` digits is written with.
_NUMBER_RUN = re.compile(rf"[0-9_.eE+\-xob]{{{MAX_DIGITS + 1}}}")


def yaml_scan_needed(text: str) -> bool:
    """Whether YAML *text* could break the alias or the digit limit of :func:`yaml_problem`.

    When not, :func:`yaml_problem` could only find it nested too deeply: a caller that watches
    the depth while composing the document (and calls :func:`yaml_problem` when that fails)
    may leave the scan out. An alias is written with ``*``; a number breaking the digit limit
    is a plain scalar of more than :data:`MAX_DIGITS` characters, each a digit or one of
    ``_.eE+-xob``, so the text holds such a run.
    """
    return "*" in text or _NUMBER_RUN.search(text) is not None


def strings_may_be_bad(text: str) -> bool:
    """Whether a string or key parsed from YAML or JSON *text* could hold what
    :func:`string_problems` looks for: only an escape (a backslash) or the text itself can put
    a NUL or a lone surrogate in one."""
    if "\\" in text or "\x00" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def yaml_problem(text: str, source: str | None) -> Problem | None:
    """The first limit *text* (YAML) breaks, located; ``None`` when within every limit.

    Syntax errors are left to the parser that follows (they are reported there).
    """
    depth = 0
    sizes: list[int] = []  # node count of each open collection
    anchors: dict[str, int] = {}
    open_anchors: list[str | None] = []
    expanded = 0
    try:
        for ev in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            mark = ev.start_mark
            if isinstance(ev, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return _problem(f"nested too deeply (more than {MAX_DEPTH} levels of "
                                    "mappings and lists)", "too-deep", source,
                                    mark.line + 1, mark.column + 1)
                sizes.append(1)
                open_anchors.append(ev.anchor)
            elif isinstance(ev, yaml.CollectionEndEvent):
                depth -= 1
                size = sizes.pop()
                anchor = open_anchors.pop()
                if anchor is not None:
                    anchors[anchor] = size
                if sizes:
                    sizes[-1] += size
            elif isinstance(ev, yaml.ScalarEvent | yaml.AliasEvent):
                size = 1
                if isinstance(ev, yaml.AliasEvent):
                    size = anchors.get(ev.anchor or "", 1)
                    expanded += size
                    if expanded > MAX_ALIAS_NODES:
                        return _problem(f"aliases expand to too many values (more than "
                                        f"{MAX_ALIAS_NODES} in this file)", "too-large",
                                        source, mark.line + 1, mark.column + 1)
                elif ev.implicit[0] and _digits(ev.value) > MAX_DIGITS \
                        and _LONG_NUMBER.fullmatch(ev.value):
                    return _problem(f"number too long ({_digits(ev.value)} digits; at most "
                                    f"{MAX_DIGITS})", "invalid-value", source,
                                    mark.line + 1, mark.column + 1)
                elif ev.anchor is not None:
                    anchors[ev.anchor] = 1
                if sizes:
                    sizes[-1] += size
    except yaml.YAMLError:
        return None
    return None


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[{]|[\]}]|-?[0-9][0-9.eE+\-]*', re.S)


def json_problem(text: str, source: str | None) -> Problem | None:
    """The first depth or digit limit *text* (JSON) breaks, located; else ``None``."""
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        first = token[0]
        if first in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return _problem(f"nested too deeply (more than {MAX_DEPTH} levels of objects "
                                "and arrays)", "too-deep", source, *_line_col(text, match.start()))
        elif first in "]}":
            depth -= 1
        elif first != '"' and _digits(token) > MAX_DIGITS:
            return _problem(f"number too long ({_digits(token)} digits; at most {MAX_DIGITS})",
                            "invalid-value", source, *_line_col(text, match.start()))
    return None


def string_problems(data: Any) -> list[Problem]:
    """A problem (path only) for every key or string in *data* that cannot be stored."""
    out: list[Problem] = []
    stack: list[tuple[str, Any]] = [("$", data)]
    seen: set[int] = set()
    while stack and len(out) < 20:
        path, value = stack.pop()
        if isinstance(value, str):
            bad = bad_text(value)
            if bad:
                out.append(Problem(path=path, message=f"the string {bad}", code="invalid-value"))
        elif isinstance(value, Mapping | list) and id(value) not in seen:
            seen.add(id(value))  # aliases share objects: visit each once
            if isinstance(value, list):
                stack.extend((f"{path}[{i}]", v) for i, v in enumerate(value))
                continue
            for key, item in value.items():
                bad = bad_text(key) if isinstance(key, str) else None
                if bad:
                    out.append(Problem(path=path, message=f"the key {key!r} {bad}",
                                       code="invalid-value"))
                    continue
                stack.append((key_path(path, key), item))
    return sorted(out, key=lambda p: p.path)
