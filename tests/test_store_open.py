"""Opening a store: the schema version check, processes racing on a new store, durability."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid

import pytest
import sqlalchemy as sa

from orchestra_core import Store, StoreError
from orchestra_core._store._schema_version import HEAD_REVISION, MIGRATIONS, current_revision

from ._postgres import PG, skip_reason


def test_head_revision_constant_is_alembics_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(cfg).get_heads()
    assert heads == [HEAD_REVISION], (
        f"the migrations' head is {heads} but HEAD_REVISION in "
        f"orchestra_core/_store/_schema_file.py says {HEAD_REVISION!r}: when you add a "
        "migration, set HEAD_REVISION to its revision (a store at HEAD_REVISION is opened "
        "without running Alembic, so a stale constant would skip your migration)")


def test_an_up_to_date_store_opens_without_alembic(tmp_path):
    db = tmp_path / "o.db"
    Store.open(str(db)).close()  # creates and migrates
    code = textwrap.dedent(f"""
        import sys
        from orchestra_core import Store
        store = Store.open({str(db)!r})
        store.close()
        print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_an_old_store_is_migrated_to_head(tmp_path):
    from alembic import command
    from alembic.config import Config

    db = tmp_path / "o.db"
    old = sa.create_engine(f"sqlite:///{db}")
    with old.begin() as conn:  # a store made by an older release: migrations up to 0003
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
    old.dispose()
    store = Store.open(str(db))
    with store.engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION
        assert conn.execute(sa.text("SELECT count(*) FROM queue_elements")).scalar() == 0
    store.close()


_RACER = textwrap.dedent("""
    import os, sys, time
    from orchestra_core import Store
    go = sys.argv[2]
    while not os.path.exists(go):
        time.sleep(0.001)
    store = Store.open(sys.argv[1])
    store.create_run(name="p", client="default", definition={}, source=None,
                     run_type="full", trigger="manual", nodes=[])
    store.close()
""")


def _race(tmp_path, url: str, processes: int) -> None:
    """Start *processes* that open the never-used store at *url* at the same moment."""
    go = tmp_path / f"go-{uuid.uuid4().hex}"
    procs = [subprocess.Popen([sys.executable, "-c", _RACER, url, str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(processes)]
    time.sleep(0.3)  # let them import and wait at the start line
    go.touch()
    failures = []
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        if proc.returncode:
            failures.append(err.strip()[-1500:])
    assert not failures, failures
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            assert current_revision(conn) == HEAD_REVISION
            runs = conn.execute(sa.text("SELECT count(*) FROM pipeline_runs")).scalar()
            clients = conn.execute(sa.text("SELECT count(*) FROM clients")).scalar()
        assert (runs, clients) == (processes, 1)
    finally:
        store.close()


def test_processes_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path):
    for round_ in range(2):
        _race(tmp_path, str(tmp_path / f"new{round_}.db"), 4)


def test_processes_opening_a_new_postgres_store_at_once_all_succeed(tmp_path):
    reason = skip_reason()  # fails instead when ORCHESTRA_TEST_POSTGRES_URL is set
    if reason:
        pytest.skip(reason)
    admin = sa.create_engine(PG.replace("postgresql://", "postgresql+psycopg://"))
    for _ in range(1):
        schema = f"t_{uuid.uuid4().hex[:10]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        try:
            _race(tmp_path, PG + f"?options=-csearch_path%3D{schema}", 4)
        finally:
            with admin.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.mark.parametrize(("durability", "pragma"), [("full", 2), ("normal", 1), (None, 2)])
def test_durability_sets_sqlite_synchronous(tmp_path, durability, pragma):
    store = Store.open(str(tmp_path / "o.db"), durability=durability)
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == pragma
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    assert store.durability == (durability or "full")
    store.close()


def test_durability_from_the_environment_and_a_bad_value(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCHESTRA_DURABILITY", "normal")
    store = Store.open(str(tmp_path / "o.db"))
    assert store.durability == "normal"
    store.close()
    with pytest.raises(StoreError, match="durability must be one of full, normal"):
        Store.open(str(tmp_path / "o.db"), durability="fast")


def _cli_run_synchronous(tmp_path, file_durability, flags):
    """``PRAGMA synchronous`` of the store while ``orchestra run`` runs a pipeline whose
    file says *file_durability*, with *flags* on the command line."""
    from click.testing import CliRunner

    from orchestra_core.cli import cli

    spec = tmp_path / "p.yaml"
    lines = ["name: p", "tasks:", "  - {id: a, integration: noop, integration_job: noop}"]
    if file_durability:
        lines.insert(1, f"durability: {file_durability}")
    spec.write_text("\n".join(lines) + "\n")
    from orchestra_core._store._sqlite_file import SQLiteFile

    seen = []
    original = SQLiteFile.connect

    def spy(self, **kwargs):
        db = original(self, **kwargs)
        seen.append(db.execute("PRAGMA synchronous").fetchone()[0])
        return db

    import unittest.mock

    with unittest.mock.patch.object(SQLiteFile, "connect", spy):
        result = CliRunner().invoke(cli, ["--no-plugins", "run", str(spec), "--progress",
                                           "none", "--db", str(tmp_path / "o.db"), *flags])
    assert result.exit_code == 0, result.output
    return seen[-1]


@pytest.mark.parametrize(("file_durability", "flags", "pragma"), [
    (None, [], 2), ("normal", [], 1), ("normal", ["--durability", "full"], 2),
    (None, ["--durability", "normal"], 1)])
def test_cli_durability_from_the_file_and_the_flag(tmp_path, file_durability, flags, pragma):
    assert _cli_run_synchronous(tmp_path, file_durability, flags) == pragma


def test_a_bad_durability_in_the_file_is_located(tmp_path):
    from orchestra_core import ConfigError, Orchestra

    spec = tmp_path / "p.yaml"
    spec.write_text("name: p\ndurability: fast\ntasks:\n"
                    "  - {id: a, integration: noop, integration_job: noop}\n")
    with pytest.raises(ConfigError, match=r"durability"):
        Orchestra(load_entrypoints=False).load_pipeline(spec)


def _shape(url: str) -> dict:
    """Tables, columns, keys and indexes of the database at *url*, comparable across
    databases."""
    engine = sa.create_engine(url)
    inspector = sa.inspect(engine)
    shape = {}
    for table in sorted(inspector.get_table_names()):
        shape[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"], c.get("default"))
                        for c in inspector.get_columns(table)],
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"],
                           tuple(f["referred_columns"]))
                          for f in inspector.get_foreign_keys(table)),
            "indexes": sorted((tuple(i["column_names"]), bool(i["unique"]))
                              for i in inspector.get_indexes(table)),
            "uniques": sorted(tuple(u["column_names"])
                              for u in inspector.get_unique_constraints(table)),
        }
    engine.dispose()
    return shape


