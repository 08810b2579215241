"""The runner of the built-in ``noop`` integration.

Kept as cheap as possible: it is what the 10,000-task benchmarks run, so ``start`` and
``wait`` do no logging (unless ``message`` is set) and no I/O beyond the optional sleep.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._models import ExternalRun, JobResult, JobState

if TYPE_CHECKING:
    from .._protocols import TaskContext

__all__ = ("NoopRunner",)

_SUCCEEDED = JobResult(state=JobState.SUCCEEDED)


class NoopRunner:
    """Runs ``noop_run``: succeed (or fail, on request) after an optional sleep.

    - ``sleep``: seconds to wait in ``wait``, on the engine's clock (``ctx.sleep``);
    - ``fail``: fail every attempt (``retryable=None``: the task's retry policy decides);
    - ``fail_times``: fail attempts ``1..fail_times`` (``retryable=True``), then succeed;
    - ``message``: written to the run log when the job starts.

    :param host: the :class:`~orchestra_core.Orchestra` the runner belongs to (unused).
    """

    def __init__(self, host: Any = None) -> None:
        self.host = host

    async def start(self, ctx: TaskContext) -> ExternalRun:
        """Nothing to trigger: log ``message`` if set and return an id-less run."""
        message = getattr(ctx.parameters, "message", "")
        if message:
            ctx.log(message)
        return ExternalRun(id=None, started_at=ctx.now(), data={})

    async def wait(self, ctx: TaskContext, run: ExternalRun) -> JobResult:
        """Sleep ``sleep`` seconds (if any), then fail or succeed as the parameters say."""
        params = ctx.parameters
        if params is None:
            return _SUCCEEDED
        if params.sleep > 0:
            await ctx.sleep(params.sleep)
        if params.fail:
            return JobResult(state=JobState.FAILED, message="failing on purpose (fail: true)")
        if ctx.attempt <= params.fail_times:
            return JobResult(
                state=JobState.FAILED,
                message=f"failing attempt {ctx.attempt} of {params.fail_times} on purpose",
                retryable=True,
            )
        return _SUCCEEDED

    async def cancel(self, ctx: TaskContext, run: ExternalRun) -> None:
        """Nothing to stop: the engine cancelling ``wait`` ends the sleep."""
