"""Hook implementations of the Hightouch plugin: registration, validation, alert webhooks."""

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
from .params import HightouchSync
from .runner import HightouchSyncRunner
from .webhooks import HightouchAlertHandler


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Register the ``hightouch`` integration and its ``hightouch_sync`` job."""
    hightouch = registry.integration(
        "hightouch",
        description="Hightouch: sync warehouse data to business tools",
        connection=ConnectionSpec(secrets=("token",), auth="bearer",
                                  base_url=DEFAULT_BASE_URL, env=dict(ENV)),
        simulator="orchestra_hightouch.testing:HightouchSimulator",
    )
    hightouch.job(
        "hightouch_sync",
        parameters=HightouchSync,
        description="Run one Hightouch sync, named by id or slug",
        runner=HightouchSyncRunner,
        phase="activation",
    )


@hookimpl
def orchestra_validate_task(
    task: Task, job: JobType, parameters: Any, pipeline: Pipeline, path: str
) -> Iterable[Problem]:
    """Require exactly one of ``syncid`` and ``sync_slug`` (a blank string counts as absent)
    and a positive ``poll_interval``."""
    if job.integration != "hightouch" or not isinstance(parameters, HightouchSync):
        return []
    problems = []
    if parameters.poll_interval <= 0:
        problems.append(Problem(
            path=f"{path}.parameters.poll_interval",
            message=f"poll_interval must be more than 0 seconds, got {parameters.poll_interval:g}",
            code="invalid-value",
        ))
    by_id, by_slug = (
        value is not None and value.strip() != ""
        for value in (parameters.syncid, parameters.sync_slug)
    )
    if not by_id and not by_slug:
        problems.append(Problem(
            path=f"{path}.parameters",
            message="missing required parameter 'syncid' (the Hightouch sync id, or give "
            "sync_slug instead)",
            code="missing-required",
        ))
    elif by_id and by_slug:
        problems.append(Problem(
            path=f"{path}.parameters",
            message="give either syncid or sync_slug, not both",
            code="invalid-value",
        ))
    return problems


@hookimpl
def orchestra_identify_webhook(request: WebhookRequest) -> HightouchAlertHandler | None:
    """Handle ``POST /webhooks/hightouch[/<connection>]``: alert webhooks carrying the shared
    header secret."""
    if request.integration.lower() != "hightouch":
        return None
    return HightouchAlertHandler()
