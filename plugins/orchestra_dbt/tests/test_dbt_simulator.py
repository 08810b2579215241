"""The dbt Cloud simulator: paths, auth, envelopes, clock-driven runs, artifacts, webhooks."""

import hashlib
import hmac
import json
import re

import httpx
import pytest
from orchestra_dbt.testing import FAILING_JOB, SUCCEEDING_JOB, DbtCloudSimulator

from orchestra_core.testing import FakeClock

V2 = "/api/v2/accounts/1"
V3 = "/api/v3/accounts/1/webhooks"
TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00:00$")


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def sim(clock):
    return DbtCloudSimulator(clock=clock)


def client(sim, token="dbt-test-token", scheme="Token"):
    headers = {"Authorization": f"{scheme} {token}"} if token else {}
    return httpx.AsyncClient(transport=sim.transport, base_url=sim.base_url, headers=headers)


async def trigger(http, job=SUCCEEDING_JOB, **body):
    body.setdefault("cause", "test")
    response = await http.post(f"{V2}/jobs/{job}/run/", json=body)
    assert response.status_code == 200, response.text
    return response.json()["data"]


@pytest.mark.parametrize(("token", "scheme"), [(None, "Token"), ("nope", "Token"),
                                               ("dbt-test-token", "Basic"),
                                               ("dbt-test-token", "")])
async def test_bad_credentials_get_401_in_the_envelope(sim, token, scheme):
    async with client(sim, token, scheme) as http:
        response = await http.get(f"{V2}/runs/")
    assert response.status_code == 401
    assert response.json() == {"status": {"code": 401, "is_success": False,
                                          "user_message": "Invalid token.",
                                          "developer_message": ""}, "data": None}


async def test_token_and_bearer_are_accepted(sim):
    for scheme in ("Token", "Bearer", "token"):
        async with client(sim, scheme=scheme) as http:
            assert (await http.get(f"{V2}/runs/")).status_code == 200


async def test_trigger_returns_the_run_in_the_envelope(sim, clock):
    async with client(sim) as http:
        response = await http.post(f"{V2}/jobs/{SUCCEEDING_JOB}/run/", json={"cause": "API"})
    body = response.json()
    assert body["status"] == {"code": 200, "is_success": True, "user_message": "Success!",
                              "developer_message": ""}
    run = body["data"]
    assert isinstance(run["id"], int)
    assert run["job_definition_id"] == run["job_id"] == SUCCEEDING_JOB
    assert (run["status"], run["status_humanized"], run["in_progress"], run["is_complete"]) == (
        1, "Queued", True, False)
    assert TIME.match(run["created_at"]) and run["started_at"] is None
    assert run["href"] == f"http://dbt.simulator/deploy/1/projects/167194/runs/{run['id']}/"


async def test_trigger_checks_its_body(sim):
    async with client(sim) as http:
        url = f"{V2}/jobs/{SUCCEEDING_JOB}/run/"
        missing = await http.post(url)
        assert missing.status_code == 400
        assert missing.json()["status"]["user_message"] == "cause: This field is required."
        assert (await http.post(url, json={"cause": "x" * 256})).status_code == 400
        assert (await http.post(url, json={"cause": "x",
                                           "steps_override": "dbt run"})).status_code == 400
        assert (await http.post(f"{V2}/jobs/1/run/", json={"cause": "x"})).status_code == 404
        assert (await http.post("/api/v2/accounts/9/jobs/1/run/",
                                json={"cause": "x"})).status_code == 404
    assert sim.state.runs == {}
    lenient = DbtCloudSimulator(require_cause=False)
    async with client(lenient) as http:  # Dagster posts no body at all
        assert (await http.post(f"{V2}/jobs/{SUCCEEDING_JOB}/run/")).status_code == 200


async def test_status_follows_the_clock(sim, clock):
    sim.add_job(42, queued=3, starting=2, duration=20)
    async with client(sim) as http:
        run = await trigger(http, 42)
        seen = []
        for _ in range(6):
            data = (await http.get(f"{V2}/runs/{run['id']}/")).json()["data"]
            seen.append((clock.monotonic(), data["status"], data["status_humanized"]))
            clock.advance(5)
    assert seen == [(0, 1, "Queued"), (5, 3, "Running"), (10, 3, "Running"),
                    (15, 3, "Running"), (20, 3, "Running"), (25, 10, "Success")]
    assert data["duration"] == "00:00:25" and data["run_duration"] == "00:00:20"
    assert data["queued_duration"] == "00:00:05"
    assert TIME.match(data["finished_at"]) and data["is_success"] and data["artifacts_saved"]


