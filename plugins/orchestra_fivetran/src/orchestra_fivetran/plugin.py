"""Hook implementations of the Fivetran plugin: registration and validation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestra_core import IntegrationRegistry, JobType, Pipeline, Problem, Task, hookimpl

from .params import CONNECTION_ID, FivetranSyncAll


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Register the ``fivetran`` integration and its ``fivetran_sync_all`` job."""
    fivetran = registry.integration(
        "fivetran", description="Fivetran connections: sync data from sources to a warehouse"
    )
    fivetran.job(
        "fivetran_sync_all",
        parameters=FivetranSyncAll,
        description="Sync all tables of one Fivetran connection",
        runner=None,
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
