"""Hook implementations of the Census plugin: registration."""

from __future__ import annotations

from orchestra_core import IntegrationRegistry, hookimpl

from .params import CensusSync


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Register the ``census`` integration and its ``census_sync`` job."""
    census = registry.integration(
        "census", description="Census: sync warehouse data to business tools"
    )
    census.job(
        "census_sync",
        parameters=CensusSync,
        description="Run one Census sync",
        runner=None,
        phase="activation",
    )
