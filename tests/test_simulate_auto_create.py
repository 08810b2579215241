"""``--simulate`` takes any pipeline a user already has: the vendor simulators create the
syncs, jobs and configs it names on first use (seed 000's example tasks named Census and
Hightouch sync 12345, which no simulator knew), and a connection the store does not have is
served by the integration's simulator (``examples/orchestra_v1.yaml`` names ``dbt-prod``)."""

import os
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from orchestra_core import Orchestra
from orchestra_core.cli import cli
from orchestra_core.testing._simulated import simulated

ROOT = Path(__file__).resolve().parents[1]
VENDOR_ENV = ("FIVETRAN_", "DBT_CLOUD_", "CENSUS_", "HIGHTOUCH_", "AMPERITY_", "ORCHESTRA_")


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """A fresh directory and store, no vendor settings in the environment."""
    for key in list(os.environ):
        if key.startswith(VENDOR_ENV):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "o.db")
    monkeypatch.setenv("ORCHESTRA_DB", db)
    return db


def test_simulators_create_unknown_syncs_on_first_use():
    host = Orchestra()
    pipeline = host.pipeline_from_data({"name": "mine", "tasks": [
        {"id": "c", "integration": "census", "integration_job": "census_sync",
         "parameters": {"syncid": 424242}},
        {"id": "h", "integration": "hightouch", "integration_job": "hightouch_sync",
         "parameters": {"syncid": "515151"}},
        {"id": "f", "integration": "fivetran", "integration_job": "fivetran_sync_all",
         "parameters": {"connectionid": "my_own_connector"}}]})
    with simulated(host, pipeline) as sim:
        env = sim.env
        census = httpx.get(f"{env['CENSUS_BASE_URL']}/syncs/424242",
                           headers={"Authorization": f"Bearer {env['CENSUS_API_TOKEN']}"})
        assert census.status_code == 200 and census.json()["data"]["id"] == 424242
        hightouch = httpx.get(f"{env['HIGHTOUCH_BASE_URL']}/syncs/515151",
                              headers={"Authorization": f"Bearer {env['HIGHTOUCH_API_TOKEN']}"})
        assert hightouch.status_code == 200 and str(hightouch.json()["id"]) == "515151"
        fivetran = httpx.get(f"{env['FIVETRAN_BASE_URL']}/connectors/my_own_connector",
                             auth=(env["FIVETRAN_API_KEY"], env["FIVETRAN_API_SECRET"]))
        assert fivetran.status_code == 200, fivetran.text


def test_dbt_and_amperity_simulators_create_unknown_jobs_and_configs():
    host = Orchestra()
    pipeline = host.pipeline_from_data({"name": "mine", "tasks": [
        {"id": "d", "integration": "dbt", "integration_job": "dbt_runjob",
         "parameters": {"job_id": 987654}},
        {"id": "a", "integration": "amperity", "integration_job": "amperity_orchestration_group",
         "parameters": {"config_id": "og-mine0001"}}]})
    with simulated(host, pipeline, run_duration=0.2) as sim:
        env = sim.env
        dbt = f"{env['DBT_CLOUD_BASE_URL']}/api/v2/accounts/{env['DBT_CLOUD_ACCOUNT_ID']}"
        auth = {"Authorization": f"Token {env['DBT_CLOUD_API_TOKEN']}"}
        job = httpx.get(f"{dbt}/jobs/987654/", headers=auth)
        assert job.status_code == 200 and job.json()["data"]["id"] == 987654, job.text
        run = httpx.post(f"{dbt}/jobs/555/run/", headers=auth, json={"cause": "mine"})
        assert run.status_code == 200 and run.json()["data"]["job_definition_id"] == 555
        amperity = httpx.post(f"{env['AMPERITY_BASE_URL']}/workflow/runs", headers={
            "Authorization": f"Bearer {env['AMPERITY_TOKEN']}",
            "amperity-tenant": env["AMPERITY_TENANT"], "api-version": "2024-04-01"},
            json={"config_id": "og-mine0001"})
        assert amperity.status_code == 201, amperity.text
        assert "og-mine0001" in amperity.json()["name"]


def test_unknown_ids_still_404_without_auto_create():
    from orchestra_amperity.testing import AmperitySimulator
    from orchestra_dbt.testing import DbtCloudSimulator

    with DbtCloudSimulator().serve() as url:
        missing = httpx.get(f"{url}/api/v2/accounts/1/jobs/987654/",
                            headers={"Authorization": "Token dbt-test-token"})
        assert missing.status_code == 404
    amperity = AmperitySimulator(rate_limit=None)
    with amperity.serve() as url:
        env = amperity.env(url)
        missing = httpx.post(f"{url}/workflow/runs", json={"config_id": "og-mine0001"},
                             headers={"Authorization": f"Bearer {env['AMPERITY_TOKEN']}",
                                      "amperity-tenant": env["AMPERITY_TENANT"],
                                      "api-version": "2024-04-01"})
        assert missing.status_code == 404


def test_orchestra_v1_example_runs_with_simulate_on_a_fresh_store(fresh):
    """The published-format example names the stored connection ``dbt-prod``, which a fresh
    store does not have: ``--simulate`` serves it with the dbt Cloud simulator and says so."""
    from orchestra_core._store import Store

    result = CliRunner().invoke(cli, [
        "run", str(ROOT / "examples" / "orchestra_v1.yaml"), "--simulate",
        "--simulate-duration", "0.2", "--progress", "plain"])
    assert result.exit_code == 0, result.output
    assert ("task dbt_nightly: connection 'dbt-prod' is not in the store; simulated by the "
            "dbt simulator") in result.output
    store = Store.open(fresh)
    try:
        run = store.list_runs()[0]
        tasks = {r["task_id"]: r["state"] for r in store.task_runs(run["id"])}
        assert run["state"] == "succeeded"
        assert {tasks[t] for t in ("stripe", "hubspot", "dbt_nightly")} == {"succeeded"}
        conns = CliRunner().invoke(cli, ["connections", "list"])
        assert "dbt-prod" not in conns.output  # nothing was added to the store
    finally:
        store.close()


def test_a_missing_connection_stays_an_error_without_simulate(fresh):
    result = CliRunner().invoke(cli, ["run", str(ROOT / "examples" / "orchestra_v1.yaml"),
                                      "--progress", "plain"])
    assert result.exit_code != 0
    assert "no connection named 'dbt-prod'" in result.output


def test_a_connection_of_another_integration_stays_an_error_under_simulate(fresh):
    """Only a connection the store lacks is simulated: a stored one of the wrong type is
    still the user's mistake."""
    added = CliRunner().invoke(cli, ["connections", "add", "dbt-prod", "--integration",
                                     "http", "--base-url", "http://127.0.0.1:9", "--auth",
                                     "none"])
    assert added.exit_code == 0, added.output
    result = CliRunner().invoke(cli, ["run", str(ROOT / "examples" / "orchestra_v1.yaml"),
                                      "--simulate", "--progress", "plain"])
    assert result.exit_code != 0
    assert "connection 'dbt-prod' is a http connection" in result.output
