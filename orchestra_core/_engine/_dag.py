"""The DAG walk of one run, as pure code: which nodes are ready, whether a node's condition
holds, a stage's outcome and the run's outcome. No store, no clock, no I/O.

Nodes are tasks and stages. A task depends on its ``depends_on`` and on its stage's
``depends_on``; a stage depends on its member tasks (its record is written when they are all
done). The engine tells the walk each node's final state with :meth:`Walk.finish`, which
returns the nodes that became ready.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from .._pipeline import ConditionKind, PartialPolicy, Pipeline, Stage, StageOutcome, Task
from ._states import BAD, TERMINAL, TaskState

__all__ = ("SEEN_AS_SUCCEEDED", "Graph", "Seen", "Walk")

#: The ``error`` of a skipped task that its dependents see as succeeded: outside the run
#: type, or skipped by a guided resolution (see ``_resolutions``).
SEEN_AS_SUCCEEDED = ("not in run type",
                     "skipped by a resolution (dependents run as if it succeeded)")


class Seen(enum.Enum):
    """How a finished node looks to the nodes that depend on it."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class Graph:
    """The nodes of a pipeline and the edges between them (built once per run)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.tasks: dict[str, Task] = {t.id: t for t in pipeline.tasks}
        self.stages: dict[str, Stage] = {s.id: s for s in pipeline.stages}
        self.stage_of: dict[str, Stage] = {tid: s for s in pipeline.stages for tid in s.tasks}
        self.deps: dict[str, frozenset[str]] = {}
        # equal sets are shared: the 10,000 tasks of a fan-out hold one set, not 10,000
        shared: dict[frozenset[str], frozenset[str]] = {}
        for t in pipeline.tasks:
            stage = self.stage_of.get(t.id)
            deps = frozenset(t.depends_on) | (
                frozenset(stage.depends_on) if stage is not None else frozenset())
            self.deps[t.id] = shared.setdefault(deps, deps)
        for s in pipeline.stages:
            self.deps[s.id] = frozenset(s.tasks)
        self.dependents: dict[str, list[str]] = {}
        for node, deps in self.deps.items():
            for d in deps:
                self.dependents.setdefault(d, []).append(node)


class Walk:
    """The progress of one run through its :class:`Graph`.

    :ivar state: the state of every node that has one.
    :ivar stage_outcome: each finished stage's outcome (``None``: every member was skipped).
    :ivar scope_skipped: tasks skipped because the run type excludes them; dependents see
        them as succeeded.
    """

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.state: dict[str, TaskState] = {}
        self.stage_outcome: dict[str, StageOutcome | None] = {}
        self.scope_skipped: set[str] = set()
        self._remaining = {node: len(deps) for node, deps in graph.deps.items()}
        self._launched: set[str] = set()
        self._unfinished = len(graph.deps)

    # -- progress --------------------------------------------------------------------------

    def restore(self, rows: Mapping[str, Mapping[str, Any]]) -> None:
        """Mark the nodes that finished before an interruption (their stored rows) done."""
        for node, row in rows.items():
            state = TaskState(row["state"])
            if state not in TERMINAL or node not in self.graph.deps:
                continue
            self.state[node] = state
            if node in self.graph.stages:
                self.stage_outcome[node] = StageOutcome(row["outcome"]) if row.get(
                    "outcome") else None
            elif row.get("error") in SEEN_AS_SUCCEEDED:
                self.scope_skipped.add(node)
            self._launched.add(node)
            self._unfinished -= 1
            for dep in self.graph.dependents.get(node, ()):
                self._remaining[dep] -= 1

    def ready(self) -> list[str]:
        """Nodes whose dependencies are all done and which have not been launched; each is
        marked launched."""
        out = [n for n, left in self._remaining.items() if left == 0 and n not in self._launched]
        self._launched.update(out)
        return out

    def finish(self, node: str) -> list[str]:
        """Record that *node* reached its final state; return the nodes now ready (marked
        launched)."""
        self._unfinished -= 1
        out = []
        for dep in self.graph.dependents.get(node, ()):
            self._remaining[dep] -= 1
            if self._remaining[dep] == 0 and dep not in self._launched:
                self._launched.add(dep)
                out.append(dep)
        return out

    @property
    def unfinished(self) -> int:
        """Nodes not yet finished."""
        return self._unfinished

    def pending(self) -> list[str]:
        """Nodes without a final state (never reached when the run stops)."""
        return [n for n in self.graph.deps if self.state.get(n) not in TERMINAL]

    # -- what dependents see -----------------------------------------------------------------

    def seen(self, node: str) -> Seen:
        """How *node* looks to its dependents."""
        graph = self.graph
        if node in graph.stages:
            outcome = self.stage_outcome.get(node)
            if outcome is None:
                return Seen.SKIPPED
            if outcome is StageOutcome.SUCCEEDED or (
                    outcome is StageOutcome.PARTIAL
                    and graph.stages[node].on_partial is PartialPolicy.CONTINUE):
                return Seen.OK
            return Seen.FAILED
        state = self.state[node]
        if state is TaskState.SUCCEEDED or node in self.scope_skipped:
            return Seen.OK
        if state in BAD:
            return Seen.OK if graph.tasks[node].treat_failure_as_warning else Seen.FAILED
        return Seen.SKIPPED

    def should_run(self, node: str) -> tuple[bool, str]:
        """Whether *node*'s condition holds now that its dependencies are done, and why not."""
        graph = self.graph
        if node in graph.stages:
            return True, ""
        task = graph.tasks[node]
        stage = graph.stage_of.get(node)
        if stage is not None and stage.depends_on:
            ok, why = self._condition(stage.condition, stage.depends_on)
            if not ok:
                return False, f"stage {stage.id!r}: {why}"
        return self._condition(task.condition, task.depends_on)

    def _condition(self, cond: Any, deps: Iterable[str]) -> tuple[bool, str]:
        kind = cond.kind
        if kind is ConditionKind.ALWAYS:
            return True, ""
        if kind is ConditionKind.ON_SUCCESS:
            state, stages = self.state, self.graph.stages
            if all(state.get(d) is TaskState.SUCCEEDED and d not in stages for d in deps):
                return True, ""  # the common case: tasks that succeeded (a stage's record
                # may say succeeded for a partial outcome: those are looked at in full)
        seen = {d: self.seen(d) for d in set(deps)}
        if kind is ConditionKind.ON_FAILURE:
            if any(s is Seen.FAILED for s in seen.values()):
                return True, ""
            return False, "no dependency failed (on_failure)"
        if kind is ConditionKind.STAGE_OUTCOME:
            outcome = self.stage_outcome.get(cond.stage or "")
            if outcome not in cond.outcomes:
                shown = outcome.value if outcome else "skipped"
                return False, (f"stage {cond.stage!r} ended {shown}, not "
                               f"{'/'.join(o.value for o in cond.outcomes)}")
            others = [d for d, s in seen.items() if d != cond.stage and s is not Seen.OK]
            return (False, f"{others[0]!r} did not succeed") if others else (True, "")
        not_ok = sorted(d for d, s in seen.items() if s is not Seen.OK)
        return (False, f"{not_ok[0]!r} did not succeed") if not_ok else (True, "")

    # -- stages and the run ------------------------------------------------------------------

    def _counts_against(self, task_id: str) -> bool:
        return (self.state.get(task_id) in BAD
                and not self.graph.tasks[task_id].treat_failure_as_warning)

    def stage_result(self, stage: Stage) -> tuple[StageOutcome | None, TaskState]:
        """The outcome of *stage* from its members' states, and the state of its record."""
        ran = [t for t in stage.tasks
               if self.state[t] is not TaskState.SKIPPED or t in self.scope_skipped]
        if not ran:
            return None, TaskState.SKIPPED
        if any(self._counts_against(t) for t in stage.core):
            return StageOutcome.FAILED, TaskState.FAILED
        if any(self._counts_against(t) for t in stage.tasks):
            return StageOutcome.PARTIAL, TaskState.SUCCEEDED
        return StageOutcome.SUCCEEDED, TaskState.SUCCEEDED

    def run_result(self, *, cancelled: bool, stop_reason: str | None) -> tuple[str, str | None]:
        """The run's final state (``succeeded``, ``failed`` or ``cancelled``) and error."""
        graph = self.graph
        against = []
        for task in graph.pipeline.tasks:
            if not self._counts_against(task.id):
                continue
            stage = graph.stage_of.get(task.id)
            tolerated = (stage is not None and task.id not in stage.core
                         and stage.on_partial is PartialPolicy.CONTINUE
                         and self.state[task.id] is not TaskState.CANCELLED)
            if not tolerated:
                against.append(task.id)
        failed_stages = [s for s, o in self.stage_outcome.items() if o is StageOutcome.FAILED]
        if cancelled and stop_reason == "cancelled on request":
            return "cancelled", "cancelled on request"
        if against or failed_stages or cancelled:
            parts = [f"tasks failed: {', '.join(against)}"] if against else []
            if failed_stages:
                parts.append(f"stages failed: {', '.join(failed_stages)}")
            if stop_reason:
                parts.append(stop_reason)
            return "failed", "; ".join(parts)
        return "succeeded", None

    def failed_tasks(self) -> list[str]:
        """Tasks in a failed state (for alerts), sorted."""
        return sorted(t for t, st in self.state.items() if st in BAD and t in self.graph.tasks)
