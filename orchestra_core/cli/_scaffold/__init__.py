"""Templates of ``orchestra plugin new`` (package data: ``*.tmpl`` files rendered with
:class:`string.Template`) and the function that renders them.

``common/`` holds what every kind of plugin has; ``integration/``, ``destination/`` and
``channel/`` what one kind adds. A template's path is its path in the new package, with
``module`` standing for the package's import name and ``.tmpl`` dropped.
"""

from __future__ import annotations

import re
import string
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ("KINDS", "plugin_names", "render")

#: the kinds of plugin ``plugin new`` makes, and what each registers
KINDS = {
    "integration": "an integration with a job, a connection spec and a vendor simulator",
    "destination": "a destination type (where orchestrations deliver rows)",
    "channel": "a notification channel type (where alerts are sent)",
}

_NAME = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


def plugin_names(name: str, core_version: str) -> dict[str, str] | None:
    """The names the templates use for plugin *name* (``acme``, ``acme-jobs``, or with an
    ``orchestra-`` prefix), or ``None`` when *name* cannot be one."""
    key = name.strip().lower().replace("-", "_")
    key = key.removeprefix("orchestra_")
    if not _NAME.fullmatch(key):
        return None
    major, minor = (int(p) for p in [*core_version.split("."), "0"][:2])
    words = key.split("_")
    return {
        "name": key,
        "dist": "orchestra-" + key.replace("_", "-"),
        "module": "orchestra_" + key,
        "module_suffix": key,
        "cls": "".join(w.capitalize() for w in words),
        "title": " ".join(w.capitalize() for w in words),
        "env": key.upper(),
        "job": f"{key}_run",
        "core_min": f"{major}.{minor}",
        "core_next": f"{major}.{minor + 1}" if major == 0 else f"{major + 1}",
    }


def _templates(kind: str) -> list[tuple[str, Any]]:
    root = resources.files(__name__)
    found: list[tuple[str, Any]] = []

    def walk(node: Any, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith(".tmpl"):
                found.append((prefix + child.name.removesuffix(".tmpl"), child))

    walk(root / "common", "")
    walk(root / kind, "")
    return found


def render(kind: str, names: dict[str, str], target: Path, description: str) -> list[Path]:
    """Write the plugin of *kind* into the new directory *target*; return the files made."""
    values = {**names, "description": description}
    written = []
    for relative, source in _templates(kind):
        parts = [values["module"] if p == "module" else p for p in relative.split("/")]
        path = target.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(string.Template(source.read_text(encoding="utf-8"))
                        .substitute(values), encoding="utf-8")
        written.append(path)
    return written
