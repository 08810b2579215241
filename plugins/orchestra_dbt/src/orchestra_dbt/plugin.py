"""Hook implementations of the dbt Cloud plugin: registration, validation, webhooks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestra_core import (
    ConnectionSpec,
    IntegrationRegistry,
    JobType,
    Problem,
    WebhookRequest,
    hookimpl,
)

from ._api import DEFAULT_BASE_URL
from .params import DbtRunJob
from .runner import ENV_ACCOUNT, ENV_BASE_URL, ENV_TOKEN, DbtRunner
from .webhooks import ENV_SECRET, DbtWebhookHandler

#: What a dbt connection needs: an API token (credential field ``token``) and the account
#: id (option ``account_id``); the quick-start environment variables provide the same.
CONNECTION = ConnectionSpec(
    secrets=("token",),
    options=("account_id",),
    auth="token",
    base_url=DEFAULT_BASE_URL,
    env={"token": ENV_TOKEN, "account_id": ENV_ACCOUNT, "base_url": ENV_BASE_URL,
         "webhook_secret": ENV_SECRET},
)


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Register the ``dbt`` integration and its ``dbt_runjob`` job (alias ``dbt_run_job``)."""
    dbt = registry.integration(
        "dbt", description="dbt Cloud: run dbt jobs", connection=CONNECTION,
        simulator="orchestra_dbt.testing:DbtCloudSimulator",
        webhooks="orchestra_dbt.webhook_api:register_webhook",
    )
    dbt.job(
        "dbt_runjob",
        parameters=DbtRunJob,
        description="Run one dbt Cloud job",
        runner=DbtRunner,
        phase="processing",
        aliases=("dbt_run_job",),
    )


@hookimpl
def orchestra_validate_task(job: JobType, parameters: Any, path: str) -> Iterable[Problem]:
    """Check what the parameter types cannot: positive ids and durations, a non-empty cause,
    non-empty steps."""
    if job.integration != "dbt" or not isinstance(parameters, DbtRunJob):
        return []
    base = f"{path}.parameters"
    problems = []
    for name in ("jobid", "account_id"):
        value = getattr(parameters, name)
        if value is not None and value <= 0:
            problems.append(Problem(path=f"{base}.{name}", code="invalid-value",
                                    message=f"{name} must be a positive integer, got {value}"))
    if parameters.poll_interval <= 0:
        problems.append(Problem(path=f"{base}.poll_interval", code="invalid-value",
                                message="poll_interval must be more than 0 seconds, got "
                                f"{parameters.poll_interval:g}"))
    if parameters.wait_timeout is not None and parameters.wait_timeout <= 0:
        problems.append(Problem(path=f"{base}.wait_timeout", code="invalid-value",
                                message="wait_timeout must be more than 0 seconds, got "
                                f"{parameters.wait_timeout:g}"))
    if not parameters.cause.strip():
        problems.append(Problem(path=f"{base}.cause", code="invalid-value",
                                message="cause must not be empty (dbt Cloud requires one)"))
    for i, step in enumerate(parameters.steps_override or ()):
        if not step.strip():
            problems.append(Problem(path=f"{base}.steps_override[{i}]", code="invalid-value",
                                    message="a step must not be empty"))
    if parameters.git_branch is not None and not parameters.git_branch.strip():
        problems.append(Problem(path=f"{base}.git_branch", code="invalid-value",
                                message="git_branch must not be empty"))
    return problems


@hookimpl
def orchestra_identify_webhook(request: WebhookRequest) -> DbtWebhookHandler | None:
    """The dbt Cloud handler for requests to ``/webhooks/dbt`` (and its per-connection
    path); its secrets are looked up per request."""
    if request.integration != "dbt":
        return None
    return DbtWebhookHandler()
