"""The Amperity simulator through plain HTTP (in-process transport, fake clock)."""

import httpx
import pytest
from orchestra_amperity.testing import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_TOKEN,
    AmperitySimulator,
)

from orchestra_core.testing import FakeClock

pytestmark = pytest.mark.anyio

HEADERS = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "amperity-tenant": "orchestra-sim",
           "api-version": "2024-04-01"}


def client(sim):
    return httpx.AsyncClient(transport=sim.transport, base_url=sim.base_url)


@pytest.fixture
def sim():
    return AmperitySimulator(clock=FakeClock(), rate_limit=None)


@pytest.mark.parametrize("missing", ["Authorization", "amperity-tenant", "api-version"])
async def test_401_without_each_required_header(sim, missing):
    headers = {k: v for k, v in HEADERS.items() if k != missing}
    async with client(sim) as c:
        r = await c.get("/workflow/runs", headers=headers)
    assert r.status_code == 401
    body = r.json()
    assert body["status"] == 401 and missing.lower() in body["message"].lower()
    assert body["request_id"] and body["trace_id"]


async def test_version_bad_token_and_other_tenant(sim):
    sim.add_tenant("other")
    async with client(sim) as c:
        r = await c.get("/workflow/runs", headers={**HEADERS, "api-version": "2023-01-01"})
        assert r.status_code == 400 and "Unsupported API version" in r.json()["message"]
        r = await c.get("/workflow/runs", params={"api_version": "2024-04-01"},
                        headers={k: v for k, v in HEADERS.items() if k != "api-version"})
        assert r.status_code == 200  # the version may come as a query parameter
        r = await c.get("/workflow/runs", headers={**HEADERS, "Authorization": "Bearer nope"})
        assert r.status_code == 401
        r = await c.get("/workflow/runs", headers={**HEADERS, "amperity-tenant": "other"})
        assert r.status_code == 401 and "not valid for tenant 'other'" in r.json()["message"]


async def test_start_progress_and_stop(sim):
    sim.add_config("cg-x1", duration=20, scheduled_for=2, started_for=2)
    async with client(sim) as c:
        r = await c.post("/workflow/runs", json={"config_id": "cg-x1"}, headers=HEADERS)
        assert r.status_code == 201
        run = r.json()
        assert run["state"] == "scheduled" and run["type"] == "courier.group/run"
        assert run["id"].startswith("wf-20260101-") and run["task_instances"] == []
        seen = []
        for _ in range(12):
            got = (await c.get(f"/workflow/runs/{run['id']}", headers=HEADERS)).json()
            seen.append(got["state"])
            sim.clock.advance(2)
        assert "error" not in got  # overview by default
        assert seen[:3] == ["scheduled", "started", "in-progress"] and seen[-1] == "succeeded"
        r = await c.post(f"/workflow/runs/{run['id']}/stop", headers=HEADERS)
        assert r.status_code == 409
        second = (await c.post("/workflow/runs/", json={"config_id": "cg-x1"},
                               headers=HEADERS)).json()
        r = await c.post(f"/workflow/runs/{second['id']}/stop", headers=HEADERS)
        assert r.status_code == 200 and r.json()["state"] == "canceled"
        assert r.json()["error"]["type"] == "amperity.workflow.workflow.repository.core/cancel"


async def test_running_with_failures_then_failed(sim):
    sim.add_config("og-x1", duration=10, scheduled_for=1, started_for=1,
                   outcome="running-with-failures", attribution="platform")
    async with client(sim) as c:
        run = (await c.post("/workflow/runs", json={"config_id": "og-x1"},
                            headers=HEADERS)).json()
        states = []
        for _ in range(12):
            got = (await c.get(f"/workflow/runs/{run['id']}", params={"view": "verbose"},
                               headers=HEADERS)).json()
            states.append(got["state"])
            sim.clock.advance(1)
    assert states.index("running-with-failures") > states.index("in-progress")
    assert states[-1] == "failed" and got["error"]["attribution"] == "platform"
    assert got["ended_at"] is not None


@pytest.mark.parametrize(("body", "message"), [
    ({}, "config_id is required"),
    ({"config_id": "og-8qLw3p1", "run_mode": "full"}, "applies to courier groups only"),
    ({"config_id": "cg-4xTz9m2", "run_mode": "all"}, "run_mode must be one of"),
    ({"config_id": "cg-4xTz9m2", "range_to": "2026-03-01T00:00:00Z"}, "requires range_from"),
    ({"config_id": "cg-4xTz9m2", "range_from": "yesterday"}, "ISO-8601"),
    ({"config_id": "cg-7sFtp01"}, "range_from is required for the file-based courier group"),
])
async def test_start_validation(sim, body, message):
    async with client(sim) as c:
        r = await c.post("/workflow/runs", json=body, headers=HEADERS)
    assert r.status_code == 400 and message in r.json()["message"]