async def test_runs_of_one_job_run_one_after_another(sim, clock):
    sim.add_job(42, queued=0, starting=0, duration=10)
    async with client(sim) as http:
        first = await trigger(http, 42)
        second = await trigger(http, 42)
        assert sim.status(first["id"]) == 3 and sim.status(second["id"]) == 1
        clock.advance(10)
        assert sim.status(first["id"]) == 10 and sim.status(second["id"]) == 3
        # cancelling the running one lets the next start at once
        third = await trigger(http, 42)
        await http.post(f"{V2}/runs/{second['id']}/cancel/")
        assert sim.status(second["id"]) == 30 and sim.status(third["id"]) == 3
        clock.advance(10)
        assert sim.status(third["id"]) == 10


async def test_cancel_answers_the_cancelled_run(sim, clock):
    async with client(sim) as http:
        run = await trigger(http)
        clock.advance(4)
        data = (await http.post(f"{V2}/runs/{run['id']}/cancel/")).json()["data"]
    assert (data["status"], data["status_humanized"], data["is_cancelled"],
            data["status_message"]) == (30, "Cancelled", True, "Cancelled by user.")
    assert data["artifacts_saved"] is False


async def test_list_runs_filters_orders_and_pages(sim):
    async with client(sim) as http:
        ids = [(await trigger(http, SUCCEEDING_JOB, cause=f"c{i}"))["id"] for i in range(3)]
        await trigger(http, FAILING_JOB)
        body = (await http.get(f"{V2}/runs/", params={
            "job_definition_id": SUCCEEDING_JOB, "order_by": "-id", "limit": 2,
            "include_related": '["trigger"]'})).json()
        assert [r["id"] for r in body["data"]] == ids[::-1][:2]
        assert body["data"][0]["trigger"]["cause"] == "c2"
        assert body["extra"]["pagination"] == {"count": 2, "total_count": 3}
        plain = (await http.get(f"{V2}/runs/", params={"offset": 3})).json()["data"]
        assert [r["job_definition_id"] for r in plain] == [FAILING_JOB]
        assert "trigger" not in plain[0]
        assert (await http.get(f"{V2}/runs/", params={"order_by": "x"})).status_code == 400


async def test_a_fresh_run_is_not_found_for_a_while(clock):
    sim = DbtCloudSimulator(clock=clock, run_visible_after=5)
    async with client(sim) as http:
        run = await trigger(http)
        url = f"{V2}/runs/{run['id']}/"
        assert (await http.get(url)).status_code == 404
        clock.advance(4.9)
        assert (await http.get(url)).json()["status"]["code"] == 404
        clock.advance(0.1)
        assert (await http.get(url)).status_code == 200


async def test_artifacts_of_a_finished_run(sim, clock):
    async with client(sim) as http:
        run = await trigger(http, FAILING_JOB)
        url = f"{V2}/runs/{run['id']}/artifacts/run_results.json"
        assert (await http.get(url)).status_code == 404  # not finished
        clock.advance(60)
        results = (await http.get(url)).json()
        manifest = (await http.get(url.replace("run_results", "manifest"))).json()
        assert (await http.get(url.replace("run_results", "catalog"))).status_code == 404
    assert [(r["unique_id"], r["status"]) for r in results["results"]] == [
        ("model.analytics.stg_orders", "success"), ("model.analytics.stg_customers", "success"),
        ("model.analytics.orders", "error"), ("model.analytics.customers", "skipped")]
    assert results["results"][0]["relation_name"] == '"analytics"."prod"."stg_orders"'
    node = manifest["nodes"]["model.analytics.orders"]
    assert (node["resource_type"], node["schema"], node["alias"]) == ("model", "prod", "orders")


# -- webhooks ----------------------------------------------------------------------------------


class Receiver:
    """An in-process webhook receiver recording what it gets."""

    def __init__(self, status=200):
        self.got = []
        self.status = status
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request):
        self.got.append(request)
        return httpx.Response(self.status, json={})

    def events(self):
        return [json.loads(r.content) for r in self.got]


