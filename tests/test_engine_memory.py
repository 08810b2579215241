"""What a run keeps in memory: nothing of a run's stored definition once the run is created,
and one dependency set shared by the tasks of a fan-out."""

from __future__ import annotations

import gc
import types
from pathlib import Path

import anyio

from orchestra_core import Orchestra, Store
from orchestra_core._engine import Engine
from orchestra_core._engine._dag import Graph


def _fan_out(n: int) -> dict:
    tasks = [{"id": "root", "integration": "noop", "integration_job": "noop_run"}]
    tasks += [{"id": f"t{i}", "integration": "noop", "integration_job": "noop_run",
               "depends_on": ["root"]} for i in range(n)]
    return {"name": "fan", "tasks": tasks}


def test_the_store_keeps_no_reference_to_a_created_runs_definition(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "o.db"))
    try:
        for i in range(2):  # a new pipeline record, then an update of it
            definition = {"name": "p", "tasks": [{"id": f"a{i}"}], "stages": []}
            nodes = [{"task_id": f"a{i}", "kind": "task", "integration": "noop",
                      "job": "noop_run"}]
            store.create_run(name="p", client="default", definition=definition, source=None,
                             run_type="full", trigger="manual", nodes=nodes)
            gc.collect()
            holders = [r for r in gc.get_referrers(definition)
                       if not isinstance(r, types.FrameType)]
            assert holders == []  # SQLAlchemy's statement cache held it before
    finally:
        store.close()


def test_tasks_with_the_same_dependencies_share_one_set() -> None:
    host = Orchestra(load_entrypoints=False)
    graph = Graph(host.pipeline_from_data(_fan_out(50)))
    sets = {id(graph.deps[f"t{i}"]) for i in range(50)}
    assert len(sets) == 1 and graph.deps["t0"] == frozenset({"root"})
    assert graph.deps["root"] == frozenset()


def test_a_fan_out_still_runs_every_task(tmp_path: Path) -> None:
    host = Orchestra(load_entrypoints=False)
    store = Store.open(str(tmp_path / "o.db"))
    try:
        result = anyio.run(Engine(host, store).run, host.pipeline_from_data(_fan_out(20)))
        assert result.succeeded
        assert {t["state"] for t in result.tasks.values()} == {"succeeded"}
        assert len(result.tasks) == 21
    finally:
        store.close()
