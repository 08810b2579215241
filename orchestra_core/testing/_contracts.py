"""Standard tests for integration jobs: subclass, set the class attributes, inherit the tests.

Example (``tests/test_contract.py`` of a plugin)::

    from orchestra_core.testing._contracts import IntegrationJobContract
    import orchestra_hightouch.plugin

    class TestHightouchSync(IntegrationJobContract):
        plugin = orchestra_hightouch.plugin
        distribution = "orchestra-hightouch"
        integration = "hightouch"
        job = "hightouch_sync"
        valid_parameters = {"syncid": "12345"}
        required_parameters = ("syncid",)

Two more bases test a vendor plugin's behaviour against its simulator:
:class:`VendorRunnerContract` (start/wait/fail/cancel/resume, retries, no duplicate trigger)
and :class:`WebhookHandlerContract` (signatures, malformed bodies, replays, through the real
``/webhooks/{integration}`` endpoint). See their docstrings and ``docs/simulators.md``.

Overriding an inherited test is refused unless the override is marked
``@pytest.mark.xfail(reason=...)`` (``test_no_overrides_DO_NOT_OVERRIDE``).
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import attrs
import pytest

__all__ = ("IntegrationJobContract", "VendorRunnerContract", "WebhookHandlerContract")


class IntegrationJobContract:
    """Inherited tests every integration job must pass."""

    #: the module (or object) holding the plugin's hookimpls
    plugin: ClassVar[Any]
    #: the distribution name, to check discovery through the ``orchestra`` entry point
    distribution: ClassVar[str | None] = None
    #: the integration and job names
    integration: ClassVar[str]
    job: ClassVar[str]
    #: a minimal valid ``parameters`` mapping
    valid_parameters: ClassVar[dict[str, Any]]
    #: parameters whose absence must be reported
    required_parameters: ClassVar[tuple[str, ...]] = ()

    def _host(self) -> Any:
        from . import make_host

        return make_host(self.plugin)

    def _pipeline(self, parameters: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": "contract",
            "tasks": [{"id": "t", "integration": self.integration,
                       "integration_job": self.job, "parameters": parameters}],
        }

    def _job(self) -> Any:
        job = self._host().find_job(self.integration, self.job)
        assert job is not None, f"{self.integration}/{self.job} is not registered"
        return job

    def test_job_is_registered(self) -> None:
        """The job is registered under its names, with a description."""
        job = self._job()
        assert job.name == self.job
        assert job.integration == self.integration
        assert job.description.strip(), "a job needs a description"

    def test_discovered_through_entry_point(self) -> None:
        """An installed plugin is found through the ``orchestra`` entry point."""
        if self.distribution is None:
            pytest.skip("no distribution declared")
        from .._host import Orchestra

        host = Orchestra()
        assert host.find_job(self.integration, self.job) is not None
        owners = [p for p in host.plugins() if p.distribution == self.distribution]
        assert owners, f"{self.distribution} not found among loaded plugins"

    def test_parameter_model_is_documented(self) -> None:
        """The parameter model is an attrs class; every field has help text."""
        model = self._job().parameters
        assert attrs.has(model)
        assert model.__doc__ and model.__doc__.strip()
        undocumented = [f.name for f in attrs.fields(model) if not f.metadata.get("help")]
        assert not undocumented, f"parameters without help text: {undocumented}"

    def test_valid_parameters_validate(self) -> None:
        """A task with ``valid_parameters`` validates without problems."""
        from . import validate

        assert validate(self._host(), self._pipeline(dict(self.valid_parameters))) == []

    def test_unknown_parameter_is_rejected(self) -> None:
        """An unknown parameter is one problem, naming the parameter and path."""
        from . import validate

        params = {**self.valid_parameters, "no_such_parameter_xyz": 1}
        problems = validate(self._host(), self._pipeline(params))
        assert len(problems) == 1
        assert "unknown parameter 'no_such_parameter_xyz'" in problems[0]
        assert "$.tasks[0].parameters" in problems[0]

    def test_missing_required_parameters_are_reported(self) -> None:
        """Leaving out each required parameter is reported by name."""
        from . import validate

        for name in self.required_parameters:
            params = {k: v for k, v in self.valid_parameters.items() if k != name}
            problems = validate(self._host(), self._pipeline(params))
            assert any(f"missing required parameter {name!r}" in p for p in problems), problems

    def test_names_match_case_insensitively(self) -> None:
        """Upper-case integration and job names (Orchestra's spelling) match."""
        from . import validate

        data = self._pipeline(dict(self.valid_parameters))
        data["tasks"][0]["integration"] = self.integration.upper()
        data["tasks"][0]["integration_job"] = self.job.upper()
        assert validate(self._host(), data) == []

    def test_runner_or_clear_refusal(self) -> None:
        """The runner satisfies JobRunner, or asking for it says the job cannot run."""
        from .._errors import JobNotExecutable
        from .._protocols import JobRunner

        host = self._host()
        job = self._job()
        if job.runner is None:
            with pytest.raises(JobNotExecutable, match="cannot execute yet"):
                host.runner(job)
        else:
            assert isinstance(host.runner(job), JobRunner)

    def test_no_overrides_DO_NOT_OVERRIDE(self) -> None:
        """Overriding a contract test needs ``@pytest.mark.xfail(reason=...)``."""
        for name, base_attr in vars(IntegrationJobContract).items():
            if not name.startswith("test_") or name == "test_no_overrides_DO_NOT_OVERRIDE":
                continue
            mine = getattr(type(self), name, None)
            if mine is None:
                pytest.fail(f"{name} was deleted from the contract")
            if mine is not base_attr:
                marks = getattr(mine, "pytestmark", [])
                if not any(m.name == "xfail" and m.kwargs.get("reason") for m in marks):
                    pytest.fail(f"{name} is overridden without @pytest.mark.xfail(reason=...)")


def _guard_overrides(instance: object, base: type) -> None:
    """Fail when a subclass deleted or silently overrode one of *base*'s tests."""
    for name, base_attr in vars(base).items():
        if not name.startswith("test_") or name == "test_no_overrides_DO_NOT_OVERRIDE":
            continue
        mine = getattr(type(instance), name, None)
        if mine is None:
            pytest.fail(f"{name} was deleted from the contract")
        if mine is not base_attr:
            marks = getattr(mine, "pytestmark", [])
            if not any(m.name == "xfail" and m.kwargs.get("reason") for m in marks):
                pytest.fail(f"{name} is overridden without @pytest.mark.xfail(reason=...)")


class VendorRunnerContract:
    """Inherited tests of a vendor job's runner against the plugin's simulator (in-process,
    on a fake clock): start then wait succeeds; a failed vendor run is FAILED with a message;
    cancel reaches the vendor; a new runner resumes from a stored ExternalRun without
    triggering again; transient 5xx/429 are retried; an ambiguous trigger failure never
    creates a second vendor run.

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
        from .._host import Orchestra
        from . import FakeClock

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
        from . import StubContext

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

        from .._models import ExternalRun

        data = json.loads(json.dumps(dict(run.data)))
        return ExternalRun(id=run.id, data=data,
                           started_at=datetime.fromisoformat(run.started_at.isoformat()))

    # -- the contract ----------------------------------------------------------------------------

    async def test_start_then_wait_succeeds(self) -> None:
        """start returns an ExternalRun quickly; wait returns SUCCEEDED with JSON metadata."""
        import json

        from .._models import ExternalRun, JobState

        _, _, _, ctx, runner = self._setup("succeeded")
        run = await runner.start(ctx)
        assert isinstance(run, ExternalRun)
        result = await runner.wait(ctx, run)
        assert result.state is JobState.SUCCEEDED, result
        json.dumps(dict(result.metadata), default=str)

    async def test_failed_vendor_run_fails_with_a_message(self) -> None:
        """A run the vendor reports failed ends FAILED (or raises TaskFailed) with a message."""
        from .._errors import TaskFailed
        from .._models import JobState

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
        from .._host import Orchestra
        from .._models import JobState

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
        from .._models import JobState
        from ._simulator import Failure, Simulator

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
        from .._errors import TaskFailed
        from ._simulator import Failure, Simulator

        _, sim, _, ctx, runner = self._setup("succeeded")
        if not isinstance(sim, Simulator):
            pytest.skip("needs a orchestra_core.testing._simulator.Simulator")
        sim.fail("POST", self.trigger_pattern, Failure.drop_after_processing())
        with contextlib.suppress(TaskFailed):  # refusing to guess is acceptable,
            await runner.start(ctx)              # starting a second run is not
        self.assert_single_trigger(sim)

    def test_no_overrides_DO_NOT_OVERRIDE(self) -> None:
        """Overriding a contract test needs ``@pytest.mark.xfail(reason=...)``."""
        _guard_overrides(self, VendorRunnerContract)


def _posts(sim: Any, pattern: str) -> int | None:
    """POST requests to *pattern* *sim* received (``None`` when it cannot say)."""
    count = getattr(sim, "count", None)
    return count("POST", pattern) if callable(count) else None


def _count(sim: Any) -> int:
    """Requests *sim* received so far (a kit Simulator's ``count()``, else its log)."""
    count = getattr(sim, "count", None)
    if callable(count):
        return count()
    return len(getattr(sim, "requests", ()))


class WebhookHandlerContract:
    """Inherited tests of a plugin's webhook handling through the real endpoint
    (``POST /webhooks/{integration}``): a signed delivery is accepted and published; a bad or
    missing signature and a tampered body get 401; a signed malformed body gets 400; a
    replay is accepted and ignored; nothing is accepted without a configured secret.

    Provide the class attributes and ``valid_body``; ``signed_headers`` defaults to your
    simulator's ``sign`` (``make_simulator``)::

        class TestDbtWebhooks(WebhookHandlerContract):
            plugin = orchestra_dbt.plugin
            integration = "dbt"
            secret_env = "DBT_CLOUD_WEBHOOK_SECRET"

            def make_simulator(self):
                return DbtCloudSimulator()

            def valid_body(self):
                return json.dumps({...a job.run.completed delivery...}).encode()

    The secret is given to the handler through the environment variable *secret_env*
    (read by :func:`orchestra_core.webhook_secrets`, or by the plugin).
    """

    plugin: ClassVar[Any]
    integration: ClassVar[str]
    #: the environment variable the handler reads the secret from
    secret_env: ClassVar[str | None] = None
    #: the secret the contract configures and signs with
    secret: ClassVar[str] = "contract-webhook-secret-0123"

    def make_simulator(self) -> Any:
        """A simulator whose ``sign(body, secret)`` signs as the vendor does."""
        raise NotImplementedError("provide make_simulator() or signed_headers()")

    def valid_body(self) -> bytes:
        """The raw body of a genuine delivery that yields at least one event."""
        raise NotImplementedError("provide valid_body()")

    def malformed_body(self) -> bytes:
        """A body that is not a delivery of this vendor (default: not JSON)."""
        return b"{this is not json"

    def signed_headers(self, body: bytes, secret: str) -> dict[str, str]:
        """Headers of a delivery of *body* signed with *secret*."""
        return {"content-type": "application/json", **self.make_simulator().sign(body, secret)}

    # -- machinery -------------------------------------------------------------------------------

    def _env(self) -> str:
        import re

        return self.secret_env or re.sub(r"[^A-Z0-9]", "_", self.integration.upper()) \
            + "_WEBHOOK_SECRET"

    async def _post(self, monkeypatch: Any, body: bytes, headers: dict[str, str], *,
                    times: int = 1, configured: bool = True) -> tuple[list[Any], Any]:
        import types

        import httpx

        from .._engine import EventChannel
        from .._host import Orchestra
        from .._server import create_app

        if configured:
            monkeypatch.setenv(self._env(), self.secret)
        else:
            monkeypatch.delenv(self._env(), raising=False)
        host = Orchestra(plugins=[self.plugin], load_entrypoints=False)
        engine = types.SimpleNamespace(events=EventChannel())
        app = create_app(host, engine)
        answers = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://orchestra.test") as http:
            for _ in range(times):
                answers.append(await http.post(f"/webhooks/{self.integration}", content=body,
                                               headers=headers))
        return answers, engine.events

    # -- the contract ----------------------------------------------------------------------------

    async def test_signed_delivery_is_accepted_and_published(self, monkeypatch: Any) -> None:
        """A genuine delivery is answered 200 and its events are published."""
        body = self.valid_body()
        (answer,), events = await self._post(monkeypatch, body,
                                             self.signed_headers(body, self.secret))
        assert answer.status_code == 200, answer.text
        assert answer.json()["received"] >= 1 and answer.json()["new"] >= 1
        assert events._seen, "no event was published"

    async def test_bad_signature_is_401(self, monkeypatch: Any) -> None:
        """A delivery signed with another secret is refused and changes nothing."""
        body = self.valid_body()
        (answer,), events = await self._post(
            monkeypatch, body, self.signed_headers(body, "some-other-secret-value"))
        assert answer.status_code == 401, answer.text
        assert not events._seen

    async def test_tampered_body_is_401(self, monkeypatch: Any) -> None:
        """A body changed after signing is refused."""
        body = self.valid_body()
        headers = self.signed_headers(body, self.secret)
        (answer,), events = await self._post(monkeypatch, body + b" ", headers)
        assert answer.status_code == 401, answer.text
        assert not events._seen

    async def test_unsigned_delivery_is_401(self, monkeypatch: Any) -> None:
        """A delivery without the signature is refused."""
        (answer,), events = await self._post(monkeypatch, self.valid_body(),
                                             {"content-type": "application/json"})
        assert answer.status_code == 401, answer.text
        assert not events._seen

    async def test_malformed_body_is_400(self, monkeypatch: Any) -> None:
        """A correctly signed body that is not a delivery is answered 400."""
        body = self.malformed_body()
        (answer,), events = await self._post(monkeypatch, body,
                                             self.signed_headers(body, self.secret))
        assert answer.status_code == 400, answer.text
        assert not events._seen

    async def test_replay_is_idempotent(self, monkeypatch: Any) -> None:
        """The same delivery twice: the second is accepted (200) and publishes nothing."""
        body = self.valid_body()
        (first, second), _ = await self._post(monkeypatch, body,
                                              self.signed_headers(body, self.secret), times=2)
        assert first.status_code == second.status_code == 200
        assert second.json()["new"] == 0 and second.json()["replayed"] >= 1

    async def test_nothing_is_accepted_without_a_secret(self, monkeypatch: Any) -> None:
        """With no secret configured every delivery is refused."""
        body = self.valid_body()
        (answer,), events = await self._post(monkeypatch, body,
                                             self.signed_headers(body, self.secret),
                                             configured=False)
        assert answer.status_code == 401, answer.text
        assert not events._seen

    def test_no_overrides_DO_NOT_OVERRIDE(self) -> None:
        """Overriding a contract test needs ``@pytest.mark.xfail(reason=...)``."""
        _guard_overrides(self, WebhookHandlerContract)
