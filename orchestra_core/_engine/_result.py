"""What :meth:`Engine.run` and :meth:`Engine.resume` return."""

from __future__ import annotations

from typing import Any

__all__ = ("RunResult",)


class RunResult:
    """The outcome of a pipeline run: ``run_id``, ``state``, ``error`` and ``tasks`` (every
    task run's stored record by task id, read from the store when first asked for)."""

    def __init__(self, *, run_id: str, state: str, error: str | None = None,
                 tasks: dict[str, dict[str, Any]] | None = None, store: Any = None) -> None:
        self.run_id = run_id
        self.state = state
        self.error = error
        self._tasks = tasks
        self._store = store

    @property
    def tasks(self) -> dict[str, dict[str, Any]]:
        """Task run records by task id (state, attempt, external id, times, error, meta)."""
        if self._tasks is None:
            assert self._store is not None
            self._tasks = {r["task_id"]: r for r in self._store.task_runs(self.run_id)}
        return self._tasks

    @property
    def succeeded(self) -> bool:
        """Whether the run succeeded."""
        return self.state == "succeeded"

    def __repr__(self) -> str:
        return f"RunResult(run_id={self.run_id!r}, state={self.state!r}, error={self.error!r})"
