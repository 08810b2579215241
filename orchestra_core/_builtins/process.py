"""Built-in ``process`` integration: run a local script or command, or a git repo's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrs import frozen

from .._config import parameter
from .._markers import hookimpl, validates_parameters
from .._models import Problem
from .._pipeline import Pipeline, Task
from .._registry import IntegrationRegistry, JobType

__all__ = ("ProcessParameters",)


@frozen(kw_only=True)
class ProcessParameters:
    """Parameters of ``process_run``."""

    path: str = parameter(
        aliases=("process_path", "command"),
        help="a script (.py runs with this Python), an executable, or a git repository URL",
    )
    arguments: str = parameter(
        default="", aliases=("args",), help="passed to the process as one raw string (JSON "
        "recommended)"
    )
    git: bool = parameter(default=False, aliases=("is_git_repo",),
                          help="path is a git repository to clone, then run its entry script")
    entry: str = parameter(default="main.py", help="script to run inside a cloned repository")
    blocking: bool = parameter(default=False, aliases=("is_blocking",),
                               help="run alone: wait for running processes, start nothing beside")
    env: Mapping[str, str] = parameter(factory=dict, help="extra environment variables")
    workdir: str | None = parameter(default=None, help="working directory")


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Register the ``process`` integration and its ``process_run`` job."""
    process = registry.integration(
        "process", description="Local scripts and commands, or scripts from a git repository"
    )
    process.job(
        "process_run",
        parameters=ProcessParameters,
        description="Run a script or command (or a git repository's entry script)",
        runner=_process_runner,
        aliases=("run", "run_process"),
    )


def _process_runner(host: Any) -> Any:
    # the runner (subprocess, anyio, the host lock) is imported when a process first runs
    from ._process_runner import ProcessRunner

    return ProcessRunner(host)


@hookimpl
@validates_parameters(ProcessParameters)
def orchestra_validate_task(
    task: Task, job: JobType, parameters: Any, pipeline: Pipeline, path: str
) -> Iterable[Problem]:
    """Reject an empty path and a git entry script outside the repository."""
    if job.integration != "process" or not isinstance(parameters, ProcessParameters):
        return []
    problems = []
    if not parameters.path.strip():
        problems.append(Problem(path=f"{path}.parameters.path", message="path must not be empty",
                                code="invalid-value"))
    if parameters.entry.startswith("/") or ".." in parameters.entry.split("/"):
        problems.append(Problem(path=f"{path}.parameters.entry",
                                message="entry must be a relative path inside the repository",
                                code="invalid-value"))
    return problems
