"""The writes a run makes, as typed records (what :meth:`Store.apply` takes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from attrs import frozen

__all__ = ("AssetEvent", "LogLine", "RunUpdate", "TaskUpdate", "Write")


@frozen(slots=True)
class TaskUpdate:
    """New values for columns of one task run (``state``, ``attempt``, ``error``, ...)."""

    run_id: str
    task_id: str
    fields: dict[str, Any]
    #: whether the node is a stage (``None``: not known; the store looks): a stage's end is
    #: numbered for ``after`` triggers, a task's never
    stage: bool | None = None

    #: fields that may carry text from a job (vendor messages, echoed inputs)
    FREE_TEXT = ("error", "meta", "external", "intent")


@frozen(slots=True)
class RunUpdate:
    """New values for columns of one pipeline run (``state``, ``ended_at``, ``owner``, ...)."""

    run_id: str
    fields: dict[str, Any]

    FREE_TEXT = ("error",)


@frozen(slots=True)
class LogLine:
    """One line of a run's log."""

    time: datetime
    level: str
    pipeline: str
    run_id: str | None
    task_id: str | None
    message: str

    FREE_TEXT = ("message",)

    def row(self) -> dict[str, Any]:
        """The ``events`` table row."""
        return {"time": self.time, "level": self.level, "pipeline": self.pipeline,
                "run_id": self.run_id, "task_id": self.task_id, "message": self.message}


@frozen(slots=True)
class AssetEvent:
    """An asset a task produced (``changes`` triggers read these)."""

    asset: str
    time: datetime
    pipeline: str
    run_id: str
    task_id: str

    FREE_TEXT = ()

    def row(self) -> dict[str, Any]:
        """The ``asset_events`` table row."""
        return {"asset": self.asset, "time": self.time, "pipeline": self.pipeline,
                "run_id": self.run_id, "task_id": self.task_id}


#: Any one write of a batch.
Write = TaskUpdate | RunUpdate | LogLine | AssetEvent
