"""Built-in ``http`` integration (alias ``sdk``): call an HTTP endpoint, optionally poll it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from attrs import frozen

from .._config import parameter
from .._markers import hookimpl, validates_parameters
from .._models import Problem
from .._pipeline import Pipeline, Task
from .._registry import IntegrationRegistry, JobType

__all__ = ("HttpParameters", "HttpPoll")

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


@frozen(kw_only=True)
class HttpPoll:
    """Poll a status URL until a JSON field reaches a success or failure value."""

    endpoint: str = parameter(help="path (joined to base_url) or full URL; {id} is the run id")
    field: str = parameter(help="dotted path of the status field in the JSON response")
    success: tuple[str, ...] = parameter(help="values meaning the job succeeded")
    failure: tuple[str, ...] = parameter(default=(), help="values meaning the job failed")
    interval: float = parameter(default=5.0, help="seconds between polls")
    id_field: str | None = parameter(
        default=None, help="dotted path of the run id in the trigger response"
    )


@frozen(kw_only=True)
class HttpParameters:
    """Parameters of ``http_request``. ``base_url``, ``method`` and ``endpoint`` are required
    unless the task names a connection with ``secondary_configuration_id``."""

    base_url: str | None = parameter(default=None, aliases=("url",), help="e.g. https://api.x.io")
    method: str | None = parameter(default=None, help="GET, POST, PUT, PATCH, DELETE or HEAD")
    endpoint: str | None = parameter(default=None, aliases=("path",), help="e.g. /v1/jobs")
    headers: Mapping[str, Any] = parameter(factory=dict, help="extra request headers")
    query: Mapping[str, Any] = parameter(factory=dict, help="query string parameters")
    body: Any = parameter(default=None, aliases=("json",), help="JSON request body")
    expected_status: tuple[int, ...] = parameter(
        default=(), help="status codes meaning success (default: any 2xx)"
    )
    poll: HttpPoll | None = parameter(default=None, help="poll a status URL until done")


def _http_runner(host: Any) -> Any:
    """The ``http_request`` runner of *host* (httpx is imported when a host first needs it,
    not when the integration is registered)."""
    from .._vendor_http._httpx_cli import defer_httpx_cli

    defer_httpx_cli()  # httpx without its command-line client (click, rich, pygments)
    from ._http_runner import HttpRunner

    return HttpRunner(host)


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Register the ``http`` integration (alias ``sdk``) and its ``http_request`` job."""
    http = registry.integration(
        "http", description="Any HTTP API: call an endpoint, optionally poll", aliases=("sdk",)
    )
    http.job(
        "http_request",
        parameters=HttpParameters,
        description="Send one HTTP request; optionally poll a status URL until done",
        runner=_http_runner,
        aliases=("request", "sdk_request"),
    )


@hookimpl
@validates_parameters(HttpParameters)
def orchestra_validate_task(
    task: Task, job: JobType, parameters: Any, pipeline: Pipeline, path: str
) -> Iterable[Problem]:
    """Seed 003's rule: base_url, method and endpoint, unless a connection is named."""
    if job.integration != "http" or not isinstance(parameters, HttpParameters):
        return []
    problems = []
    base = f"{path}.parameters"
    if task.secondary_configuration_id is None:
        for name in ("base_url", "method", "endpoint"):
            if getattr(parameters, name) is None:
                problems.append(Problem(
                    path=base,
                    message=f"missing required parameter {name!r}: provide {name} or "
                    "secondary_configuration_id (a stored connection)",
                    code="missing-required",
                ))
    if parameters.method is not None and parameters.method.upper() not in METHODS:
        problems.append(Problem(path=f"{base}.method",
                                message=f"expected one of {', '.join(METHODS)}, got "
                                f"{parameters.method!r}", code="invalid-value"))
    if parameters.base_url is not None:
        parts = urlsplit(parameters.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(Problem(path=f"{base}.base_url",
                                    message=f"expected an http:// or https:// URL, got "
                                    f"{parameters.base_url!r}", code="invalid-value"))
    for i, code in enumerate(parameters.expected_status):
        if not 100 <= code <= 599:
            problems.append(Problem(path=f"{base}.expected_status[{i}]",
                                    message=f"not an HTTP status code: {code}",
                                    code="invalid-value"))
    return problems
