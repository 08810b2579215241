"""``orchestra plugins --check``: which installed plugins declare a core range (their
``Requires-Dist: orchestra-core ...`` metadata) that excludes the installed core.

Read from the distributions' metadata, without importing the plugins, so a plugin that no
longer loads is still reported. Version specifiers are compared numerically (``>=``, ``>``,
``<=``, ``<``, ``==`` with an optional ``.*``, ``!=``, ``~=``); pre-release tags are ignored.
"""

from __future__ import annotations

import importlib.metadata as md
import re
from collections.abc import Iterator

from attrs import frozen

__all__ = ("CoreRange", "check_plugins", "satisfies")

_REQUIREMENT = re.compile(r"^\s*orchestra[-_.]core\s*(\[[^\]]*\])?\s*\(?([^;)]*)\)?\s*(;.*)?$",
                          re.IGNORECASE)
_CLAUSE = re.compile(r"^\s*(~=|===|==|!=|<=|>=|<|>)\s*([0-9][0-9A-Za-z.*+!-]*)\s*$")


@frozen
class CoreRange:
    """One installed plugin distribution and the core versions it declares it works with."""

    distribution: str
    version: str
    entry_points: tuple[str, ...]
    requirement: str | None
    compatible: bool


def _release(version: str) -> tuple[int, ...]:
    match = re.match(r"^\s*v?(\d+(?:\.\d+)*)", version)
    return tuple(int(p) for p in match.group(1).split(".")) if match else (0,)


def _pad(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)), b + (0,) * (width - len(b))


def _clause(op: str, wanted: str, have: tuple[int, ...]) -> bool:
    if wanted.endswith(".*") and op in ("==", "!="):
        prefix = _release(wanted[:-2])
        equal = have[:len(prefix)] + (0,) * max(0, len(prefix) - len(have)) == prefix
        return equal if op == "==" else not equal
    mine, theirs = _pad(have, _release(wanted))
    if op == "~=":
        head = _release(wanted)[:-1] or _release(wanted)
        return mine >= theirs and have[:len(head)] + (0,) * (len(head) - len(have)) == head
    return {"==": mine == theirs, "===": mine == theirs, "!=": mine != theirs,
            "<=": mine <= theirs, ">=": mine >= theirs, "<": mine < theirs,
            ">": mine > theirs}[op]


def satisfies(specifier: str, version: str) -> bool:
    """Whether *version* is in *specifier* (``">=0.1,<0.2"``; empty: any version)."""
    have = _release(version)
    for part in filter(None, (p.strip() for p in specifier.split(","))):
        match = _CLAUSE.match(part)
        if match is None or not _clause(match.group(1), match.group(2), have):
            return False
    return True


def _core_requirement(dist: md.Distribution) -> str | None:
    for line in dist.requires or ():
        match = _REQUIREMENT.match(line)
        if match and "extra" not in (match.group(3) or ""):
            return (match.group(2) or "").strip()
    return None


def check_plugins(core_version: str, group: str = "orchestra") -> Iterator[CoreRange]:
    """Every distribution providing an ``orchestra`` entry point, with its core range and
    whether *core_version* is in it (a plugin declaring no range is compatible)."""
    by_dist: dict[str, tuple[md.Distribution, list[str]]] = {}
    for ep in md.entry_points(group=group):
        dist = ep.dist
        if dist is None:
            continue
        name = dist.metadata["Name"]
        by_dist.setdefault(name, (dist, []))[1].append(ep.name)
    for name in sorted(by_dist):
        dist, names = by_dist[name]
        wanted = _core_requirement(dist)
        yield CoreRange(name, dist.version, tuple(sorted(names)), wanted,
                        wanted is None or satisfies(wanted, core_version))
