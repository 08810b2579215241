"""Orchestrations as a user drives them: pipelines through the Python API and the CLI, on a
demo SQLite database; data templates (columns, formats, compression, names, manifests),
SQL modes, stored destinations with credentials, validation messages, run types,
notifications and the task run's metadata."""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
import zipfile

import pytest
from click.testing import CliRunner

from orchestra_core import Orchestra
from orchestra_core._delivery.catalog import Destinations, Templates
from orchestra_core._notifications import NotificationLog
from orchestra_core._secrets import KeyRing, Secrets, generate_key
from orchestra_core._store import Store
from orchestra_core.cli import cli
from orchestra_core.testing._simulator._receiver import DeliverySimulator, make_demo_database


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def demo(tmp_path):
    return make_demo_database(tmp_path / "demo.db", 60)


@pytest.fixture
def host():
    return Orchestra(load_entrypoints=False)


@pytest.fixture
def store(tmp_path):
    s = Store.open(str(tmp_path / "o.db"))
    yield s
    s.close()


def task(demo, destination, template=None, query=None, **source):
    params = {"source": {"url": demo, "query": query or
                         "SELECT id, customer, email, amount, ordered_at FROM orders ORDER BY id",
                         **source},
              "destination": destination}
    if template is not None:
        params["template"] = template
    return {"id": "deliver", "integration": "orchestration",
            "integration_job": "orchestration_run", "parameters": params}


async def run(host, store, *tasks, run_type="full"):
    pipeline = host.pipeline_from_data({"name": "t", "tasks": list(tasks)})
    return await host.run(pipeline, store=store, run_type=run_type)


def drop(path):
    return {"type": "filedrop", "options": {"directory": str(path), "create": True}}


async def test_template_shapes_columns_values_and_names(host, store, demo, tmp_path):
    template = {"columns": [{"name": "id", "as": "order_id"}, "customer",
                            {"name": "amount", "format": ".1f"}, "email"],
                "format": "psv", "null": "NULL", "line_ending": "crlf", "quoting": "all",
                "file_name": "orders_{run.date:%Y%m%d}_{name}.psv",
                "manifest": "{name}.manifest.json", "done_file": "{name}.done"}
    result = await run(host, store, task(demo, drop(tmp_path / "out"), template))
    assert result.state == "succeeded", result.tasks["deliver"]["error"]
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    data = [f for f in files if f.endswith(".psv")]
    assert len(data) == 1 and data[0].startswith("orders_2") and data[0].endswith("_deliver.psv")
    text = (tmp_path / "out" / data[0]).read_bytes().decode()
    lines = text.split("\r\n")
    assert lines[0] == '"order_id"|"customer"|"amount"|"email"'
    assert lines[1].startswith('"1"|"Customer 0001"|"17.3"|')
    manifest = json.loads((tmp_path / "out" / "deliver.manifest.json").read_text())
    assert manifest["rows"] == 60 and manifest["files"][0]["name"] == data[0]
    assert "deliver.done" in files
    meta = result.tasks["deliver"]["meta"]
    assert meta["rows"] == 60 and meta["files"][-1] == "deliver.done"
    assert meta["parts"][0]["sha256"][data[0]] == manifest["files"][0]["sha256"]


@pytest.mark.parametrize(("fmt", "compression"), [("jsonl", "zip"), ("tsv", "gzip"),
                                                   ("csv", "none")])
async def test_formats_and_compression(host, store, demo, tmp_path, fmt, compression):
    template = {"format": fmt, "compression": compression, "max_rows_per_file": 25}
    result = await run(host, store, task(demo, drop(tmp_path / "out"), template))
    assert result.state == "succeeded", result.tasks["deliver"]["error"]
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(names) == 3 and names[0].endswith("_0001." + {"jsonl": "jsonl.zip",
                                                            "tsv": "tsv.gz",
                                                            "csv": "csv"}[fmt])
    rows = 0
    for name in names:
        raw = (tmp_path / "out" / name).read_bytes()
        if compression == "gzip":
            raw = gzip.decompress(raw)
        if compression == "zip":
            with zipfile.ZipFile(io.BytesIO(raw)) as z:
                raw = z.read(z.namelist()[0])
        lines = raw.decode().splitlines()
        if fmt == "jsonl":
            assert json.loads(lines[0])["customer"].startswith("Customer")
            rows += len(lines)
        else:
            assert lines[0].split("\t" if fmt == "tsv" else ",")[0] == "id"
            rows += len(lines) - 1
    assert rows == 60


