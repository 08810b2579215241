"""Reading pipeline files: YAML or JSON text into a raw document plus a map of line numbers.

Syntax errors become :class:`~orchestra_core.Problem` objects with line and column.
Files in Orchestra's published format (``version: v1`` with a ``pipeline:`` mapping of task
groups) are translated into the canonical form here, with their paths remembered so problems
still point into the original file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from attrs import define, field

from . import _document_limits as _limits
from ._gc_paused import paused_gc
from ._models import Problem
from ._orchestra_v1 import from_orchestra_v1, is_orchestra_v1
from ._triggers._formats import seed_schedule
from ._values import key_path

__all__ = ("Document", "key_path", "parse_document", "read_document")


@define
class Document:
    """A parsed pipeline file: the raw data, where it came from and where each value sits."""

    data: Any
    source: str | None = None
    lines: dict[str, tuple[int, int]] = field(factory=dict)
    problems: list[Problem] = field(factory=list)
    #: canonical path prefix -> path in the original file (for translated formats)
    renames: dict[str, str] = field(factory=dict)

    def original_path(self, path: str) -> str:
        """The path in the file as written, for a path into the canonical document."""
        best = ""
        for prefix in self.renames:
            if (path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "[")) \
                    and len(prefix) > len(best):
                best = prefix
        return self.renames[best] + path[len(best):] if best else path

    def locate(self, problem: Problem) -> Problem:
        """*problem* with its path made original and its file, line and column filled in."""
        path = self.original_path(problem.path)
        line = col = None
        probe = path
        while probe:
            if probe in self.lines:
                line, col = self.lines[probe]
                break
            probe = _parent(probe)
        return Problem(
            path=path,
            message=problem.message,
            file=problem.file or self.source,
            line=problem.line if problem.line is not None else line,
            column=problem.column if problem.column is not None else col,
            code=problem.code,
        )


def _parent(path: str) -> str:
    if path == "$":
        return ""
    cut = max(path.rfind("["), path.rfind("."))
    return path[:cut] if cut > 0 else ""


def read_document(path: str | Path) -> Document:
    """Read and parse the pipeline file at *path*; problems are kept, never raised."""
    source = str(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_limits.MAX_BYTES + 1)
    except FileNotFoundError:
        return Document(None, source, problems=[
            Problem(path="$", message="file not found", file=source, code="file-not-found")
        ])
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Document(None, source, problems=[
            Problem(path="$", message=f"cannot read file: {reason}", file=source,
                    code="unreadable")
        ])
    text, problem = _limits.decode(raw, source)
    if text is None:
        return Document(None, source, problems=[problem] if problem else [])
    fmt = "json" if source.lower().endswith(".json") else "yaml"
    return parse_document(text, source=source, fmt=fmt)


def parse_document(text: str, *, source: str | None = None, fmt: str = "yaml") -> Document:
    """Parse *text* (``fmt`` is ``"yaml"`` or ``"json"``) into a :class:`Document`."""
    with paused_gc():  # a large file is many small objects that all stay alive
        return _parse_document(text, source, fmt)


def _parse_document(text: str, source: str | None, fmt: str) -> Document:
    doc = Document(None, source)
    _parse_into(doc, text, fmt)
    doc.lines.setdefault("$", (1, 1))  # a problem of the whole file is at its start
    doc.problems[:] = [doc.locate(p) for p in doc.problems]
    if not doc.problems and isinstance(doc.data, Mapping) and is_orchestra_v1(doc.data):
        doc.data = from_orchestra_v1(doc.data, doc.renames)
    if not doc.problems and isinstance(doc.data, Mapping):
        doc.data = seed_schedule(doc.data, doc.renames)  # flat frequency/start_time keys
    return doc


def _parse_into(doc: Document, text: str, fmt: str) -> None:
    """Check *text* against the limits, parse it into *doc*, check its strings."""
    scan = fmt == "json" or _limits.yaml_scan_needed(text)
    limit = _limits.too_large(text, doc.source) or (
        None if not scan else
        _limits.json_problem(text, doc.source) if fmt == "json" else
        _limits.yaml_problem(text, doc.source))
    if limit is not None:
        doc.problems.append(limit)
        return
    if fmt == "json":
        _parse_json(text, doc)
    elif scan:
        _parse_yaml(text, doc)
    else:
        _parse_yaml_watched(text, doc)
    if not doc.problems and _limits.strings_may_be_bad(text):
        doc.problems.extend(_limits.string_problems(doc.data))


def _parse_yaml_watched(text: str, doc: Document) -> None:
    """:func:`_parse_yaml` for a text that :func:`_document_limits.yaml_scan_needed` found
    free of aliases and long numbers, without scanning it for the limits first: the loader
    stops when the nesting gets too deep. When that happens, or the text does not parse
    cleanly, the scan runs after all, so the problem reported is the one it would have
    reported first."""
    attempt: Document | None = Document(None, doc.source)
    try:
        _parse_yaml(text, attempt, max_depth=_limits.MAX_DEPTH)
    except _TooDeep:
        attempt = None
    if attempt is None or attempt.problems:
        limit = _limits.yaml_problem(text, doc.source)
        if limit is not None:
            doc.problems.append(limit)
            return
    if attempt is None:  # deep, but within the limits
        _parse_yaml(text, doc)
        return
    doc.data, doc.lines = attempt.data, attempt.lines
    doc.problems.extend(attempt.problems)


def _parse_json(text: str, doc: Document) -> None:
    duplicates: list[Problem] = []
    try:
        doc.data = json.loads(text, object_pairs_hook=_json_pairs(duplicates))
    except json.JSONDecodeError as exc:
        doc.problems.append(Problem(path="$", message=f"invalid JSON: {exc.msg}",
                                    file=doc.source, line=exc.lineno, column=exc.colno,
                                    code="syntax"))
        return
    except (RecursionError, ValueError) as exc:  # within the limits checked before: unlikely
        doc.problems.append(Problem(path="$", message=f"invalid JSON: {exc}",
                                    file=doc.source, code="syntax"))
        return
    located: list[Problem] = []
    node = None
    for loader in dict.fromkeys((_FastLoader, yaml.SafeLoader)):  # libyaml refuses "\ud800"
        try:  # JSON is YAML: its node tree gives every value's line (and duplicates' places)
            node = yaml.compose(text, Loader=loader)
            break
        except (yaml.YAMLError, RecursionError):
            continue
    if node is not None:
        _walk(node, "$", doc.lines, located)
    if duplicates:
        doc.problems.extend(doc.locate(p) for p in (located or duplicates))


def _parse_yaml(text: str, doc: Document, max_depth: int | None = None) -> None:
    """Parse YAML *text* into *doc*; with *max_depth* (for a text without aliases), raise
    :class:`_TooDeep` as soon as a node sits deeper than that (counting the node itself; the
    document is 1 deep), and build the data and line map in one pass (:func:`_build`)."""
    try:
        loader = _Loader(text)
        loader.max_depth = max_depth
        try:
            node = loader.get_single_node()
            if node is not None and not (max_depth and _built(loader, node, doc)):
                _walk(node, "$", doc.lines, doc.problems)
                doc.data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        exc = _python_error(text) or exc  # PyYAML's own words are clearer than libyaml's
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "syntax error"
        doc.problems.append(Problem(
            path="$", message=f"invalid YAML: {message}", file=doc.source,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None, code="syntax"))
        return
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, ...)
        before = text.encode("utf-8", "surrogatepass")[:exc.position] if _C else \
            text[:exc.position].encode("utf-8", "surrogatepass")  # libyaml counts bytes
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1:].decode("utf-8", "replace")) + 1
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        doc.problems.append(Problem(
            path="$", message=f"invalid YAML: the character {char!r} is not allowed",
            file=doc.source, line=line, column=column, code="syntax"))
        return
    except (yaml.YAMLError, RecursionError, TypeError, ValueError) as exc:
        doc.problems.append(Problem(path="$", message=f"invalid YAML: {exc}",
                                    file=doc.source, code="syntax"))
        return
    doc.problems[:] = [doc.locate(p) for p in doc.problems]


def _python_error(text: str) -> yaml.MarkedYAMLError | None:
    """The syntax error the pure-Python parser reports in *text* (within the limits)."""
    if not _C:
        return None
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        return exc
    except (yaml.YAMLError, RecursionError):
        return None
    return None


_C = hasattr(yaml, "CSafeLoader")  # libyaml: fast, and no recursion in its parser
_FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _TooDeep(Exception):
    """The document nests deeper than the ``max_depth`` of its :class:`_Loader`."""


class _Loader(_FastLoader):  # type: ignore[misc, valid-type]
    """The safe loader, with timestamps left as strings (they are parsed where needed).

    It also counts how deep the node being composed sits (the composer tells the resolver as
    it descends and ascends) and raises :class:`_TooDeep` past ``max_depth``; and it resolves
    each distinct plain scalar once (``noop``, ``depends_on``... recur in every task).
    """

    max_depth: int | None = None
    _depth = 0

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._plain_tags: dict[str, str] = {}

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        self._depth += 1
        if self.max_depth is not None and self._depth > self.max_depth:
            raise _TooDeep
        if self.yaml_path_resolvers:
            super().descend_resolver(current_node, current_index)

    def ascend_resolver(self) -> None:
        self._depth -= 1
        if self.yaml_path_resolvers:
            super().ascend_resolver()

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not yaml.ScalarNode or not implicit[0] or self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)
        tag = self._plain_tags.get(value)
        if tag is None:  # a plain scalar's tag depends on its text alone
            tag = self._plain_tags[value] = super().resolve(kind, value, implicit)
        return tag


_Loader.yaml_constructors = dict(yaml.SafeLoader.yaml_constructors)
_Loader.yaml_constructors["tag:yaml.org,2002:timestamp"] = \
    yaml.SafeLoader.yaml_constructors["tag:yaml.org,2002:str"]


def _json_pairs(problems: list[Problem]) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                problems.append(Problem(path="$", message=f"duplicate key {key!r}",
                                        code="duplicate-key"))
            out[key] = value
        return out

    return hook


_STR, _MAP, _SEQ, _MERGE = (f"tag:yaml.org,2002:{t}" for t in ("str", "map", "seq", "merge"))


class _Unusual(Exception):
    """A node :func:`_build` leaves to PyYAML's constructor."""


