"""Hook implementations of the Amperity plugin: registration and validation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestra_core import (
    ConnectionSpec,
    IntegrationRegistry,
    JobType,
    Pipeline,
    Problem,
    Task,
    hookimpl,
)

from .params import (
    RUN_MODES,
    AmperityCampaign,
    AmperityCourierGroup,
    AmperityOrchestrationGroup,
    AmperityWorkflow,
    is_iso_datetime,
)

#: The job whose runner owns a host's OAuth access tokens; the runners of the other jobs of
#: that host share them (one token per API root, tenant and client for the whole host).
TOKEN_OWNER = "amperity_courier_group"


def _owner_runner(host: Any) -> Any:
    from .runner import AmperityWorkflowRunner

    return AmperityWorkflowRunner(host)


def _runner(host: Any) -> Any:
    from .runner import AmperityWorkflowRunner

    owner = host.find_job("amperity", TOKEN_OWNER)
    tokens = getattr(host.runner(owner), "tokens", None) if owner is not None else None
    return AmperityWorkflowRunner(host, tokens=tokens)


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Register the ``amperity`` integration and its three workflow jobs."""
    amperity = registry.integration(
        "amperity",
        description="Amperity: run courier groups, orchestration groups, campaigns",
        # A credential holds either "token" or "client_id" and "client_secret": the spec
        # cannot say "one of", so the runner checks it (with a message naming both forms).
        connection=ConnectionSpec(
            secrets=(),
            options=("tenant",),
            base_url="https://app.amperity.com/api",
            env={"token": "AMPERITY_TOKEN", "client_id": "AMPERITY_CLIENT_ID",
                 "client_secret": "AMPERITY_CLIENT_SECRET", "tenant": "AMPERITY_TENANT",
                 "base_url": "AMPERITY_BASE_URL"},
        ),
        simulator="orchestra_amperity.testing:AmperitySimulator",
    )
    amperity.job(
        "amperity_courier_group",
        parameters=AmperityCourierGroup,
        description="Run an Amperity courier group (load source data into Amperity)",
        runner=_owner_runner,
        phase="ingestion",
    )
    amperity.job(
        "amperity_orchestration_group",
        parameters=AmperityOrchestrationGroup,
        description="Run an Amperity orchestration group (send data to destinations)",
        runner=_runner,
        phase="activation",
    )
    amperity.job(
        "amperity_campaign",
        parameters=AmperityCampaign,
        description="Send an Amperity campaign",
        runner=_runner,
        phase="activation",
    )


@hookimpl
def orchestra_validate_task(
    task: Task, job: JobType, parameters: Any, pipeline: Pipeline, path: str
) -> Iterable[Problem]:
    """Check the config id prefix, and for courier groups the run mode and time window."""
    if job.integration != "amperity" or not isinstance(parameters, AmperityWorkflow):
        return []
    base = f"{path}.parameters"
    problems = []
    config_id = parameters.config_id
    prefix = parameters.PREFIX
    if not (config_id.startswith(prefix) and len(config_id) > len(prefix)):
        article = "an" if parameters.KIND[0] in "aeiou" else "a"
        problems.append(Problem(
            path=f"{base}.config_id",
            message=f"expected {article} {parameters.KIND} id starting with {prefix!r}, "
            f"got {config_id!r}",
            code="invalid-value",
        ))
    if isinstance(parameters, AmperityCourierGroup):
        if parameters.run_mode is not None and parameters.run_mode not in RUN_MODES:
            problems.append(Problem(
                path=f"{base}.run_mode",
                message=f"expected one of {', '.join(RUN_MODES)}, got {parameters.run_mode!r}",
                code="invalid-value",
            ))
        for name in ("range_from", "range_to"):
            value = getattr(parameters, name)
            if value is not None and not is_iso_datetime(value):
                problems.append(Problem(
                    path=f"{base}.{name}",
                    message="expected an ISO-8601 date-time such as 2026-03-01T00:00:00Z, "
                    f"got {value!r}",
                    code="invalid-value",
                ))
        if parameters.range_to is not None and parameters.range_from is None:
            problems.append(Problem(
                path=f"{base}.range_to",
                message="range_to needs range_from",
                code="missing-required",
            ))
    return problems