def test_a_new_store_is_created_as_the_migrations_would_build_it(tmp_path):
    from orchestra_core._store._schema_version import upgrade

    fresh = tmp_path / "fresh.db"
    Store.open(str(fresh)).close()  # created from schema.py, stamped at the head
    migrated = sa.create_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    with migrated.begin() as conn:
        upgrade(conn)  # every migration, from nothing
    migrated.dispose()
    assert _shape(f"sqlite:///{fresh}") == _shape(f"sqlite:///{tmp_path / 'migrated.db'}"), (
        "orchestra_core/_store/schema.py and the Alembic migrations disagree: a new store is "
        "created from schema.py, an old one upgraded by the migrations; keep them in step")


def test_a_new_sqlite_store_is_created_in_one_transaction(tmp_path, monkeypatch):
    """The driver begins no transaction for DDL: the schema is begun as one, so a failure
    half-way (here: a bad last statement) leaves no table behind, and the next open creates
    the whole schema."""
    from orchestra_core._store import _schema_file

    real = _schema_file.split_statements
    monkeypatch.setattr(_schema_file, "split_statements",
                        lambda: [*real(), "CREATE TABLE broken ("])
    path = tmp_path / "o.db"
    with pytest.raises(StoreError):
        Store.open(str(path))
    engine = sa.create_engine(f"sqlite:///{path}")
    assert sa.inspect(engine).get_table_names() == []
    engine.dispose()
    monkeypatch.undo()
    store = Store.open(str(path))
    with store.engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION
    assert "pipeline_runs" in sa.inspect(store.engine).get_table_names()
    store.close()


def test_the_written_sqlite_schema_is_what_schema_py_compiles_to():
    """A new SQLite store runs the DDL written in ``sqlite_schema.sql``: it must be today's
    ``schema.py`` (the test above checks schema.py against the migrations)."""
    from orchestra_core._store._schema_version import SQLITE_SCHEMA, schema_ddl, sqlite_schema

    assert sqlite_schema() == schema_ddl(sa.create_engine("sqlite://").dialect), (
        f"{SQLITE_SCHEMA.name} is not what orchestra_core/_store/schema.py compiles to: after "
        "changing schema.py, regenerate it: uv run python -c 'from orchestra_core._store."
        "_schema_version import write_sqlite_schema; write_sqlite_schema()'")


def test_the_sqlite_schema_is_what_create_all_emits(tmp_path):
    """``schema_ddl`` (what a new SQLite store runs) is ``metadata.create_all``'s DDL."""
    from orchestra_core._store._schema_version import schema_ddl
    from orchestra_core._store.schema import metadata

    emitted: list[str] = []
    engine = sa.create_engine("sqlite://")

    @sa.event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, *args):
        if statement.lstrip().startswith("CREATE"):
            emitted.append(statement)

    metadata.create_all(engine)
    assert sorted(emitted) == sorted(schema_ddl(engine.dialect))
