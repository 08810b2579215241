"""Pipelines to and from plain JSON (stored with every run, so a resume needs no file)."""

from __future__ import annotations

from typing import Any

import attrs

from .config import converter
from .pipeline import Condition, Pipeline

__all__ = ("pipeline_from_definition", "pipeline_to_definition")


def pipeline_to_definition(pipeline: Pipeline) -> dict[str, Any]:
    """A JSON-ready mapping that :func:`pipeline_from_definition` turns back into *pipeline*."""
    raw = converter.unstructure(pipeline)
    raw.pop("source", None)
    for item in [*raw["tasks"], *raw["stages"]]:
        item["condition"] = _condition(item["condition"])
    for task in raw["tasks"]:
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
