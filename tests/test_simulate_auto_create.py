"""``--simulate`` takes any pipeline a user already has: the vendor simulators create the
syncs it names on first use (seed 000's example tasks named Census and Hightouch sync 12345,
which no simulator knew)."""

import httpx

from orchestra_core import Orchestra
from orchestra_core.testing._simulated import simulated


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
