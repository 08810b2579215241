"""A test integration ("fake") whose runner records every call, for the engine tests."""

from __future__ import annotations

from attrs import frozen

from orchestra_core import ExternalRun, JobResult, JobState, TaskFailed, hookimpl, parameter


@frozen(kw_only=True)
class FakeParams:
    """Parameters of fake_job."""

    duration: float = parameter(default=1.0, help="seconds the job takes")
    fail: bool = parameter(default=False, help="fail")
    fail_times: int = parameter(default=0, help="fail this many attempts first")
    retryable: bool = parameter(default=True, help="whether a failure may be retried")


class FakeRunner:
    """Counts starts per idempotency key; remembers cancels."""

    def __init__(self, host: object) -> None:
        self.starts: list[str] = []
        self.waits: list[str] = []
        self.cancels: list[str] = []

    async def start(self, ctx):
        self.starts.append(ctx.idempotency_key)
        return ExternalRun(id=f"ext-{ctx.task_id}-{ctx.attempt}", started_at=ctx.now())

    async def wait(self, ctx, run):
        self.waits.append(run.id)
        p = ctx.parameters
        await ctx.sleep(p.duration)
        if p.fail or ctx.attempt <= p.fail_times:
            if not p.retryable:
                raise TaskFailed("configuration is wrong", retryable=False)
            return JobResult(state=JobState.FAILED, message=f"attempt {ctx.attempt} failed")
        return JobResult(state=JobState.SUCCEEDED, metadata={"rows": 3}, assets=("t.x",))

    async def cancel(self, ctx, run):
        self.cancels.append(run.id)


class FakePlugin:
    """Registers integration ``fake`` (job ``fake_job``, phase from the task)."""

    orchestra_plugin_name = "fake"

    @hookimpl
    def orchestra_register_integrations(self, registry):
        fake = registry.integration("fake", description="test double")
        fake.job("fake_job", parameters=FakeParams, description="A fake job", runner=FakeRunner)
        fake.job("fake_activation", parameters=FakeParams, description="A fake delivery",
                 runner=FakeRunner, phase="activation")
        fake.job("fake_ingest", parameters=FakeParams, description="A fake ingestion",
                 runner=FakeRunner, phase="ingestion")


def task(task_id: str, job: str = "fake_job", **extra: object) -> dict:
    """A task dict for the fake integration."""
    params = {k: extra.pop(k) for k in ("duration", "fail", "fail_times", "retryable")
              if k in extra}
    return {"id": task_id, "integration": "fake", "integration_job": job,
            "parameters": params, **extra}
