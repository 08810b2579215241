"""The graph checks of a pipeline document: what dependencies, conditions and stages name,
and dependency cycles (see ``docs/pipeline-files.md`` for the messages)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ._pipeline import ConditionKind, Stage, Task
from ._values import suggest

__all__ = ("check_cycles", "check_references")

#: records one problem: ``add(path, message, code)``
Add = Callable[[str, str, str], None]


def check_references(add: Add, tasks: list[tuple[str, Task]],
                     stages: list[tuple[str, Stage]], known: set[str],
                     task_ids: set[str]) -> None:
    """Report dependencies, conditions and stage members that name nothing (or the wrong
    thing)."""
    stage_ids = {s.id for _, s in stages}
    choices = sorted(known)
    for path, item in [*tasks, *stages]:
        for i, dep in enumerate(item.depends_on):
            if dep not in known:
                add(f"{path}.depends_on[{i}]",
                         f"depends on {dep!r}, which is neither a task nor a stage of this "
                         "pipeline" + suggest(dep, choices), "dangling-dependency")
            elif dep == item.id:
                add(f"{path}.depends_on[{i}]", f"{item.id!r} depends on itself",
                         "dependency-cycle")
        cond = item.condition
        if cond.kind is ConditionKind.STAGE_OUTCOME and cond.stage not in stage_ids:
            add(f"{path}.condition.stage",
                     f"condition names stage {cond.stage!r}, which is not a stage of this "
                     "pipeline" + suggest(cond.stage or "", sorted(stage_ids)),
                     "unknown-stage")
        elif cond.kind is ConditionKind.STAGE_OUTCOME and cond.stage not in item.depends_on:
            add(f"{path}.condition.stage",
                     f"condition names stage {cond.stage!r}, but {item.id!r} does not depend "
                     f"on it: add {cond.stage!r} to depends_on", "condition-not-a-dependency")
    member_of: dict[str, str] = {}
    for path, stage in stages:
        if not stage.tasks:
            add(f"{path}.tasks", "a stage needs at least one task", "invalid-value")
        for i, tid in enumerate(stage.tasks):
            if tid not in task_ids:
                add(f"{path}.tasks[{i}]", f"stage {stage.id!r} lists task {tid!r}, "
                         "which is not a task of this pipeline"
                         + suggest(tid, sorted(task_ids)), "unknown-task")
            elif tid in member_of and member_of[tid] != stage.id:
                add(f"{path}.tasks[{i}]", f"task {tid!r} is already in stage "
                         f"{member_of[tid]!r}; a task belongs to one stage at most",
                         "stage-membership")
            else:
                member_of[tid] = stage.id
        for i, tid in enumerate(stage.core_tasks or ()):
            if tid not in stage.tasks:
                add(f"{path}.core_tasks[{i}]", f"core task {tid!r} is not a member of "
                         f"stage {stage.id!r} (its tasks: {', '.join(stage.tasks)})",
                         "unknown-task")

def check_cycles(add: Add, tasks: list[tuple[str, Task]],
                 stages: list[tuple[str, Stage]]) -> None:
    """Find dependency cycles; a stage waits for its members, members wait for its deps."""
    edges: dict[str, list[str]] = {}
    paths: dict[str, str] = {}
    for path, task in tasks:
        edges.setdefault(task.id, []).extend(d for d in task.depends_on if d != task.id)
        paths.setdefault(task.id, path)
    for path, stage in stages:
        paths.setdefault(stage.id, path)
        edges.setdefault(stage.id, []).extend(
            [*stage.tasks, *(d for d in stage.depends_on if d != stage.id)])
        for tid in stage.tasks:
            edges.setdefault(tid, []).extend(stage.depends_on)
    if _ordered(edges):
        return
    state: dict[str, int] = {}
    succ: dict[str, list[str]] = {}
    reported: set[frozenset[str]] = set()
    for root in edges:
        if state.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        trail: list[str] = []
        while stack:
            node, idx = stack.pop()
            if idx == 0:
                state[node] = 1
                trail.append(node)
            nexts = succ.get(node)
            if nexts is None:
                nexts = succ[node] = [n for n in edges.get(node, []) if n in edges]
            if idx < len(nexts):
                stack.append((node, idx + 1))
                nxt = nexts[idx]
                if state.get(nxt) == 1:
                    cycle = [*trail[trail.index(nxt):], nxt]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        shown = " -> ".join(cycle)
                        add(paths.get(nxt, "$") + ".depends_on",
                                 f"dependency cycle: {shown} (each waits for the next)",
                                 "dependency-cycle")
                elif not state.get(nxt):
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                trail.pop()


def _ordered(edges: Mapping[str, list[str]]) -> bool:
    """Whether every node of *edges* waits only for nodes listed before it (or for names that
    are no node): then there is no cycle. Files are usually written in that order, and this one
    pass is cheaper than the search for cycles it spares."""
    position = {node: i for i, node in enumerate(edges)}.get
    for i, waits in enumerate(edges.values()):
        for name in waits:
            if position(name, -1) >= i:
                return False
    return True
