"""Orchestra's published pipeline format (``version: v1``, ``pipeline: {group: {tasks:
{id: {...}}}}``), read into the document model of :mod:`orchestra_core._loader`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._triggers._formats import v1_schedule
from ._values import key_path

__all__ = ("from_orchestra_v1", "is_orchestra_v1")


def is_orchestra_v1(data: Mapping[str, Any]) -> bool:
    """Whether *data* is in Orchestra's published format (a ``pipeline`` of groups)."""
    return isinstance(data.get("pipeline"), Mapping) and "tasks" not in data


_TASK_KEYS_V1 = {"connection": "secondary_configuration_id"}


def from_orchestra_v1(data: Mapping[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """*data* in the published format as a pipeline document of ours; each path it moves is
    recorded in *renames* (new path -> the path in the file), for located errors."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("pipeline", "version", "configuration", "schedule"):
            continue
        out[key] = value
        renames[key_path("$", key)] = key_path("$", key)
    if "schedule" in data:  # cron schedules become triggers
        existing = out.get("triggers") if isinstance(out.get("triggers"), list) else []
        out["triggers"] = [*existing, *v1_schedule(data["schedule"], renames, len(existing))]
    name = data.get("name")
    if isinstance(name, str) and "#" in name:
        tags = re.findall(r"#([\w\-]+)", name)
        out["name"] = re.sub(r"\s*#[\w\-]+", "", name).strip()
        existing = out.get("tags") if isinstance(out.get("tags"), list) else []
        out["tags"] = [*existing, *tags]
    config = data.get("configuration")
    if isinstance(config, Mapping):
        out["defaults"] = _v1_configuration(config)
        renames["$.defaults"] = "$.configuration"
    stages: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    for group_id, group in data["pipeline"].items():
        group_path = key_path("$.pipeline", group_id)
        stage: dict[str, Any] = {"id": group_id, "tasks": []}
        renames[f"$.stages[{len(stages)}]"] = group_path
        if isinstance(group, Mapping):
            for key, value in group.items():
                if key != "tasks":
                    stage[key] = value
            group_tasks = group.get("tasks") or {}
            if isinstance(group_tasks, Mapping):
                for task_id, task in group_tasks.items():
                    renames[f"$.tasks[{len(tasks)}]"] = key_path(f"{group_path}.tasks", task_id)
                    tasks.append(_v1_task(task_id, task))
                    stage["tasks"].append(task_id)
            else:
                stage["tasks"] = group_tasks
        else:
            stage = group
        stages.append(stage)
    out["stages"] = stages
    out["tasks"] = tasks
    return out


def _v1_configuration(config: Mapping[str, Any]) -> Any:
    out: dict[str, Any] = {}
    retries: dict[str, Any] = {}
    for key, value in config.items():
        if key == "retries":
            retries["count"] = value
        elif key == "retry_delay":
            retries["delay"] = value
        else:
            out[key] = value
    if retries:
        out["retries"] = retries
    return out


def _v1_task(task_id: Any, task: Any) -> Any:
    if not isinstance(task, Mapping):
        return task
    out: dict[str, Any] = {"id": task_id}
    for key, value in task.items():
        if key == "configuration" and isinstance(value, Mapping):
            out.update(_v1_configuration(value))
        else:
            out[_TASK_KEYS_V1.get(key, key)] = value
    return out
