"""Pipelines to and from plain JSON (stored with every run, so a resume needs no file)."""

from __future__ import annotations

from typing import Any

import attrs
import cattrs

from .config import converter
from .pipeline import Condition, Pipeline
from .scheduling.model import trigger_to_raw

__all__ = ("pipeline_from_definition", "pipeline_to_definition")


#: Unstructures without the keys that hold their default value (compact stored definitions).
_compact = cattrs.Converter(omit_if_default=True)


def pipeline_to_definition(pipeline: Pipeline) -> dict[str, Any]:
    """A JSON-ready mapping that :func:`pipeline_from_definition` turns back into *pipeline*."""
    raw = _compact.unstructure(pipeline)
    raw.pop("source", None)
    raw.pop("triggers", None)
    if pipeline.triggers:
        raw["triggers"] = [trigger_to_raw(t) for t in pipeline.triggers]
    raw.setdefault("tasks", [])
    raw.setdefault("stages", [])
    for item in [*raw["tasks"], *raw["stages"]]:
        if "condition" in item:
            item["condition"] = _condition(item["condition"])
    for task in raw["tasks"]:
        if "async_" in task:
            task["async"] = task.pop("async_")
    return raw


def _condition(raw: Any) -> Any:
    cond = Condition(kind=raw["kind"], stage=raw.get("stage"),
                     outcomes=tuple(raw.get("outcomes", ())))
    return cond.to_raw()


def pipeline_from_definition(raw: dict[str, Any], *, source: str | None = None) -> Pipeline:
    """The pipeline a stored definition describes."""
    pipeline = converter.structure(raw, Pipeline)
    return pipeline if source is None else attrs.evolve(pipeline, source=source)