async def test_run_values_are_bound_parameters(host, store, demo, tmp_path):
    query = "SELECT id, customer FROM orders WHERE id <= :n AND ordered_at < :d"
    result = await run(host, store, task(demo, drop(tmp_path / "out"), {"header": False},
                                         query=query, parameters={"n": 5, "d": "run.date"}))
    assert result.state == "succeeded", result.tasks["deliver"]["error"]
    assert result.tasks["deliver"]["meta"]["rows"] == 5


async def test_sql_modes(host, store, demo, tmp_path):
    url = f"sqlite:///{tmp_path / 'wh.db'}"

    def dest(mode, **more):
        return {"type": "sql", "options": {"url": url, "table": "orders", "mode": mode,
                                           **more}}

    for _ in range(2):
        assert (await run(host, store, task(demo, dest("replace")))).state == "succeeded"
    with sqlite3.connect(tmp_path / "wh.db") as db:
        assert db.execute("SELECT count(*) FROM orders").fetchone()[0] == 60
    upsert = task(demo, dest("upsert", key_columns=["id"]),
                  query="SELECT id, 'changed' AS customer, email, amount, ordered_at "
                  "FROM orders WHERE id <= 10")
    result = await run(host, store, upsert)
    assert result.state == "succeeded", result.tasks["deliver"]["error"]
    with sqlite3.connect(tmp_path / "wh.db") as db:
        assert db.execute("SELECT count(*) FROM orders").fetchone()[0] == 60
        assert db.execute("SELECT count(*) FROM orders WHERE customer = 'changed'"
                          ).fetchone()[0] == 10
    failed = await run(host, store, task(demo, dest("create")))
    assert failed.state == "failed"
    assert "table orders exists already (mode create)" in failed.tasks["deliver"]["error"]


async def test_stored_destination_with_credential_and_notifications(host, store, demo,
                                                                    monkeypatch):
    monkeypatch.setenv("ORCHESTRA_SECRET_KEY", generate_key())
    sim = DeliverySimulator(rate_limit_every=3)
    secrets = Secrets(store, host=host, keys=KeyRing.load())
    secrets.credentials.set("receiver", secrets={"token": sim.token})
    with sim.serve() as url:
        Destinations(store, host).add("api", type="http", options={
            "url": f"{url}/records", "auth": "bearer", "batch_size": 7, "retry_delay": 0},
            credential="receiver")
        Templates(store).set("slim", {"columns": ["id", "email"]})
        result = await run(host, store, task(demo, "api", "slim"))
    assert result.state == "succeeded", result.tasks["deliver"]["error"]
    assert sorted(r["id"] for r in sim.records) == [i for i in range(1, 61) if i % 50]
    assert set(sim.records[0]) == {"id", "email"}
    meta = result.tasks["deliver"]["meta"]
    assert meta["rejected"] == 1 and meta["rows"] == 59
    assert meta["parts"][0]["rejected_records"][0]["error"].endswith("email is empty")
    notes = NotificationLog(store).list(kind="delivery.succeeded")
    assert "delivered 59 rows" in notes[0].message and notes[0].data["bytes"] > 0
    stored = json.dumps(store.task_runs(result.run_id), default=str)
    assert sim.token not in stored


async def test_refresh_run_never_delivers(host, store, demo, tmp_path):
    result = await run(host, store, task(demo, drop(tmp_path / "out")), run_type="refresh")
    assert result.tasks["deliver"]["state"] == "skipped"
    assert not (tmp_path / "out").exists()


async def test_failure_is_one_clear_error_and_a_notification(host, store, demo, tmp_path):
    result = await run(host, store, task(demo, {"type": "filedrop",
                                                "options": {"directory": "/sys"}}))
    assert result.state == "failed"
    assert result.tasks["deliver"]["error"] == \
        "destination 'filedrop': permission denied (writing /sys)"
    assert NotificationLog(store).list(kind="delivery.failed")[0].data["error"]


def test_validation_locates_mistakes(host, demo):
    bad = task(demo, {"type": "filedrop", "options": {"directori": "/x"}},
               {"format": "xml", "columns": ["id"]},
               query="SELECT * FROM t WHERE x = '${constants.region}'")
    worse = task(demo, "somewhere", {"columns": [{"name": "id", "az": "x"}]})
    _, problems = host.check_data({"name": "t", "tasks": [bad, {**worse, "id": "b"}]})
    text = "\n".join(p.format() for p in problems)
    assert "$.tasks[0].parameters.template.format: expected one of csv, tsv, psv, jsonl, " \
        "parquet, got 'xml'" in text
    assert "unknown key 'az'" in text
    assert "$.tasks[0].parameters.source.query: placeholders are not pasted into SQL" in text


