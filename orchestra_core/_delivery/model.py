"""The parameters of an orchestration task (``integration: orchestration``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import frozen

from .._config import parameter
from .source_spec import SourceSpec

__all__ = ("InlineDestination", "OrchestrationParameters")


@frozen(kw_only=True)
class InlineDestination:
    """A destination written in the pipeline file instead of a stored one."""

    type: str = parameter(help="filedrop, http, sql, or a plugin's type")
    options: Mapping[str, Any] = parameter(factory=dict, help="the type's options")
    credential: str | None = parameter(default=None, help="a stored credential")
    concurrency: int = parameter(default=1, help="deliveries at once to this destination")


@frozen(kw_only=True)
class OrchestrationParameters:
    """Parameters of ``orchestration_run``: source + data template + destination."""

    source: SourceSpec = parameter(help="a query or a database export")
    destination: Any = parameter(
        help="the name of a stored destination, or {type, options, credential}")
    template: Any = parameter(
        default=None, aliases=("data_template",),
        help="the name of a stored data template, or its settings (default: CSV)")
    name: str | None = parameter(default=None, help="the orchestration's name (default: the "
                                 "task id); {name} in file names")
