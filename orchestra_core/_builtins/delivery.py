"""Built-in ``orchestration`` integration (data delivery) and the ``filedrop``, ``http`` and
``sql`` destination types, registered like any plugin."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._config import structure
from .._delivery.destinations.filedrop import FileDrop, FileDropOptions
from .._delivery.destinations.http import HttpDestination, HttpOptions
from .._delivery.destinations.sql import SqlDestination, SqlOptions
from .._delivery.model import InlineDestination, OrchestrationParameters
from .._delivery.runner import OrchestrationRunner
from .._delivery.templates import TemplateSpec, normalize_template
from .._markers import hookimpl
from .._models import Problem
from .._pipeline import Phase, Pipeline, Task
from .._registry import ConnectionSpec, DestinationRegistry, IntegrationRegistry, JobType

__all__ = ()

SIMULATOR = "orchestra_core.testing._simulator._receiver:DeliverySimulator"


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Register the ``orchestration`` integration and its ``orchestration_run`` job."""
    orchestration = registry.integration(
        "orchestration", aliases=("delivery",),
        description="Deliver a query's results or a database export to a destination",
        connection=ConnectionSpec(options=("url",)), simulator=SIMULATOR)
    orchestration.job(
        "orchestration_run", parameters=OrchestrationParameters,
        description="Send a source through a data template to a destination",
        runner=OrchestrationRunner, phase=Phase.ACTIVATION,
        aliases=("deliver", "orchestration"))


@hookimpl
def orchestra_register_destinations(registry: DestinationRegistry) -> None:
    """Register ``filedrop``, ``http`` and ``sql``."""
    registry.add("filedrop", factory=FileDrop, options=FileDropOptions,
                 description="Files in a local or mounted directory (atomic renames)")
    registry.add("http", factory=HttpDestination, options=HttpOptions,
                 description="JSON record batches POSTed to a REST API")
    registry.add("sql", factory=SqlDestination, options=SqlOptions,
                 description="Rows into a table of a SQL database (SQLite, PostgreSQL)")


@hookimpl
def orchestra_validate_task(task: Task, job: JobType, parameters: Any, pipeline: Pipeline,
                            path: str) -> Iterable[Problem]:
    """The source, template and inline destination of an orchestration, located."""
    if not isinstance(parameters, OrchestrationParameters):
        return []
    base = f"{path}.parameters"
    problems: list[Problem] = []
    source = parameters.source
    if (source.query is None) == (not source.tables):
        problems.append(Problem(path=f"{base}.source", code="invalid-value",
                                message="give exactly one of query or tables"))
    if source.query is not None and "${" in source.query:
        problems.append(Problem(
            path=f"{base}.source.query", code="invalid-value",
            message="placeholders are not pasted into SQL: bind them (write :name in the "
            "query and name: ${...} or run.date under source.parameters)"))
    if source.batch_size < 1:
        problems.append(Problem(path=f"{base}.source.batch_size", code="invalid-value",
                                message="must be at least 1"))
    raw = parameters.template
    if raw is not None and not isinstance(raw, str):
        tmpl, found = structure(normalize_template(raw), TemplateSpec, f"{base}.template")
        problems += found
        if tmpl is not None:
            problems += [Problem(path=f"{base}.template.{f}", message=m, code="invalid-value")
                         for f, m in tmpl.problems()]
    dest = parameters.destination
    if not isinstance(dest, str):
        _, found = structure(dest, InlineDestination, f"{base}.destination")
        problems += found
    return problems
