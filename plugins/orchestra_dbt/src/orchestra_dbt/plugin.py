"""Hook implementations of the dbt Cloud plugin: registration."""

from __future__ import annotations

from orchestra_core import IntegrationRegistry, hookimpl

from .params import DbtRunJob


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Register the ``dbt`` integration and its ``dbt_runjob`` job (alias ``dbt_run_job``)."""
    dbt = registry.integration("dbt", description="dbt Cloud: run dbt jobs")
    dbt.job(
        "dbt_runjob",
        parameters=DbtRunJob,
        description="Run one dbt Cloud job",
        runner=None,
        phase="processing",
        aliases=("dbt_run_job",),
    )
