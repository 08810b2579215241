"""Hook implementations of the Hightouch plugin: registration and validation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestra_core import IntegrationRegistry, JobType, Pipeline, Problem, Task, hookimpl

from .params import HightouchSync


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Register the ``hightouch`` integration and its ``hightouch_sync`` job."""
    hightouch = registry.integration(
        "hightouch", description="Hightouch: sync warehouse data to business tools"
    )
    hightouch.job(
        "hightouch_sync",
        parameters=HightouchSync,
        description="Run one Hightouch sync, named by id or slug",
        runner=None,
        phase="activation",
    )


@hookimpl
def orchestra_validate_task(
    task: Task, job: JobType, parameters: Any, pipeline: Pipeline, path: str
) -> Iterable[Problem]:
    """Require exactly one of ``syncid`` and ``sync_slug`` (a blank string counts as absent)."""
    if job.integration != "hightouch" or not isinstance(parameters, HightouchSync):
        return []
    by_id, by_slug = (
        value is not None and value.strip() != ""
        for value in (parameters.syncid, parameters.sync_slug)
    )
    if not by_id and not by_slug:
        return [Problem(
            path=f"{path}.parameters",
            message="missing required parameter 'syncid' (the Hightouch sync id, or give "
            "sync_slug instead)",
            code="missing-required",
        )]
    if by_id and by_slug:
        return [Problem(
            path=f"{path}.parameters",
            message="give either syncid or sync_slug, not both",
            code="invalid-value",
        )]
    return []
