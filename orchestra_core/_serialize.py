"""Pipelines and triggers to and from plain JSON (stored with every run, so a resume needs no
file; stored with every registered trigger)."""

from __future__ import annotations

import functools
from typing import Any

import attrs
import cattrs

from ._config import structure_or_raise
from ._pipeline import Condition, Pipeline
from ._triggers.model import Trigger, trigger_to_raw

__all__ = ("pipeline_from_definition", "pipeline_to_definition", "trigger_from_definition")


@functools.cache
def _compact() -> cattrs.Converter:
    """Unstructures without the keys that hold their default value (compact definitions)."""
    return cattrs.Converter(omit_if_default=True)


def pipeline_to_definition(pipeline: Pipeline) -> dict[str, Any]:
    """A JSON-ready mapping that :func:`pipeline_from_definition` turns back into *pipeline*."""
    raw = _compact().unstructure(pipeline)
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


def pipeline_from_definition(raw: dict[str, Any], *, source: str | None = None,
                             converter: cattrs.Converter | None = None,
                             triggers: bool = True) -> Pipeline:
    """The pipeline a stored definition describes, structured with *converter* (a host's
    ``host.converter``; without one, :mod:`orchestra_core._config`'s private converter).
    Without *triggers*, the pipeline has none (what executing a run needs: checking each
    trigger, a cron expression's next times among others, would cost more than the rest of
    a small pipeline).

    :raises ConfigError: when the definition is not a valid pipeline.
    """
    if not triggers and "triggers" in raw:
        raw = {key: value for key, value in raw.items() if key != "triggers"}
    pipeline = structure_or_raise(raw, Pipeline, converter=converter)
    return pipeline if source is None else attrs.evolve(pipeline, source=source)


def trigger_from_definition(raw: Any, *, converter: cattrs.Converter | None = None) -> Trigger:
    """The trigger a stored spec (:func:`~orchestra_core._triggers.model.trigger_to_raw`)
    describes, structured and checked like a trigger in a pipeline file.

    :raises ConfigError: when the spec is not a valid trigger.
    """
    return structure_or_raise(raw, Trigger, converter=converter)
