"""Issue 6's "done when": a pipeline file "Fivetran syncs (3 connectors) as a stage -> dbt job"
runs end to end against both simulators served as real HTTP servers on 127.0.0.1, once with
polling only and once with webhooks (the simulators deliver signed webhooks to Orchestra's
app served by uvicorn on 127.0.0.1), and its run records show the vendor metadata."""

from __future__ import annotations

import socket
import textwrap
from datetime import datetime
from typing import Any

import anyio
import httpx
import orchestra_dbt.plugin
import pytest
import sqlalchemy as sa
from orchestra_dbt.testing import SUCCEEDING_JOB, DbtCloudSimulator

from orchestra_core import Orchestra, Store, create_app
from orchestra_core._store.schema import asset_events

ft_testing = pytest.importorskip("orchestra_fivetran.testing")
import orchestra_fivetran.plugin  # noqa: E402

CONNECTORS = ("ambush_prettiest", "speak_inexpensive", "quiet_meadow")
FIVETRAN_SECRET = "whsec-fivetran-e2e-0123456789"


def pipeline_file(tmp_path, poll_interval: float) -> Any:
    """The pipeline as a user writes it: three syncs grouped as a stage, the dbt job after."""
    syncs = "".join(textwrap.dedent(f"""\
          - id: sync_{i}
            integration: fivetran
            integration_job: fivetran_sync_all
            connectionid: {cid}
            poll_interval: {poll_interval}
        """) for i, cid in enumerate(CONNECTORS))
    text = textwrap.dedent("""\
        name: ingest_then_transform
        stages:
          - id: ingest
            tasks: [sync_0, sync_1, sync_2]
        tasks:
        """) + textwrap.indent(syncs, "  ") + textwrap.indent(textwrap.dedent(f"""\
          - id: transform
            integration: dbt
            integration_job: dbt_runjob
            jobid: {SUCCEEDING_JOB}
            cause: After the ingest stage
            poll_interval: {poll_interval}
            depends_on: [ingest]
        """), "  ")
    path = tmp_path / "ingest_then_transform.yaml"
    path.write_text(text)
    return path


def simulators() -> tuple[Any, DbtCloudSimulator]:
    fivetran = ft_testing.FivetranSimulator(connectors=(), run_duration=0.4)
    for i, cid in enumerate(CONNECTORS):
        fivetran.add_connector(cid, schema=f"src_{i}", duration=0.3 + 0.1 * i)
    dbt = DbtCloudSimulator(completed_delay=0.05)
    dbt.add_job(SUCCEEDING_JOB, name="Transform", queued=0.05, starting=0.05, duration=0.3)
    return fivetran, dbt


def host() -> Orchestra:
    return Orchestra(plugins=[orchestra_fivetran.plugin, orchestra_dbt.plugin],
                     load_entrypoints=False)