async def test_option_typo_and_unknown_type_at_run(host, store, demo, tmp_path):
    from orchestra_core import ConfigError

    with pytest.raises(ConfigError, match=r"parameters.destination.options.directori: unknown "
                       r"option 'directori' \(did you mean 'directory'\?\)"):
        await run(host, store, task(demo, {"type": "filedrop",
                                           "options": {"directori": str(tmp_path)}}))
    unknown = await run(host, store, task(demo, {"type": "s3", "options": {}}))
    assert "unknown destination type 's3'; install orchestra-s3" in \
        unknown.tasks["deliver"]["error"]


def test_cli_destinations(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCHESTRA_SECRET_KEY", generate_key())
    db = str(tmp_path / "o.db")
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, [*args, "--db", db], obj={})

    out = invoke("destinations", "add", "drop", "--type", "filedrop", "--option",
                 f"directory={tmp_path}/d", "--option", "create=true", "--concurrency", "2")
    assert out.exit_code == 0 and "destination 'drop' (filedrop) added" in out.output
    assert "reachable" in invoke("destinations", "test", "drop").output
    bad = invoke("destinations", "add", "x", "--type", "filedrop", "--option", "directori=/x")
    assert bad.exit_code == 1 and "did you mean 'directory'?" in bad.output
    bad = runner.invoke(cli, ["--no-plugins", "destinations", "add", "x", "--type", "s3",
                              "--db", db], obj={})
    assert "unknown destination type 's3'; install orchestra-s3" in bad.output
    listed = json.loads(invoke("destinations", "list", "--json").output)
    assert listed[0]["options"] == {"directory": f"{tmp_path}/d", "create": True}
    assert listed[0]["concurrency"] == 2
    ro = invoke("destinations", "add", "ro", "--type", "filedrop", "--option",
                "directory=/sys")
    assert ro.exit_code == 0
    failed = invoke("destinations", "test", "ro")
    assert failed.exit_code == 1 and "destination 'ro': permission denied" in failed.output
    assert invoke("templates", "set", "t", "--option", "format=tsv").exit_code == 0
    assert invoke("templates", "list").output.strip() == "t"
    assert invoke("templates", "set", "u", "--option", "formt=tsv").exit_code == 1
    assert invoke("destinations", "delete", "ro").exit_code == 0
    # a password written into an option (rather than a credential) is never printed back
    assert invoke("destinations", "add", "wh", "--type", "sql", "--option",
                  "url=postgresql://loader:s3cr3t-pw@127.0.0.1/dw", "--option",
                  "table=orders").exit_code == 0
    for args in (("destinations", "list"), ("destinations", "list", "--json")):
        shown = invoke(*args).output
        assert "s3cr3t-pw" not in shown and "loader:*****@127.0.0.1" in shown


async def test_destinations_and_templates_declared_in_the_file(host, store, demo, tmp_path):
    pipeline = host.pipeline_from_data({
        "name": "sections",
        "destinations": {"drop": drop(tmp_path / "out")},
        "data_templates": {"ids": {"columns": ["id"], "header": False}},
        "tasks": [task(demo, "drop", "ids", query="SELECT id FROM orders WHERE id <= 3")]})
    result = await host.run(pipeline, store=store)
    assert result.state == "succeeded", result.tasks["deliver"]["error"]
    (data,) = list((tmp_path / "out").iterdir())
    assert data.read_text() == "1\n2\n3\n"
    assert result.tasks["deliver"]["meta"]["destination"] == "drop"
    missing = await run(host, store, task(demo, "nowhere"))
    assert "no destination named 'nowhere'" in missing.tasks["deliver"]["error"]


