"""Run values (``run.date``, ``run.scheduled_at``, ``run.id``) for queries and file names,
and ``${env.NAME}`` in destination options.

Run values reach a query only as bound parameters: a source's ``parameters`` maps a bind
name to a run value (``{since: run.date}``) or a constant value, and the query says
``:since``. File-name patterns format them: ``orders_{run.date:%Y%m%d}.csv.gz``.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from attrs import frozen

from .._errors import TaskFailed

__all__ = ("RunValues", "render_name", "substitute_env")

_RUN_VALUE = re.compile(r"^run\.(date|scheduled_at|id)$")
_ENV = re.compile(r"\$\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}")


@frozen(kw_only=True)
class RunValues:
    """The values of one delivery's run, stable across a crash and resume.

    :param id: the pipeline run's id.
    :param scheduled_at: when the run was created (its scheduled time), in UTC.
    """

    id: str
    scheduled_at: datetime

    @property
    def date(self) -> date:
        """The UTC date of :attr:`scheduled_at`."""
        return self.scheduled_at.astimezone(UTC).date()

    def value(self, name: str) -> Any:
        """``date``, ``scheduled_at`` or ``id``."""
        return {"date": self.date, "scheduled_at": self.scheduled_at, "id": self.id}[name]

    def bind(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """*parameters* with each ``run.X`` value replaced by the run's value."""
        out: dict[str, Any] = {}
        for key, value in parameters.items():
            match = _RUN_VALUE.match(value) if isinstance(value, str) else None
            out[key] = self.value(match.group(1)) if match else value
        return out


class _RunNamespace:
    def __init__(self, run: RunValues) -> None:
        self.date = run.date
        self.scheduled_at = run.scheduled_at
        self.id = run.id


def render_name(pattern: str, run: RunValues, **values: Any) -> str:
    """*pattern* formatted with ``run`` (``{run.date:%Y%m%d}``) and *values*
    (``{name}``, ``{part}``, ``{table}``, ``{ext}``).

    :raises TaskFailed: a field the pattern names does not exist.
    """
    try:
        name = string.Formatter().vformat(pattern, (), {"run": _RunNamespace(run), **values})
    except (KeyError, AttributeError, ValueError, IndexError) as exc:
        raise TaskFailed(f"file name pattern {pattern!r}: {exc!r} (use {{run.date:%Y%m%d}}, "
                         f"{{run.scheduled_at}}, {{run.id}}, "
                         + ", ".join(f"{{{k}}}" for k in values) + ")",
                         retryable=False) from exc
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        raise TaskFailed(f"file name pattern {pattern!r} gives {name!r}, not a file name",
                         retryable=False)
    return name


def substitute_env(value: Any, env: Mapping[str, str] | None, where: str) -> Any:
    """*value* with ``${env.NAME}`` replaced from *env* (default ``os.environ``), in every
    string of it.

    :raises TaskFailed: a variable is not set.
    """
    environ = os.environ if env is None else env
    if isinstance(value, str):
        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in environ:
                raise TaskFailed(f"{where}: environment variable {name} is not set",
                                 retryable=False)
            return environ[name]
        return _ENV.sub(one, value) if "${" in value else value
    if isinstance(value, Mapping):
        return {k: substitute_env(v, env, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [substitute_env(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    return value
