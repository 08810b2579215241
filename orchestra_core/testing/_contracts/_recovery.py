"""The recovery contract of a vendor job's runner: *record intent, then trigger; recover adopts
only what began after the intent* (:class:`RecoveryContract`, part of
:class:`~orchestra_core.testing.VendorRunnerContract`)."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

__all__ = ("RecoveryContract",)


class _Killed(BaseException):
    """The process died (raised where the contract kills the runner)."""


class RecoveryContract:
    """Inherited tests: a process killed anywhere between "attempt running" and "external run
    recorded" is resumed without a false outcome and without a second trigger.

    Each test builds the scene of issue 13: someone else's run of the same vendor job (the
    vendor's schedule, its dashboard, another tool) started before the attempt and **ended
    after the attempt began** with the opposite outcome of the task's own run. Then:

    - killed before the runner recorded its intent: the resumed task triggers exactly once
      and reports the outcome of its own run;
    - killed after the intent, before the trigger: the same (``start`` must record the intent
      before it sends anything: the contract kills it inside ``record_intent`` and checks
      that no trigger reached the vendor);
    - killed after the trigger, before the external run was recorded: ``recover`` adopts the
      task's run (no second trigger) and reports its outcome.

    The plugin provides :meth:`start_foreign_run` (besides the hooks of
    :class:`~orchestra_core.testing.VendorRunnerContract`).
    """

    #: seconds after which every run the tests start has ended at the vendor
    run_ends_within: ClassVar[float] = 3600.0

    def start_foreign_run(self, sim: Any, parameters: dict[str, Any], outcome: str) -> None:
        """Start, on *sim*, a run of the job that *parameters* name the way someone else
        would (not through the runner), ending with *outcome* (``"succeeded"`` or
        ``"failed"``) within :attr:`run_ends_within` seconds; the task's own next run must
        still end as :meth:`parameters` scripted it."""
        raise NotImplementedError("provide start_foreign_run(sim, parameters, outcome)")

    # -- machinery -------------------------------------------------------------------------------

    def _scene(self) -> tuple[Any, Any, Any, Any, Any]:
        """The task's own run will fail; someone else's run (which will succeed) is under way
        when the attempt begins."""
        host, sim, clock, ctx, runner = self._setup("failed")  # type: ignore[attr-defined]
        self.start_foreign_run(sim, dict(ctx.task.parameters), "succeeded")
        return host, sim, clock, ctx, runner

    async def _attempt_begins(self, clock: Any, ctx: Any) -> None:
        await clock.sleep(1.0)
        ctx.started_at = clock.now()

    def _resumed_ctx(self, sim: Any, clock: Any, ctx: Any, intent: Any) -> tuple[Any, Any]:
        """A new process: a new host, runner and context for the same attempt, with *intent*
        as the store gives it back (a JSON round trip)."""
        from ..._host import Orchestra
        from ..._models import Intent

        later = Orchestra(plugins=[self.plugin], load_entrypoints=False,  # type: ignore
                          transports={self.integration: sim.transport})  # type: ignore
        runner = later.runner(self._job(later))  # type: ignore[attr-defined]
        fresh = self._ctx(later, sim, clock, dict(ctx.task.parameters))  # type: ignore
        fresh.started_at = ctx.started_at
        if intent is not None:
            fresh.intent = Intent.from_json(json.loads(json.dumps(intent.to_json())))
        return runner, fresh

    @staticmethod
    async def _finish(runner: Any, ctx: Any) -> tuple[Any, bool]:
        """What the engine does on resume: ``recover``, else ``start``; then ``wait``.
        Returns the outcome (a ``JobState``) and whether the run was recovered."""
        from ..._errors import TaskFailed
        from ..._models import JobState

        run = await runner.recover(ctx) if hasattr(runner, "recover") else None
        recovered = run is not None
        if run is None:
            run = await runner.start(ctx)
        try:
            result = await runner.wait(ctx, run)
        except TaskFailed:
            return JobState.FAILED, recovered
        return result.state, recovered

    def _triggers(self, sim: Any) -> int:
        count = _posts(sim, self.trigger_pattern)  # type: ignore[attr-defined]
        if count is None:
            pytest.skip("needs a simulator with count(method, pattern)")
        return count

    # -- the contract ----------------------------------------------------------------------------

    async def test_kill_before_the_intent_triggers_once_with_its_own_outcome(self) -> None:
        """Killed while ``running``, before any intent: nothing was sent, so the resumed task
        triggers exactly once, and reports its own run's outcome (not the other run's, which
        ended after the attempt began)."""
        from ..._models import JobState

        _, sim, clock, ctx, _ = self._scene()
        await self._attempt_begins(clock, ctx)
        await clock.sleep(self.run_ends_within)  # the other run ends during the downtime
        runner, resumed = self._resumed_ctx(sim, clock, ctx, None)
        state, recovered = await self._finish(runner, resumed)
        assert not recovered, "recover adopted a run though no intent was recorded"
        assert self._triggers(sim) == 1, "the resumed task did not trigger exactly once"
        assert state is JobState.FAILED, (
            f"the task reported {state.value}: the outcome of a run it did not trigger")

    async def test_kill_between_intent_and_trigger_triggers_once_with_its_own_outcome(
            self) -> None:
        """Killed after ``start`` recorded its intent, before the trigger went out: the
        resumed task triggers exactly once and reports its own run's outcome."""
        from ..._models import JobState

        _, sim, clock, ctx, runner = self._scene()
        await self._attempt_begins(clock, ctx)
        killer = _KillAtIntent(ctx)
        try:
            await runner.start(killer)
        except _Killed:
            pass
        else:
            pytest.fail("start returned without recording its intent (ctx.record_intent) "
                        "before the trigger")
        assert self._triggers(sim) == 0, "start sent the trigger before recording its intent"
        await clock.sleep(self.run_ends_within)
        runner, resumed = self._resumed_ctx(sim, clock, ctx, killer.intent)
        state, _ = await self._finish(runner, resumed)
        assert self._triggers(sim) == 1, "the resumed task did not trigger exactly once"
        assert state is JobState.FAILED, (
            f"the task reported {state.value}: the outcome of a run it did not trigger")

    async def test_kill_after_the_trigger_recovers_its_own_run(self) -> None:
        """Killed after the trigger, before the external run was stored (the other run ended
        after the attempt began, before the intent): ``recover`` adopts the task's own run,
        nothing is triggered again, and its outcome is reported."""
        from ..._models import JobState

        _, sim, clock, ctx, runner = self._scene()
        await self._attempt_begins(clock, ctx)
        await clock.sleep(self.run_ends_within)
        await runner.start(ctx)  # its ExternalRun never reaches the store
        assert ctx.intent is not None, "start did not record its intent"
        await clock.sleep(self.run_ends_within)
        runner, resumed = self._resumed_ctx(sim, clock, ctx, ctx.intent)
        if not hasattr(runner, "recover"):
            pytest.skip("the runner has no recover")
        state, recovered = await self._finish(runner, resumed)
        assert self._triggers(sim) == 1, "the resumed task triggered again"
        assert recovered, "recover did not adopt the run the task had triggered"
        assert state is JobState.FAILED, f"the task reported {state.value}, not its run's"


def _posts(sim: Any, pattern: str) -> int | None:
    """POST requests to *pattern* *sim* received (``None`` when it cannot say)."""
    count = getattr(sim, "count", None)
    return count("POST", pattern) if callable(count) else None


class _KillAtIntent:
    """A context whose ``record_intent`` records the intent, then kills the process."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx
        self.intent: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    async def record_intent(self, facts: Any = None) -> Any:
        from ..._models import Intent

        self.intent = Intent(recorded_at=self._ctx.now(), facts=dict(facts or {}))
        raise _Killed
