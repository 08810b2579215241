"""The contract of a vendor job's runner against the plugin's simulator: start, wait, fail,
cancel, resume, retries and no duplicate trigger (:class:`VendorRunnerContract`)."""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import pytest

from ._overrides import guard_overrides
from ._recovery import RecoveryContract, _posts

__all__ = ("VendorRunnerContract",)

class VendorRunnerContract(RecoveryContract):
    """Inherited tests of a vendor job's runner against the plugin's simulator (in-process,
    on a fake clock): start then wait succeeds; a failed vendor run is FAILED with a message;
    cancel reaches the vendor; a new runner resumes from a stored ExternalRun without
    triggering again; transient 5xx/429 are retried; an ambiguous trigger failure never
    creates a second vendor run; and the :class:`RecoveryContract` tests: a process killed
    before the intent, between intent and trigger, or after the trigger triggers exactly once
    and reports its own run's outcome, never that of someone else's run that ended after the
    attempt began (provide ``start_foreign_run``).

    Subclass it in the plugin's tests and provide the class attributes and the three
    ``make_*``/``parameters`` hooks (the ``assert_*`` hooks have generic defaults)::

        class TestFivetranRunner(VendorRunnerContract):
            plugin = orchestra_fivetran.plugin
            integration = "fivetran"
            job = "fivetran_sync_all"
            trigger_pattern = "/v1/connections/*/sync"

            def make_simulator(self, clock):
                return FivetranSimulator(clock=clock, connectors=["ambush_prettiest"])

            def make_connection(self, sim):
                return Connection(name="ft", integration="fivetran", base_url=sim.base_url,
                                  secrets={"api_key": "k...", "api_secret": "s..."})

            def parameters(self, sim, outcome):
                sim.script("ambush_prettiest", outcome)   # however your simulator does it
                return {"connectionid": "ambush_prettiest"}

            def start_foreign_run(self, sim, parameters, outcome):
                # a sync the schedule started, ending with *outcome*; the next one still
                # ends as parameters() scripted it
                sim.connector("ambush_prettiest").outcomes.insert(0, ...)
                sim.start_sync("ambush_prettiest")

    The runner is built by ``host.runner(job)`` on a host made with
    ``Orchestra(plugins=[plugin], transports={integration: sim.transport})``, so runners must
    get their clients from ``host.vendor_client(...)`` (or honour the host's transport) and
    take their base URL and credentials from ``ctx.connection``. The retry and
    ambiguous-trigger tests need a :class:`~orchestra_core.testing._simulator.Simulator`
    (they are skipped for other simulators).
    """

    #: the module (or object) holding the plugin's hookimpls
    plugin: ClassVar[Any]
    #: the integration and job names
    integration: ClassVar[str]
    job: ClassVar[str]
    #: glob of the trigger request's path (``sim.count("POST", trigger_pattern)``)
    trigger_pattern: ClassVar[str] = "*"
    #: whether the vendor has a way to stop a run (``False``: the cancel test only checks
    #: that ``cancel`` returns without error)
    cancel_supported: ClassVar[bool] = True

    # -- hooks the plugin provides -------------------------------------------------------------

    def make_simulator(self, clock: Any) -> Any:
        """A fresh simulator driven by *clock* (an autojumping FakeClock)."""
        raise NotImplementedError("provide make_simulator(clock)")

    def make_connection(self, sim: Any) -> Any:
        """The :class:`~orchestra_core.Connection` pointing at *sim* (or ``None``)."""
        return None

    def parameters(self, sim: Any, outcome: str) -> dict[str, Any]:
        """Task parameters (as written in a pipeline) for a vendor run that ends with
        *outcome* (``"succeeded"`` or ``"failed"``), scripting *sim* as needed."""
        raise NotImplementedError("provide parameters(sim, outcome)")

    def assert_cancelled(self, sim: Any, requests_before: int) -> None:
        """Check that cancelling reached the vendor (default: the simulator got a request
        during ``cancel``)."""
        assert _count(sim) > requests_before, "cancel sent nothing to the vendor"

    def assert_single_trigger(self, sim: Any) -> None:
        """Check that the vendor started exactly one run (default: one trigger request)."""
        assert sim.count("POST", self.trigger_pattern) == 1

    # -- machinery -------------------------------------------------------------------------------

    def _setup(self, outcome: str = "succeeded") -> tuple[Any, Any, Any, Any, Any]:
        from ..._host import Orchestra
        from .. import FakeClock

        clock = FakeClock(autojump=True)
        sim = self.make_simulator(clock)
        host = Orchestra(plugins=[self.plugin], load_entrypoints=False,
                         transports={self.integration: sim.transport})
        ctx = self._ctx(host, sim, clock, self.parameters(sim, outcome))
        return host, sim, clock, ctx, host.runner(self._job(host))

    def _job(self, host: Any) -> Any:
        job = host.find_job(self.integration, self.job)
        assert job is not None, f"{self.integration}/{self.job} is not registered"
        return job

    def _ctx(self, host: Any, sim: Any, clock: Any, raw: dict[str, Any]) -> Any:
        from .. import StubContext

        pipeline = host.pipeline_from_data({"name": "contract", "tasks": [{
            "id": "t", "integration": self.integration, "integration_job": self.job,
            "parameters": raw}]})
        task = pipeline.tasks[0]
        params, problems = host.structure_parameters(self._job(host), task.parameters)
        assert not problems, [p.format() for p in problems]
        return StubContext(params, clock=clock, connection=self.make_connection(sim), task=task,
                           task_id="t")

    @staticmethod
    def _stored(run: Any) -> Any:
        """*run* as a later process reads it back from the store (JSON round trip)."""
        import json
        from datetime import datetime

        from ..._models import ExternalRun

        data = json.loads(json.dumps(dict(run.data)))
        return ExternalRun(id=run.id, data=data,
                           started_at=datetime.fromisoformat(run.started_at.isoformat()))

    # -- the contract ----------------------------------------------------------------------------

    async def test_start_then_wait_succeeds(self) -> None:
        """start returns an ExternalRun quickly; wait returns SUCCEEDED with JSON metadata."""
        import json

        from ..._models import ExternalRun, JobState

        _, _, _, ctx, runner = self._setup("succeeded")
        run = await runner.start(ctx)
        assert isinstance(run, ExternalRun)
        result = await runner.wait(ctx, run)
        assert result.state is JobState.SUCCEEDED, result
        json.dumps(dict(result.metadata), default=str)

    async def test_failed_vendor_run_fails_with_a_message(self) -> None:
        """A run the vendor reports failed ends FAILED (or raises TaskFailed) with a message."""
        from ..._errors import TaskFailed
        from ..._models import JobState

        _, _, _, ctx, runner = self._setup("failed")
        try:
            result = await runner.wait(ctx, await runner.start(ctx))
        except TaskFailed as exc:
            assert str(exc).strip()
            return
        assert result.state is JobState.FAILED, result
        assert result.message.strip(), "a failure needs a message"

    async def test_cancel_reaches_the_vendor(self) -> None:
        """cancel of a running job reaches the vendor (or is a clean no-op)."""
        _, sim, _, ctx, runner = self._setup("succeeded")
        run = await runner.start(ctx)
        before = _count(sim)
        await runner.cancel(ctx, run)
        if self.cancel_supported:
            self.assert_cancelled(sim, before)

    async def test_resume_from_a_stored_external_run(self) -> None:
        """A new host and runner finish the job from the stored ExternalRun alone, without
        triggering it again."""
        from ..._host import Orchestra
        from ..._models import JobState

        _, sim, clock, ctx, runner = self._setup("succeeded")
        run = await runner.start(ctx)
        triggers = _posts(sim, self.trigger_pattern)
        later = Orchestra(plugins=[self.plugin], load_entrypoints=False,
                          transports={self.integration: sim.transport})
        fresh = later.runner(self._job(later))
        assert fresh is not runner
        ctx2 = self._ctx(later, sim, clock, dict(ctx.task.parameters))
        result = await fresh.wait(ctx2, self._stored(run))
        assert result.state is JobState.SUCCEEDED, result
        assert _posts(sim, self.trigger_pattern) == triggers, "resuming triggered again"

    async def test_transient_vendor_errors_are_retried(self) -> None:
        """503s and a 429 from the vendor are retried; the job still succeeds."""
        from ..._models import JobState
        from .._simulator import Failure, Simulator

        _, sim, _, ctx, runner = self._setup("succeeded")
        if not isinstance(sim, Simulator):
            pytest.skip("needs a orchestra_core.testing._simulator.Simulator")
        sim.fail("*", "*", Failure.status(503), times=2)
        sim.fail("*", "*", Failure.rate_limited(retry_after=3))
        result = await runner.wait(ctx, await runner.start(ctx))
        assert result.state is JobState.SUCCEEDED, result

    async def test_ambiguous_trigger_failure_never_starts_a_second_run(self) -> None:
        """When the trigger's answer is lost after the vendor processed it, the runner finds
        the run instead of triggering another one."""
        from ..._errors import TaskFailed
        from .._simulator import Failure, Simulator

        _, sim, _, ctx, runner = self._setup("succeeded")
        if not isinstance(sim, Simulator):
            pytest.skip("needs a orchestra_core.testing._simulator.Simulator")
        sim.fail("POST", self.trigger_pattern, Failure.drop_after_processing())
        with contextlib.suppress(TaskFailed):  # refusing to guess is acceptable,
            await runner.start(ctx)              # starting a second run is not
        self.assert_single_trigger(sim)

    def test_no_overrides_DO_NOT_OVERRIDE(self) -> None:
        """Overriding a contract test needs ``@pytest.mark.xfail(reason=...)``."""
        guard_overrides(self, VendorRunnerContract)
        guard_overrides(self, RecoveryContract)


def _count(sim: Any) -> int:
    """Requests *sim* received so far (a kit Simulator's ``count()``, else its log)."""
    count = getattr(sim, "count", None)
    if callable(count):
        return count()
    return len(getattr(sim, "requests", ()))

