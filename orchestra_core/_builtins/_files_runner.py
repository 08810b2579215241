"""The runner of the built-in ``files_check`` job: look for files, apply the missing-files
policy, and raise the ``files.missing`` alert (through ``ctx.notify``) when they are missing."""

from __future__ import annotations

import enum
import fnmatch
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .._alerts import FILES_MISSING
from .._models import ExternalRun, JobResult, JobState
from ._file_locations import FoundFile, location_for

if TYPE_CHECKING:
    from .._protocols import TaskContext
    from .files import FilesCheckParameters

__all__ = ("FilesCheckRunner", "MissingFiles", "missing_patterns")

class MissingFiles(enum.StrEnum):
    """What a file check does when a pattern matches no file."""

    CONTINUE = "continue"  #: notify, then succeed: the pipeline goes on
    STOP = "stop"  #: notify, then fail: dependents waiting on success do not run
    WAIT = "wait"  #: look again every ``poll_every`` up to ``wait_up_to``, then ``after_wait``


#: Names listed in the run log and the alert, at most.
LISTED = 20


def missing_patterns(patterns: tuple[str, ...], found: list[FoundFile]
                     ) -> tuple[list[str], list[FoundFile]]:
    """The patterns no file matches, and the files that match one."""
    missing, matched = [], []
    for pattern in patterns:
        hits = [f for f in found if fnmatch.fnmatchcase(f.name, pattern)
                or fnmatch.fnmatchcase(f.name.rsplit("/", 1)[-1], pattern)]
        if not hits:
            missing.append(pattern)
        matched.extend(h for h in hits if h not in matched)
    return missing, matched


def _names(files: list[FoundFile]) -> str:
    shown = ", ".join(f.name for f in files[:LISTED])
    return shown + (f" and {len(files) - LISTED} more" if len(files) > LISTED else "")


class FilesCheckRunner:
    """Runs ``files_check``.

    ``start`` only records the time the check began (the waiting limit counts from it, across
    a resume); ``wait`` lists the location, keeps files modified within ``within`` of the
    engine clock's now, and succeeds once every pattern matches a file. When one does not:

    - ``on_missing: continue``: notify ``files.missing``, then succeed (metadata lists what
      is missing);
    - ``on_missing: stop``: notify, then fail (not retried);
    - ``on_missing: wait``: look again every ``poll_every`` (on the engine clock) until
      ``wait_up_to`` after the start, then notify and apply ``after_wait``.

    :param host: the :class:`~orchestra_core.Orchestra` the runner belongs to (unused).
    """

    def __init__(self, host: Any = None) -> None:
        self.host = host

    async def start(self, ctx: TaskContext) -> ExternalRun:
        """Nothing to trigger: remember when the check began."""
        return ExternalRun(id=None, started_at=ctx.now(), data={})

    async def wait(self, ctx: TaskContext, run: ExternalRun) -> JobResult:
        """Look for the files, waiting for them if the policy says so."""
        params: FilesCheckParameters = ctx.parameters
        location = location_for(params.directory, ctx.connection)
        deadline = (run.started_at or ctx.now()) + timedelta(seconds=params.wait_up_to)
        announced = False
        while True:
            now = ctx.now()
            found = await location.list(recursive=params.recursive,
                                        clock=getattr(ctx, "clock", None))
            if params.within is not None:
                oldest = now - timedelta(seconds=params.within)
                found = [f for f in found if f.modified >= oldest]
            missing, matched = missing_patterns(params.patterns, found)
            metadata: dict[str, Any] = {"directory": location.shown,
                                        "files": [f.name for f in matched],
                                        "missing": missing}
            if not missing:
                ctx.log(f"found {len(matched)} file{'s' if len(matched) != 1 else ''} in "
                        f"{location.shown}: {_names(matched)}")
                return JobResult(state=JobState.SUCCEEDED, metadata=metadata,
                                 message=f"{len(matched)} files found")
            what = (f"no file matching {', '.join(repr(p) for p in missing)} in "
                    f"{location.shown}"
                    + (f" modified in the last {_span(params.within)}"
                       if params.within is not None else ""))
            policy = params.on_missing
            if policy is MissingFiles.WAIT and now < deadline:
                if not announced:
                    ctx.log(f"{what}: waiting up to {_span(params.wait_up_to)} (until "
                            f"{deadline.isoformat()})")
                    announced = True
                await ctx.sleep(min(params.poll_every, (deadline - now).total_seconds()))
                continue
            if policy is MissingFiles.WAIT:
                what += f" after waiting {_span(params.wait_up_to)}"
                policy = params.after_wait
            go_on = policy is MissingFiles.CONTINUE
            ctx.log(f"{what}: " + ("continuing (missing files: continue)" if go_on
                                   else "stopping (missing files: stop)"), level="warning")
            notify = getattr(ctx, "notify", None)
            if notify is not None:
                await notify(FILES_MISSING, f"pipeline {ctx.pipeline!r}, task {ctx.task_id!r}:"
                             f" {what}; " + ("the run goes on" if go_on else "the task fails"),
                             {**metadata, "policy": str(params.on_missing)})
            if go_on:
                return JobResult(state=JobState.SUCCEEDED, message=f"files missing: {what}",
                                 metadata=metadata)
            return JobResult(state=JobState.FAILED, message=f"files missing: {what}",
                             metadata=metadata, retryable=False)

    async def cancel(self, ctx: TaskContext, run: ExternalRun) -> None:
        """Nothing to stop: the engine cancelling ``wait`` ends the wait."""


def _span(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"