def _built(loader: _Loader, node: yaml.Node, doc: Document) -> bool:
    """Build *doc*'s data and line map from the node tree of a document without aliases in
    one pass (:func:`_build`); ``False``, leaving *doc* untouched, when the document holds
    something only PyYAML's constructor builds as it should (merge keys, tagged collections,
    complex keys) or fails to build: :func:`_walk` and the constructor then do it."""
    lines: dict[str, tuple[int, int]] = {}
    problems: list[Problem] = []
    try:
        data = _build(node, "$", lines, problems, loader.construct_object)
    except Exception:  # rebuilt the usual way, which reports what failed
        loader.constructed_objects, loader.recursive_objects = {}, {}
        return False
    doc.data = data
    doc.lines.update(lines)
    doc.problems.extend(problems)
    return True


def _build(node: yaml.Node, path: str, lines: dict[str, tuple[int, int]],
           problems: list[Problem], construct: Any) -> Any:
    """What ``construct_document`` makes of *node* (a node of a document without aliases),
    recording what :func:`_walk` records on the way: each path's line and column, duplicate
    keys. Plain collections and strings are built here; other scalars by *construct*; the
    rest raises :class:`_Unusual`."""
    mark = node.start_mark
    lines.setdefault(path, (mark.line + 1, mark.column + 1))
    kind = type(node)
    if kind is yaml.ScalarNode:
        return node.value if node.tag == _STR else construct(node)
    if kind is yaml.MappingNode and node.tag == _MAP:
        out: dict[Any, Any] = {}
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if type(key_node) is not yaml.ScalarNode or key_node.tag == _MERGE:
                raise _Unusual
            key = key_node.value
            if key in seen:
                problems.append(Problem(path=key_path(path, key),
                                        message=f"duplicate key {key!r}", code="duplicate-key",
                                        line=key_node.start_mark.line + 1,
                                        column=key_node.start_mark.column + 1))
            seen.add(key)
            value = _build(value_node, key_path(path, key), lines, problems, construct)
            out[key if key_node.tag == _STR else construct(key_node)] = value
        return out
    if kind is yaml.SequenceNode and node.tag == _SEQ:
        return [_build(item, f"{path}[{i}]", lines, problems, construct)
                for i, item in enumerate(node.value)]
    raise _Unusual


def _walk(node: yaml.Node, path: str, lines: dict[str, tuple[int, int]],
          problems: list[Problem] | None, depth: int = 0) -> None:
    if depth > 200:
        return
    lines.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                continue
            if key in seen and problems is not None:
                problems.append(Problem(path=key_path(path, key),
                                        message=f"duplicate key {key!r}", code="duplicate-key",
                                        line=key_node.start_mark.line + 1,
                                        column=key_node.start_mark.column + 1))
            seen.add(key)
            child = key_path(path, key)
            lines.setdefault(child, (value_node.start_mark.line + 1,
                                     value_node.start_mark.column + 1))
            _walk(value_node, child, lines, problems, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, f"{path}[{i}]", lines, problems, depth + 1)
