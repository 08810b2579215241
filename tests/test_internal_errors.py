"""An unexpected exception in the engine (a bug of ours or of a plugin) fails the task and the
run, with the traceback in the run log: never a run left ``running``."""

from __future__ import annotations

import pytest

from orchestra_core import ExternalRun, Orchestra, OrchestraError, hookimpl
from orchestra_core._engine import Engine
from orchestra_core._store import Store
from orchestra_core.testing import FakeClock

from ._engine_kit import FakeParams, FakePlugin, task


class BrokenRunner:
    """A plugin bug: ``wait`` returns nothing instead of a JobResult."""

    def __init__(self, host: object) -> None:
        pass

    async def start(self, ctx):
        return ExternalRun(id="x", started_at=ctx.now())

    async def wait(self, ctx, run):
        return None

    async def cancel(self, ctx, run):
        pass


class BrokenPlugin:
    orchestra_plugin_name = "broken"

    @hookimpl
    def orchestra_register_integrations(self, registry):
        registry.integration("broken", description="a buggy plugin").job(
            "broken_job", parameters=FakeParams, description="returns None", runner=BrokenRunner)


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def setup(tmp_path):
    store = Store.open(str(tmp_path / "o.db"))
    host = Orchestra(plugins=[FakePlugin(), BrokenPlugin()], load_entrypoints=False)
    clock = FakeClock()
    yield host, Engine(host, store, clock=clock), clock, store
    store.close()


def _log(store, run_id):
    return "\n".join(line["message"] for line in store.logs(run_id=run_id))


async def test_a_task_that_raises_fails_with_internal_error_and_the_run_ends(setup):
    host, engine, clock, store = setup
    p = host.pipeline_from_data({"name": "p", "tasks": [
        {"id": "bad", "integration": "broken", "integration_job": "broken_job"},
        task("good", duration=2)]})
    async with clock.driving():
        result = await engine.run(p)
    assert result.state == "failed"
    assert "internal error: AttributeError" in result.error
    rows = result.tasks
    assert rows["bad"]["state"] == "failed"
    assert rows["bad"]["meta"] == {"error_class": "internal_error"}
    assert rows["bad"]["error"].startswith("internal error: AttributeError")
    assert rows["good"]["state"] == "succeeded"  # the rest of the run went on
    log = _log(store, result.run_id)
    assert "Traceback (most recent call last)" in log and "metadata" in log
    assert store.get_run(result.run_id)["state"] == "failed"


async def test_an_exception_outside_any_task_fails_the_run_not_stuck(setup):
    host, engine, clock, store = setup
    p = host.pipeline_from_data({"name": "p", "tasks": [task("a", duration=1)]})

    def explode(transition):
        raise OverflowError("int too large to convert")

    with pytest.raises(BaseException) as info:
        async with clock.driving():
            await engine.run(p, on_transition=explode)
    error = info.value
    while isinstance(error, BaseExceptionGroup):  # the fake clock's task group wraps it
        error = error.exceptions[0]
    assert isinstance(error, OrchestraError)
    assert "failed with an internal error: OverflowError" in str(error)
    run_id = str(error).split()[1]
    run = store.get_run(run_id)
    assert run["state"] == "failed"
    assert run["error"] == "internal error: OverflowError: int too large to convert"
    assert "Traceback (most recent call last)" in _log(store, run_id)
