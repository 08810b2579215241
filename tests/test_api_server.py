"""The REST API driven as a user would: ``orchestra serve``'s service (scheduler, workers,
uvicorn) on 127.0.0.1, httpx as the client. A run is started and watched to its end (polling
and the server-sent log tail); a failed task is retried, another skipped, a run rerun from a
task; the audit log shows it all, and no token reaches a log."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest
from anyio.from_thread import start_blocking_portal

from orchestra_core import Orchestra, Service, Store
from orchestra_core._api.tokens import ApiTokens

from ._api_kit import pipeline_text


@pytest.fixture
def served(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    store = Store.open(str(tmp_path / "served.db"))
    token = ApiTokens(store).create("ops", client="acme", scope="run")[0]
    admin = ApiTokens(store).create("admin", client="acme", scope="admin")[0]
    svc = Service(Orchestra(load_entrypoints=False), store, http_host="127.0.0.1", port=0,
                  workers=4, poll=30, reread=0.5)  # the API wakes the pool
    with start_blocking_portal() as portal:
        future = portal.start_task_soon(svc.run)
        deadline = time.monotonic() + 20
        while not svc.port or svc._server is None or not svc._server.started:
            assert time.monotonic() < deadline and not future.done()
            time.sleep(0.02)
        base = f"http://127.0.0.1:{svc.port}/api/v1"
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                          timeout=10) as client:
            yield client, admin, token
        portal.call(svc.stop)
        future.result(timeout=20)
    for secret in (token, admin):
        assert secret not in caplog.text


def wait_ended(client, run_id, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        run = client.get(f"/runs/{run_id}").json()
        if run["state"] in ("succeeded", "failed", "cancelled"):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def tasks(run):
    return {t["task_id"]: (t["state"], t["attempt"]) for t in run["tasks"]}


def test_start_follow_retry_skip_rerun_and_audit(served):
    client, admin, _ = served
    applied = client.put("/pipelines/api-demo", content=pipeline_text(fails=1),
                         headers={"Authorization": f"Bearer {admin}",
                                  "Content-Type": "application/yaml"})
    assert applied.status_code == 200, applied.text

    started = client.post("/runs", json={"pipeline": "api-demo"})
    assert started.status_code == 201
    run_id = started.json()["id"]
    # follow the run's log as server-sent events until the run has ended
    lines, ended = [], False
    with client.stream("GET", "/logs/tail", params={"run_id": run_id, "max_seconds": 20}) as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        event = None
        for raw in s.iter_lines():
            if raw.startswith("event: "):
                event = raw[7:]
            elif raw.startswith("data: ") and event == "log":
                lines.append(json.loads(raw[6:]))
            elif raw.startswith("data: ") and event == "end":
                ended = True
                break
    assert ended and any("fails 1 time" in line["message"] for line in lines)
    run = wait_ended(client, run_id)
    assert run["state"] == "failed"
    assert tasks(run) == {"extract": ("succeeded", 1), "load": ("failed", 1),
                          "report": ("skipped", 0)}
    load = next(t for t in run["tasks"] if t["task_id"] == "load")
    assert load["resolutions"] == ["retry", "skip", "cancel", "rerun_from"]

    # retry the failed task: it succeeds on its second attempt, report runs, extract does not
    retried = client.post(f"/runs/{run_id}/tasks/load/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["reset_tasks"] == ["load", "report"]
    run = wait_ended(client, run_id)
    assert run["state"] == "succeeded"
    assert tasks(run) == {"extract": ("succeeded", 1), "load": ("succeeded", 2),
                          "report": ("succeeded", 1)}
    assert client.post(f"/runs/{run_id}/tasks/load/retry").status_code == 409

    # a run whose load always fails (parameters for this run only): skip it, report goes on
    second = client.post("/runs", json={"pipeline": "api-demo",
                                        "parameters": {"load": {"fail_times": 99}}}).json()
    assert wait_ended(client, second["id"])["state"] == "failed"
    skipped = client.post(f"/runs/{second['id']}/tasks/load/skip").json()
    assert "as if it had succeeded" in skipped["detail"]
    run = wait_ended(client, second["id"])
    assert run["state"] == "succeeded"
    assert tasks(run)["load"][0] == "skipped" and tasks(run)["report"] == ("succeeded", 1)

    # rerun the first run from report: a new run, extract and load keep their results
    rerun = client.post(f"/runs/{run_id}/tasks/report/rerun").json()
    assert rerun["run_id"] != run_id and rerun["reset_tasks"] == ["report"]
    new = wait_ended(client, rerun["run_id"])
    assert new["state"] == "succeeded" and new["trigger"] == f"rerun:{run_id}"[:64]
    assert tasks(new) == {"extract": ("succeeded", 1), "load": ("succeeded", 2),
                          "report": ("succeeded", 1)}

    # a third run fails; closing it cancels it for good
    third = client.post("/runs", json={"pipeline": "api-demo",
                                       "parameters": {"load": {"fail_times": 99}}}).json()
    wait_ended(client, third["id"])
    assert client.post(f"/runs/{third['id']}/close").json()["state"] == "cancelled"
    assert client.get(f"/runs/{third['id']}").json()["state"] == "cancelled"

    audit = client.get("/audit").json()
    assert [r["action"] for r in audit] == [
        "run.cancel", "run.start", "run.rerun_from", "run.skip", "run.start", "run.retry",
        "run.start", "pipeline.apply"]
    assert {r["actor"] for r in audit} == {"token:ops", "token:admin"}
