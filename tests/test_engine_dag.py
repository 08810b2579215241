"""The engine's DAG walk alone: readiness, conditions, stage and run outcomes, resume.

Pure code: built from model objects, no host, store, clock or event loop.
"""

from orchestra_core._engine._dag import Graph, Seen, Walk
from orchestra_core._engine._states import TaskState
from orchestra_core._pipeline import (
    Condition,
    ConditionKind,
    FailurePolicy,
    PartialPolicy,
    Pipeline,
    Stage,
    StageOutcome,
    Task,
)


def t(id_, *deps, **kw):
    return Task(id=id_, integration="noop", integration_job="noop_run", depends_on=deps, **kw)


def walk_of(*tasks, stages=()):
    return Walk(Graph(Pipeline(name="p", tasks=tasks, stages=stages)))


def finish(walk, node, state):
    walk.state[node] = state
    return walk.finish(node)


def test_ready_nodes_follow_the_edges():
    walk = walk_of(t("a"), t("b", "a"), t("c", "a"), t("d", "b", "c"))
    assert walk.ready() == ["a"]
    assert walk.ready() == []  # launched once
    assert sorted(finish(walk, "a", TaskState.SUCCEEDED)) == ["b", "c"]
    assert finish(walk, "b", TaskState.SUCCEEDED) == []
    assert finish(walk, "c", TaskState.FAILED) == ["d"]
    assert walk.should_run("d") == (False, "'c' did not succeed")
    assert walk.unfinished == 1
    assert walk.pending() == ["d"]


def test_conditions():
    walk = walk_of(t("a"), t("on_fail", "a", condition=Condition(kind=ConditionKind.ON_FAILURE)),
                   t("always", "a", condition=Condition(kind=ConditionKind.ALWAYS)),
                   t("warn"), t("after_warn", "warn"),
                   t("warned", treat_failure_as_warning=True), t("after_warned", "warned"))
    walk.ready()
    finish(walk, "a", TaskState.SUCCEEDED)
    assert walk.should_run("on_fail") == (False, "no dependency failed (on_failure)")
    assert walk.should_run("always") == (True, "")
    finish(walk, "warn", TaskState.TIMED_OUT)
    assert walk.seen("warn") is Seen.FAILED
    assert walk.should_run("after_warn")[0] is False
    finish(walk, "warned", TaskState.FAILED)
    assert walk.seen("warned") is Seen.OK
    assert walk.should_run("after_warned") == (True, "")


def test_a_task_skipped_by_the_run_type_counts_as_succeeded():
    walk = walk_of(t("a"), t("b", "a"))
    walk.ready()
    walk.scope_skipped.add("a")
    finish(walk, "a", TaskState.SKIPPED)
    assert walk.seen("a") is Seen.OK
    assert walk.should_run("b") == (True, "")


def stage_pipeline(on_partial=PartialPolicy.CONTINUE):
    stage = Stage(id="s", tasks=("x", "y"), core_tasks=("x",), on_partial=on_partial,
                  on_failure=FailurePolicy.BLOCK)
    return walk_of(t("x"), t("y"), t("next", "s"),
                   t("if_partial", "s",
                     condition=Condition(kind=ConditionKind.STAGE_OUTCOME, stage="s",
                                         outcomes=(StageOutcome.PARTIAL,))),
                   stages=(stage,)), stage


def test_stage_outcomes_and_what_dependents_see():
    walk, stage = stage_pipeline()
    assert sorted(walk.ready()) == ["x", "y"]
    finish(walk, "x", TaskState.SUCCEEDED)
    assert finish(walk, "y", TaskState.FAILED) == ["s"]
    outcome, state = walk.stage_result(stage)
    assert (outcome, state) == (StageOutcome.PARTIAL, TaskState.SUCCEEDED)
    walk.stage_outcome["s"] = outcome
    assert sorted(finish(walk, "s", state)) == ["if_partial", "next"]
    assert walk.seen("s") is Seen.OK  # partial, on_partial: continue
    assert walk.should_run("next") == (True, "")
    assert walk.should_run("if_partial") == (True, "")
    # a non-core failure in a continuing stage does not fail the run
    finish(walk, "next", TaskState.SUCCEEDED)
    finish(walk, "if_partial", TaskState.SUCCEEDED)
    assert walk.run_result(cancelled=False, stop_reason=None) == ("succeeded", None)


def test_a_core_failure_fails_the_stage_and_the_run():
    walk, stage = stage_pipeline()
    walk.ready()
    finish(walk, "x", TaskState.FAILED)
    finish(walk, "y", TaskState.SUCCEEDED)
    outcome, state = walk.stage_result(stage)
    assert (outcome, state) == (StageOutcome.FAILED, TaskState.FAILED)
    walk.stage_outcome["s"] = outcome
    finish(walk, "s", state)
    assert walk.should_run("if_partial") == (
        False, "stage 's' ended failed, not partial")
    assert walk.run_result(cancelled=False, stop_reason=None) == (
        "failed", "tasks failed: x; stages failed: s")
    assert walk.failed_tasks() == ["x"]


def test_one_failed_core_task_of_two_fails_the_stage():
    stage = Stage(id="s", tasks=("c1", "c2", "extra"), core_tasks=("c1", "c2"),
                  on_partial=PartialPolicy.CONTINUE, on_failure=FailurePolicy.BLOCK)
    for failing in ("c1", "c2"):
        walk = walk_of(t("c1"), t("c2"), t("extra"), t("next", "s"), stages=(stage,))
        walk.ready()
        for member in ("c1", "c2", "extra"):
            finish(walk, member, TaskState.FAILED if member == failing else TaskState.SUCCEEDED)
        assert walk.stage_result(stage) == (StageOutcome.FAILED, TaskState.FAILED)
    walk = walk_of(t("c1"), t("c2"), t("extra"), stages=(stage,))
    walk.ready()
    for member, state in (("c1", TaskState.SUCCEEDED), ("c2", TaskState.SUCCEEDED),
                          ("extra", TaskState.FAILED)):
        finish(walk, member, state)
    assert walk.stage_result(stage) == (StageOutcome.PARTIAL, TaskState.SUCCEEDED)


def test_a_stage_whose_members_were_all_skipped_is_skipped():
    walk, stage = stage_pipeline()
    walk.ready()
    finish(walk, "x", TaskState.SKIPPED)
    finish(walk, "y", TaskState.SKIPPED)
    assert walk.stage_result(stage) == (None, TaskState.SKIPPED)
    assert walk.seen("s") is Seen.SKIPPED


def test_cancelled_runs():
    walk = walk_of(t("a"))
    assert walk.run_result(cancelled=True, stop_reason="cancelled on request") == (
        "cancelled", "cancelled on request")
    assert walk.run_result(cancelled=True, stop_reason="stage 's' failed") == (
        "failed", "stage 's' failed")


def test_restore_marks_finished_nodes_done_and_readies_the_rest():
    walk = walk_of(t("a"), t("b", "a"), t("c", "b"))
    walk.restore({"a": {"state": "succeeded", "error": None},
                  "b": {"state": "running", "error": None},
                  "c": {"state": "pending", "error": None}})
    assert walk.state == {"a": TaskState.SUCCEEDED}
    assert walk.ready() == ["b"]
    assert walk.unfinished == 2
