"""Hook implementations of the Fivetran plugin: registration, validation, webhooks."""

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
    WebhookRequest,
    hookimpl,
)

from ._api import DEFAULT_BASE_URL, ENV
from .params import CONNECTION_ID, FivetranSyncAll
from .runner import FivetranSyncRunner
from .webhooks import FivetranWebhookHandler


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Register the ``fivetran`` integration and its ``fivetran_sync_all`` job."""
    fivetran = registry.integration(
        "fivetran",
        description="Fivetran connections: sync data from sources to a warehouse",
        connection=ConnectionSpec(secrets=("api_key", "api_secret"), auth="basic",
                                  base_url=DEFAULT_BASE_URL, env=dict(ENV)),
        simulator="orchestra_fivetran.testing:FivetranSimulator",
        webhooks="orchestra_fivetran.webhook_api:register_webhook",
    )
    fivetran.job(
        "fivetran_sync_all",
        parameters=FivetranSyncAll,
        description="Sync all tables of one Fivetran connection",
        runner=FivetranSyncRunner,
        phase="ingestion",
    )


@hookimpl
def orchestra_validate_task(
    task: Task, job: JobType, parameters: Any, pipeline: Pipeline, path: str
) -> Iterable[Problem]:
    """Check the shape of the Fivetran connection id."""
    if job.integration != "fivetran" or not isinstance(parameters, FivetranSyncAll):
        return []
    value = parameters.connectionid
    if CONNECTION_ID.fullmatch(value):
        return []
    return [Problem(
        path=f"{path}.parameters.connectionid",
        message=f"invalid Fivetran connection id {value!r}: expected letters, digits and "
        "underscores (e.g. 'ambush_prettiest')",
        code="invalid-value",
    )]


@hookimpl
def orchestra_identify_webhook(request: WebhookRequest) -> FivetranWebhookHandler | None:
    """Handle ``POST /webhooks/fivetran[/<connection>]``: deliveries verified with the
    webhook secrets of the stored Fivetran connections or ``FIVETRAN_WEBHOOK_SECRET``."""
    if request.integration.lower() != "fivetran":
        return None
    return FivetranWebhookHandler()
