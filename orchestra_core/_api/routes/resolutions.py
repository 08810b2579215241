"""``/runs/{run_id}/tasks/{task_id}/{retry,skip,rerun}`` and ``/runs/{run_id}/resolve``:
the guided resolutions of a failed task (see ``orchestra_core._engine._resolutions``)."""

from __future__ import annotations

from typing import Any

from ..._engine._resolutions import resolve
from ..endpoint import Call, Endpoint, path_param
from ..schema import ref
from ._scope import find_run
from .runs import RUN_ID

__all__ = ("ENDPOINTS",)

TASK_ID = path_param("task_id", "The task's id in the pipeline.")


def _resolve(call: Call, action: str, task_id: str | None) -> dict[str, Any]:
    store = call.api.store
    summary = find_run(store, call.client, call["run_id"])
    run = store.get_run(summary["id"])
    before = {"state": run["state"], "task": task_id}
    result = resolve(store, run, action, task_id, call.api.now())
    if result["state"] == "pending":
        call.api.queued(result["run_id"])
    call.audit(f"run.{action}", f"{run['id']}/{task_id}" if task_id else run["id"], before,
               result)
    return {"run_id": result["run_id"], "resolution": action, "task_id": task_id,
            "state": result["state"], "reset_tasks": result["reset_tasks"],
            "detail": result["detail"]}


def retry_task(call: Call) -> dict[str, Any]:
    """Retry a failed task of a failed run: it and its dependents that did not succeed go
    back to pending and the run is queued again; tasks that succeeded are not run again."""
    return _resolve(call, "retry", call["task_id"])


def skip_task(call: Call) -> dict[str, Any]:
    """Skip a failed task of a failed run: it is marked skipped and its dependents run as
    if it had succeeded; the run is queued again."""
    return _resolve(call, "skip", call["task_id"])


def rerun_from_task(call: Call) -> dict[str, Any]:
    """Rerun the run from a task: a new run (``run_id`` in the answer) where the task and
    everything downstream of it start afresh and the other tasks keep their results."""
    return _resolve(call, "rerun_from", call["task_id"])


def cancel_resolution(call: Call) -> dict[str, Any]:
    """Close a failed run as cancelled (nothing more is offered), or ask a running run to
    cancel."""
    return _resolve(call, "cancel", None)


T = "resolutions"
_P = (RUN_ID, TASK_ID)
ENDPOINTS = [
    Endpoint("POST", "/runs/{run_id}/tasks/{task_id}/retry", retry_task, "run",
             "Retry a failed task", T, _P, response=ref("Resolution"), errors=(404, 409)),
    Endpoint("POST", "/runs/{run_id}/tasks/{task_id}/skip", skip_task, "run",
             "Skip a failed task", T, _P, response=ref("Resolution"), errors=(404, 409)),
    Endpoint("POST", "/runs/{run_id}/tasks/{task_id}/rerun", rerun_from_task, "run",
             "Rerun the run from a task", T, _P, response=ref("Resolution"),
             errors=(404, 409)),
    Endpoint("POST", "/runs/{run_id}/close", cancel_resolution, "run",
             "Cancel (close) a failed run", T, (RUN_ID,), response=ref("Resolution"),
             errors=(404, 409)),
]
