"""Data delivery through the REST API, as a user drives it: destinations set (options checked,
"did you mean" located), listed without a secret, tested without delivering, deleted, each
change in the audit log; data templates listed; orchestrations listed for the token's client
only."""

from __future__ import annotations

import anyio
import pytest

from orchestra_core._engine import Engine
from orchestra_core._secrets import KEY_ENV, generate_key
from orchestra_core.testing._simulator._receiver import make_demo_database

from ._api_kit import Api

SECRET = "hunter2-very-secret"
TOKEN = "tok-abcdef-123456"


@pytest.fixture
def api(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, generate_key())
    return Api(tmp_path)


def problem(resp, status):
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    return resp.json()


def test_destinations_set_list_test_delete_and_audit(api, tmp_path):
    out = tmp_path / "out"
    made = api.call("PUT", "/destinations/drop", json={
        "type": "filedrop", "options": {"directory": str(out), "create": True},
        "concurrency": 2})
    assert made.status_code == 200, made.text
    assert made.json()["concurrency"] == 2 and made.json()["credential"] is None
    api.call("PUT", "/credentials/partner", json={"secrets": {"token": "cred-value-98765"}})
    partner = api.call("PUT", "/destinations/partner", json={
        "type": "http", "credential": "partner",
        "options": {"url": f"https://ingest:{SECRET}@example.invalid/records", "auth": "bearer",
                    "headers": {"Authorization": f"Bearer {TOKEN}", "X-Team": "data"}}})
    assert partner.status_code == 200, partner.text
    listed = api.call("GET", "/destinations", "a-read")
    assert [d["name"] for d in listed.json()] == ["drop", "partner"]
    shown = listed.json()[1]
    assert shown["credential"] == "partner" and shown["type"] == "http"
    assert shown["options"]["headers"] == {"Authorization": "*****", "X-Team": "data"}
    assert shown["options"]["url"] == "https://ingest:*****@example.invalid/records"
    for text in (listed.text, partner.text, api.call("GET", "/audit").text):
        assert SECRET not in text and TOKEN not in text and "cred-value" not in text

    typo = problem(api.call("PUT", "/destinations/drop", json={
        "type": "filedrop", "options": {"directry": str(out)}}), 422)
    assert "did you mean 'directory'" in typo["detail"] + str(typo["errors"])
    assert typo["errors"][0]["path"].startswith("destination drop.options")
    unknown = problem(api.call("PUT", "/destinations/x", json={"type": "ftp", "options": {}}),
                      422)
    assert "unknown destination type 'ftp'" in unknown["detail"]
    problem(api.call("PUT", "/destinations/x", json={"type": "filedrop", "options": {},
                                                     "concurrency": 0}), 422)
    problem(api.call("PUT", "/destinations/x", "a-run", json={"type": "filedrop"}), 403)
    assert api.call("GET", "/destinations").json()[0]["concurrency"] == 2  # unchanged

    tested = api.call("POST", "/destinations/drop/test", "a-run")
    assert tested.json() == {"name": "drop", "checked": True,
                             "detail": "reachable, credentials and permissions accepted"}
    assert out.is_dir() and list(out.iterdir()) == []  # reachable, nothing delivered
    problem(api.call("POST", "/destinations/drop/test", "a-read"), 403)
    missing = problem(api.call("POST", "/destinations/dorp/test", "a-run"), 404)
    assert "did you mean 'drop'" in missing["detail"]

    assert api.call("DELETE", "/destinations/drop").status_code == 204
    problem(api.call("DELETE", "/destinations/drop"), 404)
    assert [d["name"] for d in api.call("GET", "/destinations").json()] == ["partner"]
    actions = [(e["action"], e["target"], e["actor"])
               for e in api.call("GET", "/audit", params={"action": "destination."}).json()]
    assert actions == [("destination.delete", "drop", "token:a-admin"),
                       ("destination.set", "partner", "token:a-admin"),
                       ("destination.set", "drop", "token:a-admin")]


def test_templates_are_listed(api):
    from orchestra_core._delivery.catalog import Templates

    assert api.call("GET", "/templates", "a-read").json() == []
    Templates(api.store).set("csv_gz", {"format": "csv", "compression": "gzip"})
    assert api.call("GET", "/templates", "a-read").json() == [
        {"name": "csv_gz", "definition": {"format": "csv", "compression": "gzip"}}]


PIPELINE = """\
name: deliver-demo
triggers:
  - {kind: cron, cron: "0 6 * * *", timezone: UTC}
tasks:
  - id: orders_out
    integration: orchestration
    integration_job: orchestration_run
    parameters:
      source: {url: "SRC", query: "SELECT id, amount FROM orders ORDER BY id"}
      destination: drop
"""


def test_orchestrations_are_listed_for_the_tokens_client_only(api, tmp_path):
    src = make_demo_database(tmp_path / "demo.db", rows=3)
    api.call("PUT", "/destinations/drop", json={
        "type": "filedrop", "options": {"directory": str(tmp_path / "out"), "create": True}})
    assert api.call("GET", "/orchestrations", "a-read").json() == []
    applied = api.apply(PIPELINE.replace("SRC", src), name="deliver-demo")
    assert applied.status_code == 200, applied.text
    pipeline = api.app.state.api.registry.pipeline("deliver-demo", "acme")
    result = anyio.run(lambda: Engine(api.host, api.store, tune_gc=False).run(pipeline))
    assert result.state == "succeeded"

    rows = api.call("GET", "/orchestrations", "a-read").json()
    assert len(rows) == 1
    row = rows[0]
    assert (row["pipeline"], row["orchestration"], row["destination"], row["template"],
            row["run_mode"], row["status"], row["rows"]) == (
        "deliver-demo", "orders_out", "drop", "default", "cron", "succeeded", 3)
    assert row["last_run"] == result.run_id and row["last_run_at"].endswith("+00:00")
    other = api.call("GET", "/orchestrations", "b-admin")
    assert other.status_code == 200 and other.json() == []