async def test_configs_are_tenant_scoped(sim):
    sim.add_tenant("other", token="other-token")
    sim.add_config("cg-only-other", tenant="other")
    async with client(sim) as c:
        r = await c.post("/workflow/runs", json={"config_id": "cg-only-other"}, headers=HEADERS)
        assert r.status_code == 404
        r = await c.post("/workflow/runs", json={"config_id": "cg-only-other"},
                         headers={**HEADERS, "Authorization": "Bearer other-token",
                                  "amperity-tenant": "other"})
        assert r.status_code == 201
        r = await c.get(f"/workflow/runs/{r.json()['id']}", headers=HEADERS)
        assert r.status_code == 404


async def test_token_endpoint(sim):
    form = {"grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET}
    async with client(sim) as c:
        r = await c.post("/v0/oauth2/token", data=form,
                         headers={"X-Amperity-Tenant": "orchestra-sim"})
        assert r.status_code == 200
        token = r.json()
        assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
        headers = {**HEADERS, "Authorization": f"Bearer {token['access_token']}"}
        assert (await c.get("/workflow/runs", headers=headers)).status_code == 200
        sim.clock.advance(3600)
        r = await c.get("/workflow/runs", headers=headers)
        assert r.status_code == 401 and r.json()["message"] == "Access token expired"
        bad = await c.post("/v0/oauth2/token", data={**form, "client_secret": "x"},
                           headers={"X-Amperity-Tenant": "orchestra-sim"})
        assert bad.status_code == 401
        wrong_tenant = await c.post("/v0/oauth2/token", data=form,
                                    headers={"X-Amperity-Tenant": "other"})
        assert wrong_tenant.status_code == 401
        as_json = await c.post("/v0/oauth2/token", json=form,
                               headers={"X-Amperity-Tenant": "orchestra-sim"})
        assert as_json.status_code == 400


async def test_token_bucket_of_ten_requests_per_second():
    sim = AmperitySimulator(clock=FakeClock())
    async with client(sim) as c:
        codes = [(await c.get("/workflow/runs", headers=HEADERS)).status_code
                 for _ in range(12)]
        assert codes == [200] * 10 + [429] * 2
        r = await c.get("/workflow/runs", headers=HEADERS)
        assert r.json()["status"] == 429 and "10 requests per second" in r.json()["message"]
        assert "retry-after" not in r.headers
        sim.clock.advance(0.5)
        codes = [(await c.get("/workflow/runs", headers=HEADERS)).status_code
                 for _ in range(6)]
        assert codes == [200] * 5 + [429]
    assert sim.rejected_by_rate_limit == 4


async def test_list_filters_and_cursor_pagination(sim):
    async with client(sim) as c:
        t0 = sim.clock.now()
        for _ in range(7):
            await c.post("/workflow/runs", json={"config_id": "og-8qLw3p1"}, headers=HEADERS)
            sim.clock.advance(1)
        await c.post("/workflow/runs", json={"config_id": "cg-4xTz9m2"}, headers=HEADERS)
        ids, params = [], {"type": "amperity.orchestration.orchestration/run", "limit": 3,
                           "with_total": "true",
                           "created_from": (t0.replace(microsecond=0)).isoformat()}
        while True:
            page = (await c.get("/workflow/runs", params=params, headers=HEADERS)).json()
            assert page["total"] == 7
            ids += [r["id"] for r in page["data"]]
            if not page.get("next_token"):
                break
            params["next_token"] = page["next_token"]
    assert len(ids) == len(set(ids)) == 7
    assert {r.type for r in sim.runs() if r.id in ids} == {
        "amperity.orchestration.orchestration/run"}


@pytest.mark.parametrize(("style", "expected"), [
    ("hyphen", "in-progress"), ("underscore", "in_progress"), ("display", "In progress")])
async def test_state_styles(style, expected):
    sim = AmperitySimulator(clock=FakeClock(), state_style=style)
    async with client(sim) as c:
        run = (await c.post("/workflow/runs", json={"config_id": "og-8qLw3p1"},
                            headers=HEADERS)).json()
        sim.clock.advance(5)
        got = (await c.get(f"/workflow/runs/{run['id']}", headers=HEADERS)).json()
    assert got["state"] == expected


def test_credentials_env_and_describe():
    sim = AmperitySimulator()
    assert sim.env() == {"AMPERITY_TENANT": "orchestra-sim",
                         "AMPERITY_BASE_URL": "http://amperity.simulator/api",
                         "AMPERITY_TOKEN": DEFAULT_TOKEN}
    assert sim.env(oauth=True)["AMPERITY_CLIENT_SECRET"] == DEFAULT_CLIENT_SECRET
    assert set(sim.describe()["configs"]) == {"cg-4xTz9m2", "cg-7sFtp01", "og-8qLw3p1",
                                              "og-5bRkn01", "cc-2bNf7k5"}
    with pytest.raises(ValueError, match="start with cg-, og- or cc-"):
        sim.add_config("xx-1")


def test_orchestra_simulate_amperity_lists_it():
    from click.testing import CliRunner

    from orchestra_core.cli import cli

    result = CliRunner().invoke(cli, ["simulate", "--list"])
    assert result.exit_code == 0, result.output
    assert "amperity" in result.output
    assert "orchestra_amperity.testing:AmperitySimulator" in result.output