def point_at(monkeypatch, fivetran: Any, fivetran_url: str, dbt: DbtCloudSimulator,
             dbt_url: str) -> None:
    for name, value in {**fivetran.env(fivetran_url), **dbt.env(dbt_url)}.items():
        monkeypatch.setenv(name, value)
    for name in ("FIVETRAN_WEBHOOK_SECRET", "DBT_CLOUD_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def store(tmp_path):
    s = Store.open(str(tmp_path / "o.db"))
    yield s
    s.close()


def check_records(result: Any, store: Store, fivetran: Any, dbt: DbtCloudSimulator) -> dict:
    """The run succeeded, each sync and the dbt run happened once, in order, and the stored
    task runs carry each vendor's metadata and assets."""
    assert result.state == "succeeded", result.error
    rows = {r["task_id"]: r for r in store.task_runs(result.run_id)}
    assert rows["ingest"]["state"] == "succeeded" and rows["ingest"]["kind"] == "stage"
    for i, cid in enumerate(CONNECTORS):
        row = rows[f"sync_{i}"]
        assert row["state"] == "succeeded"
        meta = row["meta"]
        assert meta["connection_id"] == cid and meta["connection_name"] == f"src_{i}"
        assert meta["succeeded_at"]
        assert meta["assets"] == [f"src_{i}.customers", f"src_{i}.orders"]
        assert (fivetran.connector(cid).triggers, fivetran.connector(cid).syncs) == (1, 1)
    transform = rows["transform"]
    assert transform["state"] == "succeeded"
    [dbt_run] = dbt.runs_of_job(SUCCEEDING_JOB)
    assert transform["external_id"] == str(dbt_run.id)
    assert dbt_run.cause.startswith("After the ingest stage [orchestra ")
    meta = transform["meta"]
    assert (meta["run_id"], meta["job_id"], meta["account_id"], meta["status"],
            meta["status_humanized"]) == (str(dbt_run.id), SUCCEEDING_JOB, 1, 10, "Success")
    assert meta["href"].endswith(f"/deploy/1/projects/167194/runs/{dbt_run.id}/")
    assert meta["duration_seconds"] >= 0 and meta["finished_at"]
    assert [(n["name"], n["status"]) for n in meta["artifacts"]["nodes"]] == [
        ("stg_orders", "success"), ("stg_customers", "success"), ("orders", "success"),
        ("customers", "success")]
    # the dbt job was triggered only after every sync had finished
    synced = max(datetime.fromisoformat(rows[f"sync_{i}"]["meta"]["succeeded_at"].replace(
        "Z", "+00:00")) for i in range(len(CONNECTORS)))
    assert dbt_run.created_at >= synced
    with store.engine.connect() as conn:
        assets = conn.execute(sa.select(asset_events.c.task_id, asset_events.c.asset)
                              .where(asset_events.c.run_id == result.run_id)).all()
    assert sorted(assets) == sorted(
        [(f"sync_{i}", f"src_{i}.{t}") for i in range(3) for t in ("customers", "orders")]
        + [("transform", f"prod.{m}") for m in ("stg_orders", "stg_customers", "orders",
                                                "customers")])
    return rows


def test_polling_only_against_both_simulators_as_real_servers(tmp_path, store, monkeypatch):
    fivetran, dbt = simulators()
    path = pipeline_file(tmp_path, poll_interval=0.1)
    with fivetran.serve() as fivetran_url, dbt.serve() as dbt_url:
        assert fivetran_url.startswith("http://127.0.0.1:")
        assert dbt_url.startswith("http://127.0.0.1:")
        point_at(monkeypatch, fivetran, fivetran_url, dbt, dbt_url)
        result = host().run_sync(path, store=store)
    rows = check_records(result, store, fivetran, dbt)
    assert not fivetran.deliveries and not dbt.deliveries
    assert rows["transform"]["meta"]["artifacts"]["counts"] == {"success": 4}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_webhooks_between_real_servers(tmp_path, store, monkeypatch):
    """Every task polls only once a minute; the signed webhooks of both simulators, delivered
    over HTTP to Orchestra's app on uvicorn, finish the run in seconds."""
    import uvicorn

    fivetran, dbt = simulators()
    path = pipeline_file(tmp_path, poll_interval=60)
    port = _free_port()
    receiver = f"http://127.0.0.1:{port}/webhooks"
    with fivetran.serve() as fivetran_url, dbt.serve() as dbt_url:
        point_at(monkeypatch, fivetran, fivetran_url, dbt, dbt_url)
        orchestra = host()
        engine = orchestra.engine(store=store)
        server = uvicorn.Server(uvicorn.Config(create_app(orchestra, engine), host="127.0.0.1",
                                               port=port, log_level="error", lifespan="off"))
        # the vendors' webhook set-up: Fivetran's account webhook with our secret, and a dbt
        # Cloud subscription through API v3 whose hmac_secret Orchestra is given
        fivetran.add_fivetran_webhook(f"{receiver}/fivetran", events=["sync_start", "sync_end"],
                                      secret=FIVETRAN_SECRET)
        monkeypatch.setenv("FIVETRAN_WEBHOOK_SECRET", FIVETRAN_SECRET)
        answer = httpx.post(f"{dbt_url}/api/v3/accounts/1/webhooks/subscriptions",
                            headers={"Authorization": f"Token {dbt.token}"}, json={
                                "name": "orchestra", "client_url": f"{receiver}/dbt",
                                "event_types": ["job.run.started", "job.run.completed",
                                                "job.run.errored"], "job_ids": []})
        assert answer.status_code == 201, answer.text
        monkeypatch.setenv("DBT_CLOUD_WEBHOOK_SECRET", answer.json()["data"]["hmac_secret"])

        async def main() -> Any:
            async with anyio.create_task_group() as tg:
                tg.start_soon(server.serve)
                while not server.started:
                    await anyio.sleep(0.01)
                try:
                    with anyio.fail_after(30):
                        return await engine.run(orchestra.load_pipeline(path))
                finally:
                    server.should_exit = True

        result = anyio.run(main)
    rows = check_records(result, store, fivetran, dbt)
    for i in range(len(CONNECTORS)):  # woken by a webhook (the next poll was a minute away)
        assert rows[f"sync_{i}"]["meta"]["webhook_events"] >= 1
    assert fivetran.deliveries and all(d.ok for d in fivetran.deliveries)
    assert sorted(d.kind for d in dbt.deliveries) == ["job.run.completed", "job.run.started"]
    assert all(d.status == 200 for d in dbt.deliveries)
    [dbt_run] = dbt.runs_of_job(SUCCEEDING_JOB)
    logs = [e["message"] for e in store.logs(run_id=result.run_id, task="transform")]
    assert f"webhook job.run.completed for dbt Cloud run {dbt_run.id}" in logs
