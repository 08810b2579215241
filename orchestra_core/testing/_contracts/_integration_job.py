"""The contract of every integration job: registration, discovery, documented parameters,
validation and the runner (:class:`IntegrationJobContract`)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import pytest

from ._overrides import guard_overrides

__all__ = ("IntegrationJobContract",)

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
        from .. import make_host

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
        from ..._host import Orchestra

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
        from .. import validate

        assert validate(self._host(), self._pipeline(dict(self.valid_parameters))) == []

    def test_unknown_parameter_is_rejected(self) -> None:
        """An unknown parameter is one problem, naming the parameter and path."""
        from .. import validate

        params = {**self.valid_parameters, "no_such_parameter_xyz": 1}
        problems = validate(self._host(), self._pipeline(params))
        assert len(problems) == 1
        assert "unknown parameter 'no_such_parameter_xyz'" in problems[0]
        assert "$.tasks[0].parameters" in problems[0]

    def test_missing_required_parameters_are_reported(self) -> None:
        """Leaving out each required parameter is reported by name."""
        from .. import validate

        for name in self.required_parameters:
            params = {k: v for k, v in self.valid_parameters.items() if k != name}
            problems = validate(self._host(), self._pipeline(params))
            assert any(f"missing required parameter {name!r}" in p for p in problems), problems

    def test_names_match_case_insensitively(self) -> None:
        """Upper-case integration and job names (Orchestra's spelling) match."""
        from .. import validate

        data = self._pipeline(dict(self.valid_parameters))
        data["tasks"][0]["integration"] = self.integration.upper()
        data["tasks"][0]["integration_job"] = self.job.upper()
        assert validate(self._host(), data) == []

    def test_runner_or_clear_refusal(self) -> None:
        """The runner satisfies JobRunner, or asking for it says the job cannot run."""
        from ..._errors import JobNotExecutable
        from ..._protocols import JobRunner

        host = self._host()
        job = self._job()
        if job.runner is None:
            with pytest.raises(JobNotExecutable, match="cannot execute yet"):
                host.runner(job)
        else:
            assert isinstance(host.runner(job), JobRunner)

    def test_no_overrides_DO_NOT_OVERRIDE(self) -> None:
        """Overriding a contract test needs ``@pytest.mark.xfail(reason=...)``."""
        guard_overrides(self, IntegrationJobContract)
