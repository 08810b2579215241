"""Built-in ``files`` integration (seed 001): wait for files before a pipeline goes on.

``files_check`` looks for files matching glob patterns in a directory, optionally only
those modified within a look-back window ("only files dropped in the past day"), and
applies the missing-files policy: notify and continue, notify and stop, or wait up to a
limit (then notify and stop, or continue). See ``docs/workflow-rules.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from attrs import frozen

from .._config import parameter
from .._markers import hookimpl, validates_parameters
from .._models import Problem
from .._pipeline import Pipeline, Task
from .._registry import IntegrationRegistry, JobType
from ._files_runner import FilesCheckRunner, MissingFiles

__all__ = ("FilesCheckParameters", "MissingFiles")


@frozen(kw_only=True)
class FilesCheckParameters:
    """Parameters of ``files_check``."""

    directory: str = parameter(aliases=("path", "location"),
                               help="the directory to look in: a path or a file:// URL")
    patterns: tuple[str, ...] = parameter(
        aliases=("pattern", "files"),
        help="glob patterns (e.g. 'orders_*.csv'); each must match at least one file")
    within: float | None = parameter(
        default=None, aliases=("look_back", "max_age"),
        help="only files modified this long ago at most (e.g. '1d', '12h')")
    on_missing: MissingFiles = parameter(
        default=MissingFiles.STOP, aliases=("missing_files",),
        help="continue (notify, go on), stop (notify, fail) or wait (up to wait_up_to)")
    wait_up_to: float = parameter(default=3600.0, aliases=("wait_limit",),
                                  help="with on_missing: wait, how long to wait (e.g. '2h')")
    poll_every: float = parameter(default=60.0,
                                  help="with on_missing: wait, seconds between looks")
    after_wait: MissingFiles = parameter(
        default=MissingFiles.STOP,
        help="with on_missing: wait, what to do when the files are still missing: stop or "
        "continue")
    recursive: bool = parameter(default=False, help="look in sub-directories too")


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Register the ``files`` integration and its ``files_check`` job."""
    files = registry.integration(
        "files", description="Files in a directory: wait for them before going on")
    files.job(
        "files_check",
        parameters=FilesCheckParameters,
        description="Check that files matching patterns arrived (within a look-back "
        "window); notify and continue, notify and stop, or wait when they are missing",
        runner=FilesCheckRunner,
        aliases=("check_files", "wait_for_files"),
        phase="ingestion",
    )


@hookimpl
@validates_parameters(FilesCheckParameters)
def orchestra_validate_task(
    task: Task, job: JobType, parameters: Any, pipeline: Pipeline, path: str
) -> Iterable[Problem]:
    """Reject empty patterns and policies that make no sense together."""
    if job.integration != "files" or not isinstance(parameters, FilesCheckParameters):
        return []
    where = f"{path}.parameters"
    problems = []
    if not parameters.directory.strip():
        problems.append(Problem(path=f"{where}.directory", message="directory must not be "
                                "empty", code="invalid-value"))
    if not parameters.patterns or any(not p.strip() for p in parameters.patterns):
        problems.append(Problem(path=f"{where}.patterns", message="give at least one "
                                "non-empty glob pattern", code="invalid-value"))
    if parameters.after_wait is MissingFiles.WAIT:
        problems.append(Problem(path=f"{where}.after_wait", message="after_wait is what "
                                "happens once waiting is over: stop or continue",
                                code="invalid-value"))
    if parameters.on_missing is MissingFiles.WAIT and parameters.poll_every <= 0:
        problems.append(Problem(path=f"{where}.poll_every", message="poll_every must be > 0",
                                code="invalid-value"))
    return problems
