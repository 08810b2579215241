"""Built-in ``orchestration`` integration (data delivery) and the ``filedrop``, ``http`` and
``sql`` destination types, registered like any plugin."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._config import structure
from .._delivery.destinations.filedrop_options import FileDropOptions
from .._delivery.destinations.http_options import HttpOptions
from .._delivery.destinations.sql_options import SqlOptions
from .._delivery.model import InlineDestination, OrchestrationParameters
from .._markers import hookimpl, validates_parameters
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
        runner=_orchestration_runner, phase=Phase.ACTIVATION,
        aliases=("deliver", "orchestration"))


def _orchestration_runner(host: Any) -> Any:
    # the runner imports the secrets and the store: loaded when a delivery first runs
    from .._delivery.runner import OrchestrationRunner

    return OrchestrationRunner(host)


@hookimpl
def orchestra_register_destinations(registry: DestinationRegistry) -> None:
    """Register ``filedrop``, ``http`` and ``sql``."""
    registry.add("filedrop", factory=_filedrop_destination, options=FileDropOptions,
                 description="Files in a local or mounted directory (atomic renames)")
    registry.add("http", factory=_http_destination, options=HttpOptions,
                 description="JSON record batches POSTed to a REST API")
    registry.add("sql", factory=_sql_destination, options=SqlOptions,
                 description="Rows into a table of a SQL database (SQLite, PostgreSQL)")


# each destination's module (and what it imports: SQLAlchemy, the HTTP layer, the templates)
# is imported when a destination of its type is made, not when the type is registered

def _filedrop_destination(options: FileDropOptions, context: Any = None) -> Any:
    from .._delivery.destinations.filedrop import FileDrop

    return FileDrop(options, context=context)


def _http_destination(options: HttpOptions, context: Any = None) -> Any:
    from .._delivery.destinations.http import HttpDestination

    return HttpDestination(options, context=context)


def _sql_destination(options: SqlOptions, context: Any = None) -> Any:
    # SQLAlchemy is imported when a sql destination is made, not when it is registered
    from .._delivery.destinations.sql import SqlDestination

    return SqlDestination(options, context=context)


@hookimpl
@validates_parameters(OrchestrationParameters)
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
        problems += _template_problems(raw, f"{base}.template")
    dest = parameters.destination
    if not isinstance(dest, str):
        problems += _destination_problems(dest, f"{base}.destination")
    return problems


@hookimpl
def orchestra_validate_pipeline(pipeline: Pipeline) -> Iterable[Problem]:
    """The file's ``destinations`` and ``data_templates`` sections."""
    problems: list[Problem] = []
    for name, raw in pipeline.destinations.items():
        problems += _destination_problems(raw, f"$.destinations.{name}")
    for name, raw in pipeline.data_templates.items():
        problems += _template_problems(raw, f"$.data_templates.{name}")
    return problems


def _template_problems(raw: Any, path: str) -> list[Problem]:
    from .._delivery.templates import TemplateSpec, normalize_template

    tmpl, found = structure(normalize_template(raw), TemplateSpec, path)
    if tmpl is not None:
        found += [Problem(path=f"{path}.{f}", message=m, code="invalid-value")
                  for f, m in tmpl.problems()]
    return found


#: the option models of the core's types, checked when the file is validated (a plugin's
#: type is checked when the orchestration runs, or when it is stored)
_CORE_OPTIONS = {"filedrop": FileDropOptions, "http": HttpOptions, "sql": SqlOptions}


def _destination_problems(raw: Any, path: str) -> list[Problem]:
    inline, found = structure(raw, InlineDestination, path)
    if inline is not None and inline.type.lower() in _CORE_OPTIONS:
        _, more = structure(dict(inline.options), _CORE_OPTIONS[inline.type.lower()],
                            f"{path}.options", noun="option")
        found += more
    return found
