"""Hook implementations of the Census plugin: registration, validation, webhooks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestra_core import ConnectionSpec, IntegrationRegistry, Problem, hookimpl

from .params import CensusSync


def _runner(host: Any) -> Any:
    from .runner import CensusSyncRunner

    return CensusSyncRunner(host)


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Register the ``census`` integration and its ``census_sync`` job."""
    census = registry.integration(
        "census",
        description="Census: sync warehouse data to business tools",
        connection=ConnectionSpec(
            secrets=("token",),
            auth="bearer",
            base_url="https://app.getcensus.com/api/v1",
            env={"token": "CENSUS_API_TOKEN", "base_url": "CENSUS_BASE_URL"},
        ),
        simulator="orchestra_census.testing:CensusSimulator",
        webhooks="orchestra_census.webhook_api:register_webhook",
    )
    census.job(
        "census_sync",
        parameters=CensusSync,
        description="Run one Census sync",
        runner=_runner,
        phase="activation",
    )


@hookimpl
def orchestra_validate_task(job: Any, parameters: Any, path: str) -> Iterable[Problem]:
    """``syncid`` must be a positive id and ``poll_interval`` positive."""
    if job.integration != "census" or not isinstance(parameters, CensusSync):
        return []
    problems = []
    if parameters.syncid <= 0:
        problems.append(Problem(path=f"{path}.parameters.syncid",
                                message=f"a Census sync id is a positive integer, got "
                                f"{parameters.syncid}", code="invalid-value"))
    if parameters.poll_interval <= 0:
        problems.append(Problem(path=f"{path}.parameters.poll_interval",
                                message=f"poll_interval must be more than 0 seconds, got "
                                f"{parameters.poll_interval:g}", code="invalid-value"))
    return problems


@hookimpl
def orchestra_identify_webhook(request: Any) -> Any:
    """The Census handler for requests to ``/webhooks/census`` (and
    ``/webhooks/census/<connection>``); it verifies ``X-Signature`` with the secrets of
    the connection's credential (field ``webhook_secret``) or ``CENSUS_WEBHOOK_SECRET``."""
    if request.integration.lower() != "census":
        return None
    from .webhooks import CensusWebhookHandler

    return CensusWebhookHandler()
