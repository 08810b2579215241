"""A resumed run re-attaches to the external runs it stored and never starts them again
(issue 13, I): trigger requests are counted where they arrive, not only the jobs created, so
a resume that forgot the stored external run (and re-sent a trigger the job server answered
from its idempotency key, or recovered the run instead) fails these tests."""

from __future__ import annotations

import orchestra_fivetran.plugin
import pytest
from orchestra_fivetran.testing import FivetranSimulator

from orchestra_core import Orchestra, Store
from orchestra_core.testing import FakeClock, SystemClock, run_until_crash
from orchestra_core.testing.jobserver import JobServer

N = 4


@pytest.fixture
def anyio_backend():
    return "asyncio"  # the engine's resume path is the same on trio (tests/test_engine.py)


def http_tasks(url: str) -> list[dict]:
    return [{"id": f"t{i}", "integration": "http", "integration_job": "http_request",
             "parameters": {"base_url": url, "method": "POST", "endpoint": "/jobs",
                            "poll": {"endpoint": "/jobs/{id}", "field": "status",
                                     "success": ["succeeded"], "failure": ["failed"],
                                     "interval": 0.02, "id_field": "id"}}}
            for i in range(N)]


async def test_resume_sends_no_second_trigger_to_the_job_server(tmp_path):
    store = Store.open(str(tmp_path / "o.db"))
    clock = SystemClock()
    with JobServer(duration=0.4) as server:
        host = Orchestra(load_entrypoints=False)
        pipeline = host.pipeline_from_data({"name": "p", "tasks": http_tasks(server.url)})

        def all_recorded(run_id: str) -> bool:
            return sum(bool(r["external_id"]) for r in store.task_runs(run_id)) == N

        run_id = await run_until_crash(host.engine(store=store, clock=clock), pipeline,
                                       all_recorded, check_every=0.01)
        assert (server.created, server.replays) == (N, 0)
        result = await Orchestra(load_entrypoints=False).resume(run_id, store=store,
                                                                clock=clock)
        assert result.state == "succeeded"
        # every trigger that reached the server: a re-sent one would be a replay
        assert (server.created, server.replays) == (N, 0)
        assert {r["external_id"] for r in result.tasks.values()} == set(
            server.jobs_by_key.values())
    store.close()


async def test_resume_reattaches_to_a_fivetran_sync_without_recovering_it(tmp_path,
                                                                          monkeypatch):
    clock = FakeClock()
    sim = FivetranSimulator(clock=clock, run_duration=120, connectors=["c1", "c2"])
    for name, value in sim.env().items():
        monkeypatch.setenv(name, value)
    store = Store.open(str(tmp_path / "o.db"))

    def host() -> Orchestra:
        return Orchestra(plugins=[orchestra_fivetran.plugin], load_entrypoints=False,
                         transports={"fivetran": sim.transport})

    first = host()
    pipeline = first.pipeline_from_data({"name": "p", "tasks": [
        {"id": cid, "integration": "fivetran", "integration_job": "fivetran_sync_all",
         "connectionid": cid, "poll_interval": 10} for cid in ("c1", "c2")]})

    def all_recorded(run_id: str) -> bool:
        return all(r["external"] for r in store.task_runs(run_id))

    async with clock.driving():
        run_id = await run_until_crash(first.engine(store=store, clock=clock), pipeline,
                                       all_recorded)
    assert sim.count("POST", "/v1/connections/*/sync") == 2
    async with clock.driving():
        result = await host().resume(run_id, store=store, clock=clock)
    assert result.state == "succeeded"
    assert sim.count("POST", "/v1/connections/*/sync") == 2  # no trigger request re-sent
    messages = [e["message"] for e in store.logs(run_id=run_id)]
    assert not any("recovered" in m for m in messages), messages  # re-attached, as stored
    assert {cid: sim.connector(cid).syncs for cid in ("c1", "c2")} == {"c1": 1, "c2": 1}
    store.close()
