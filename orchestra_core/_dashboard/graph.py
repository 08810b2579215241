"""A run's task graph laid out for an SVG: each task in the column of its depth (its longest
chain of dependencies), edges from a dependency's right side to a dependent's left side."""

from __future__ import annotations

from typing import Any

from attrs import frozen

__all__ = ("Graph", "layout")

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 150, 40, 70, 24, 12


@frozen
class Node:
    """A task's box."""

    id: str
    state: str
    x: int
    y: int


@frozen
class Graph:
    """Boxes and edges (each edge ``(x1, y1, x2, y2)``) and the drawing's size."""

    nodes: tuple[Node, ...]
    edges: tuple[tuple[int, int, int, int], ...]
    width: int
    height: int
    node_w: int = NODE_W
    node_h: int = NODE_H


def _dependencies(definition: dict[str, Any]) -> dict[str, list[str]]:
    """Per task id, the task ids it waits for (a stage named in ``depends_on`` stands for
    every task of that stage)."""
    tasks = definition.get("tasks") or []
    by_stage: dict[str, list[str]] = {}
    for t in tasks:
        if t.get("stage"):
            by_stage.setdefault(str(t["stage"]), []).append(str(t["id"]))
    for stage in definition.get("stages") or []:
        if isinstance(stage, dict) and stage.get("id") and stage.get("tasks"):
            by_stage.setdefault(str(stage["id"]), []).extend(str(x) for x in stage["tasks"])
    ids = {str(t["id"]) for t in tasks}
    out: dict[str, list[str]] = {}
    for t in tasks:
        deps: list[str] = []
        for d in t.get("depends_on") or []:
            d = str(d)
            deps += [d] if d in ids else by_stage.get(d, [])
        out[str(t["id"])] = [d for d in dict.fromkeys(deps) if d != t["id"]]
    return out


def layout(definition: dict[str, Any], states: dict[str, str]) -> Graph:
    """The graph of *definition*'s tasks (also tasks only in *states*), coloured by
    *states* (task id -> state)."""
    deps = _dependencies(definition)
    for task_id in states:
        deps.setdefault(task_id, [])
    depth: dict[str, int] = {}

    def level(task_id: str, seen: frozenset[str] = frozenset()) -> int:
        if task_id in depth:
            return depth[task_id]
        if task_id in seen:  # a cycle (validation forbids it): stop here
            return 0
        parents = [p for p in deps.get(task_id, []) if p in deps]
        depth[task_id] = 1 + max((level(p, seen | {task_id}) for p in parents), default=-1)
        return depth[task_id]

    columns: dict[int, list[str]] = {}
    for task_id in deps:
        columns.setdefault(level(task_id), []).append(task_id)
    pos: dict[str, tuple[int, int]] = {}
    for col, members in columns.items():
        for row, task_id in enumerate(members):
            pos[task_id] = (PAD + col * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y))
    nodes = tuple(Node(t, states.get(t, "pending"), *pos[t]) for t in deps)
    edges = tuple((pos[p][0] + NODE_W, pos[p][1] + NODE_H // 2, pos[t][0], pos[t][1] + NODE_H // 2)
                  for t in deps for p in deps[t] if p in pos)
    width = PAD * 2 + max(len(columns), 1) * (NODE_W + GAP_X) - GAP_X
    height = PAD * 2 + max((len(m) for m in columns.values()), default=1) * (NODE_H + GAP_Y) - GAP_Y
    return Graph(nodes, edges, width, height)