async def test_postgres_to_postgres_copies_through(host, store, tmp_path):
    import sqlalchemy as sa

    from .test_delivery_contract import pg_url

    url = pg_url()
    schema = "delivery_pg_" + __import__("uuid").uuid4().hex[:8]
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        conn.execute(sa.text(f"CREATE TABLE {schema}.src AS SELECT g AS id, "
                             "(g * 1.5)::numeric(8,2) AS amount, 'n' || g AS name "
                             "FROM generate_series(1, 500) g"))
    try:
        def pg_task(mode, query, parameters=None, **more):
            return task(url, {"type": "sql", "options": {
                "url": url, "table": f"{schema}.dst", "mode": mode, **more}}, query=query,
                parameters=parameters or {})

        for _ in range(2):  # replace twice: 500 rows, typed like the source
            result = await run(host, store, pg_task(
                "replace", f"SELECT id, amount, name FROM {schema}.src WHERE id > :n",
                {"n": 0}))
            assert result.state == "succeeded", result.tasks["deliver"]["error"]
        upsert = await run(host, store, pg_task(
            "upsert", f"SELECT id, amount * 2 AS amount, name FROM {schema}.src WHERE id <= 10",
            key_columns=["id"]))
        assert upsert.state == "succeeded", upsert.tasks["deliver"]["error"]
        with engine.connect() as conn:
            count, total = conn.execute(sa.text(
                f"SELECT count(*), sum(amount) FROM {schema}.dst")).one()
            first_ten = conn.execute(sa.text(
                f"SELECT sum(amount) FROM {schema}.src WHERE id <= 10")).scalar()
            everything = conn.execute(sa.text(f"SELECT sum(amount) FROM {schema}.src")).scalar()
            assert (count, total) == (500, everything + first_ten)
            kind = conn.execute(sa.text(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = "
                f"'{schema}' AND table_name = 'dst' AND column_name = 'amount'")).scalar()
            assert kind == "numeric"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def test_applying_a_pipeline_announces_each_new_orchestration(tmp_path):
    db = str(tmp_path / "o.db")
    runner = CliRunner()
    applied = runner.invoke(cli, ["pipelines", "apply", "examples/delivery_run_modes.yaml",
                                  "--db", db], obj={})
    assert applied.exit_code == 0, applied.output
    again = runner.invoke(cli, ["pipelines", "apply", "examples/delivery_run_modes.yaml",
                                "--db", db], obj={})
    assert again.exit_code == 0
    notes = runner.invoke(cli, ["notifications", "--db", db, "--json"], obj={})
    added = [n for n in json.loads(notes.output) if n["kind"] == "orchestration.added"]
    assert len(added) == 1
    assert added[0]["message"] == ("orchestration 'customers_to_partner' added to pipeline "
                                   "'customer_exports': delivers to 'partner_drop'")


class _Probe:
    """A destination type that counts deliveries in progress at once."""

    active = 0
    most = 0

    def __init__(self, options, context=None):
        pass

    async def deliver(self, delivery):
        import anyio

        _Probe.active += 1
        _Probe.most = max(_Probe.most, _Probe.active)
        rows = 0
        async for batch in delivery.batches():
            rows += len(batch.rows)
            await anyio.sleep(0.05)
        _Probe.active -= 1
        from orchestra_core import DeliveryReceipt

        return DeliveryReceipt(delivered=rows)


class ProbePlugin:
    from orchestra_core import hookimpl

    @hookimpl
    def orchestra_register_destinations(self, registry):
        registry.add("probe", factory=_Probe, description="counts concurrent deliveries")


@pytest.mark.parametrize("limit", [1, 3])
async def test_per_destination_concurrency_limit(store, demo, limit):
    host = Orchestra(plugins=[ProbePlugin()], load_entrypoints=False)
    Destinations(store, host).add("slow", type="probe", options={}, concurrency=limit)
    _Probe.most = 0
    tasks = [{**task(demo, "slow", batch_size=10), "id": f"t{i}"} for i in range(3)]
    result = await run(host, store, *tasks)
    assert result.state == "succeeded"
    assert _Probe.most == limit


async def test_parquet_files(host, store, demo, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    template = {"format": "parquet", "max_rows_per_file": 40,
                "columns": [{"name": "id", "as": "order_id"}, "amount"]}
    result = await run(host, store, task(demo, drop(tmp_path / "out"), template,
                                         batch_size=16))
    assert result.state == "succeeded", result.tasks["deliver"]["error"]
    files = sorted((tmp_path / "out").iterdir())
    assert [f.name.endswith(".parquet") for f in files] == [True, True]
    tables = [pq.read_table(f) for f in files]
    assert [t.num_rows for t in tables] == [40, 20]
    assert tables[0].column_names == ["order_id", "amount"]
    assert tables[0].column("order_id").to_pylist()[:3] == [1, 2, 3]