async def subscribe(http, **body):
    body.setdefault("event_types", ["job.run.started", "job.run.completed", "job.run.errored"])
    body.setdefault("name", "orchestra")
    body.setdefault("client_url", "https://orchestra.example/webhooks/dbt")
    response = await http.post(f"{V3}/subscriptions", json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def test_subscriptions_through_api_v3(clock):
    receiver = Receiver()
    sim = DbtCloudSimulator(clock=clock, webhook_transport=receiver.transport)
    async with client(sim) as http:
        created = await subscribe(http, job_ids=[SUCCEEDING_JOB], description="d")
        assert created["id"].startswith("wsu_")
        assert len(created["hmac_secret"]) > 20
        assert created["job_ids"] == [str(SUCCEEDING_JOB)]
        assert (created["active"], created["http_status_code"]) == (True, "0")
        listed = (await http.get(f"{V3}/subscriptions")).json()["data"]
        assert [s["id"] for s in listed] == [created["id"]]
        assert "hmac_secret" not in listed[0]  # only shown when created
        one = f"{V3}/subscription/{created['id']}"
        assert (await http.get(one)).json()["data"]["name"] == "orchestra"
        updated = (await http.put(one, json={"active": False, "name": "renamed"})).json()
        assert (updated["data"]["active"], updated["data"]["name"]) == (False, "renamed")
        await http.put(one, json={"active": True})
        test = (await http.get(f"{one}/test")).json()["data"]
        assert test == {"verification_error": None, "verification_status_code": "200"}
        assert receiver.got[0].headers["authorization"] == hmac.new(
            created["hmac_secret"].encode(), receiver.got[0].content,
            hashlib.sha256).hexdigest()
        assert (await http.delete(one)).status_code == 200
        assert (await http.get(one)).status_code == 404
        bad = await http.post(f"{V3}/subscriptions", json={"event_types": ["job.run.x"],
                                                          "client_url": "https://x.io"})
        assert bad.status_code == 400


async def test_remote_subscription_urls_are_refused_without_a_transport(sim):
    async with client(sim) as http:
        response = await http.post(f"{V3}/subscriptions", json={
            "event_types": ["job.run.completed"], "client_url": "https://example.com/hook"})
        assert response.status_code == 400
        ok = await http.post(f"{V3}/subscriptions", json={
            "event_types": ["job.run.completed"], "client_url": "http://127.0.0.1:9/hook"})
        assert ok.status_code == 201


async def test_run_events_are_delivered_signed_in_order(clock):
    receiver = Receiver()
    sim = DbtCloudSimulator(clock=clock, webhook_transport=receiver.transport,
                            completed_delay=3)
    async with client(sim) as http:
        sub = await subscribe(http)
        run = await trigger(http, FAILING_JOB, cause="nightly")
        for _ in range(20):
            clock.advance(1)
            await sim.deliver_due()
    events = receiver.events()
    assert [(e["eventType"], e["data"]["runStatusCode"], e["data"]["runStatus"])
            for e in events] == [("job.run.started", 3, "Running"),
                                 ("job.run.errored", 20, "Errored"),
                                 ("job.run.completed", 20, "Errored")]
    started, errored, completed = events
    assert started["timestamp"] == "2026-01-01T00:00:02.000000000Z"
    assert errored["data"]["runErroredAt"] == "2026-01-01T00:00:12.000000000Z"
    assert completed["data"]["runFinishedAt"] == "2026-01-01T00:00:12.000000000Z"
    assert completed["timestamp"] == "2026-01-01T00:00:15.000000000Z"
    assert completed["data"]["runId"] == str(run["id"])
    assert completed["data"]["jobId"] == str(FAILING_JOB)
    assert completed["data"]["runReason"] == "nightly"
    assert (completed["accountId"], completed["webhooksID"], completed["webhookName"]) == (
        1, sub["id"], "orchestra")
    assert len({e["eventId"] for e in events}) == 3
    for request in receiver.got:
        assert request.headers["authorization"] == hmac.new(
            sub["hmac_secret"].encode(), request.content, hashlib.sha256).hexdigest()


async def test_job_filter_event_filter_and_cancel(clock):
    receiver = Receiver()
    sim = DbtCloudSimulator(clock=clock, webhook_transport=receiver.transport)
    async with client(sim) as http:
        await subscribe(http, job_ids=[FAILING_JOB], event_types=["job.run.completed"])
        await trigger(http, SUCCEEDING_JOB)  # not a subscribed job
        run = await trigger(http, FAILING_JOB)
        clock.advance(4)
        await http.post(f"{V2}/runs/{run['id']}/cancel/")
        for _ in range(30):
            clock.advance(1)
            await sim.deliver_due()
    [event] = receiver.events()  # the errored/completed planned before the cancel are dropped
    assert (event["eventType"], event["data"]["runStatusCode"],
            event["data"]["runStatus"]) == ("job.run.completed", 30, "Cancelled")
    assert event["data"]["runStatusMessage"] == "Cancelled by user."


async def test_failed_deliveries_are_retried(clock):
    receiver = Receiver(status=503)
    sim = DbtCloudSimulator(clock=clock, webhook_transport=receiver.transport)
    async with client(sim) as http:
        await subscribe(http, event_types=["job.run.started"])
        await trigger(http)
        clock.advance(2)
        await sim.deliver_due()
        receiver.status = 200
        clock.advance(sim.webhook_retry_delays[0])
        await sim.deliver_due()
    assert [d.attempt for d in sim.deliveries] == [1, 2]
    assert [d.ok for d in sim.deliveries] == [False, True]
    assert receiver.got[0].content == receiver.got[1].content  # the same event, redelivered


def test_describe_and_credentials(sim):
    assert sim.credentials() == {"token": "dbt-test-token", "account_id": "1"}
    info = sim.describe()
    assert set(info["jobs"]) == {f"1/{SUCCEEDING_JOB}", f"1/{FAILING_JOB}"}
    assert info["env"]["DBT_CLOUD_BASE_URL"] == "http://dbt.simulator"
