"""A SQLite file's run path is plain ``sqlite3`` (no SQLAlchemy); PostgreSQL and the rest
take SQLAlchemy Core. Both read back what either wrote, as the same Python values."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from orchestra_core import Store, StoreError
from orchestra_core._store import TaskUpdate
from orchestra_core._store._sqlite_columns import column_kinds
from orchestra_core._store.schema import metadata

NODES = [{"task_id": "a", "kind": "task", "integration": "noop", "job": "noop_run"},
         {"task_id": "s", "kind": "stage"}]
DEFINITION = {"name": "p", "tags": ["x", "y"], "tasks": [{"id": "a"}], "nested": {"k": [1, None]}}


def _both(path):
    """The same file opened by each path: plain sqlite3, and SQLAlchemy."""
    plain = Store.open(str(path))
    assert plain._file is not None
    via_sa = Store(sa.create_engine(f"sqlite:///{path}"))
    assert via_sa._file is None
    return plain, via_sa


def _run(store: Store, **extra) -> str:
    return store.create_run(name="p", client="c", definition=DEFINITION, source="src",
                            run_type="full", trigger="manual", nodes=NODES, **extra)


def test_each_path_reads_what_either_wrote(tmp_path):
    plain, via_sa = _both(tmp_path / "o.db")
    due = datetime(2026, 3, 29, 1, 30, 0, 5, tzinfo=UTC)
    for writer in (plain, via_sa):
        run_id = _run(writer, owner="h:1", scheduled_at=due)
        writer.apply([TaskUpdate(run_id, "a", {"state": "succeeded", "meta": {"rows": 3},
                                               "ended_at": due, "attempt": 1})])
        runs = [reader.get_run(run_id) for reader in (plain, via_sa)]
        assert runs[0] == runs[1]
        run = runs[0]
        assert run["definition"] == DEFINITION and run["pipeline"] == "p"
        assert run["client"] == "c" and run["cancel_requested"] is False
        assert run["scheduled_at"] == due.replace(tzinfo=None) and run["owner"] == "h:1"
        tasks = [reader.task_runs(run_id) for reader in (plain, via_sa)]
        assert tasks[0] == tasks[1]
        assert [(t["task_id"], t["state"], t["meta"]) for t in tasks[0]] == [
            ("a", "succeeded", {"rows": 3}), ("s", "pending", None)]
        assert tasks[0][0]["ended_at"] == due.replace(tzinfo=None)
        for reader in (plain, via_sa):
            assert reader.get_pipeline("p", "c")["tags"] == ["x", "y"]
    # a second run of the same pipeline updated one pipeline record, made one client
    with via_sa.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM pipelines").scalar() == 1
        assert conn.exec_driver_sql("SELECT count(*) FROM clients").scalar() == 1
    plain.close()
    via_sa.close()


def test_cancel_flag_tables_and_rows_agree(tmp_path):
    plain, via_sa = _both(tmp_path / "o.db")
    run_id = _run(plain)
    assert not plain.cancel_requested(run_id) and not via_sa.cancel_requested(run_id)
    assert via_sa.request_cancel(run_id) == "pending"
    assert plain.cancel_requested(run_id)
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    ids = [s.insert_row("audit_log", {"time": now, "actor": "me", "via": "cli",
                                      "action": "x.y", "before": None, "after": {"a": 1}})
           for s in (plain, via_sa)]
    assert ids[1] == ids[0] + 1
    tables = {"audit_log": None, "pipelines": ("name", "active", "num_tasks")}
    read = [s.read_tables(tables) for s in (plain, via_sa)]
    assert read[0] == read[1]
    assert [(r["before"], r["after"]) for r in read[0]["audit_log"]] == [(None, {"a": 1})] * 2
    assert read[0]["pipelines"] == [{"name": "p", "active": True, "num_tasks": 1}]
    with pytest.raises(StoreError, match=r"unknown column.* of pipelines: nope"):
        plain.read_tables({"pipelines": ("nope",)})
    plain.close()
    via_sa.close()


def test_a_run_id_prefix_is_a_prefix_not_a_pattern(tmp_path):
    plain, via_sa = _both(tmp_path / "o.db")
    run_id = _run(plain)
    for store in (plain, via_sa):
        assert store.get_run(run_id[:6])["id"] == run_id
        for pattern in ("%", "_", run_id[:4] + "%"):
            with pytest.raises(StoreError, match="no run with id"):
                store.get_run(pattern)
    plain.close()
    via_sa.close()


def test_the_plain_path_knows_every_column_of_schema_py():
    """Its column types come from ``sqlite_schema.sql``: the same tables, columns and the
    types whose values it converts."""
    kinds = column_kinds()
    assert set(kinds) == set(metadata.tables)
    for name, table in metadata.tables.items():
        assert list(kinds[name]) == [c.name for c in table.c]
        for column in table.c:
            expected = {"DateTime": "DATETIME", "JSON": "JSON", "Boolean": "BOOLEAN"}.get(
                type(column.type).__name__)
            if expected:
                assert kinds[name][column.name] == expected, (name, column.name)


def test_a_run_through_the_python_api_never_loads_sqlalchemy(tmp_path):
    """A run of a pipeline on a SQLite store through the Python API starts and finishes
    without importing SQLAlchemy (about 0.1 s and 20 MB); ``tests/test_import_discipline.py``
    checks the same of ``orchestra run``."""
    spec = tmp_path / "p.yaml"
    spec.write_text("name: p\ntasks:\n  - {id: a, integration: noop, integration_job: noop}\n"
                    "  - {id: b, integration: noop, integration_job: noop, depends_on: [a]}\n")
    code = textwrap.dedent(f"""
        import sys
        import anyio
        from orchestra_core import Engine, Orchestra, Store
        host = Orchestra()
        store = Store.open({str(tmp_path / "api.db")!r})
        result = anyio.run(Engine(host, store).run, host.load_pipeline({str(spec)!r}))
        assert result.state == "succeeded", result
        assert result.tasks["b"]["state"] == "succeeded"
        print("loaded" if "sqlalchemy" in sys.modules else "not loaded")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("not loaded"), proc.stdout[-2000:]
