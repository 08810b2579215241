"""The REST API in-process: tokens, 401/403 as problem details, client isolation, pipelines
(validate, apply, ETag, activate, delete), runs (start with parameters, filters, cursor
paging, resolutions in the store), queues, configuration without values, notifications,
the audit log (API and CLI) and its CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from orchestra_core._api.tokens import ApiTokens, hash_token
from orchestra_core._store.schema import api_tokens, notifications
from orchestra_core.cli import cli

from ._api_kit import Api, pipeline_text
from .test_scheduling import store_url  # noqa: F401  (fixture: SQLite and PostgreSQL)


@pytest.fixture
def api(tmp_path):
    return Api(tmp_path)


@pytest.fixture
def api_any(tmp_path, store_url):  # noqa: F811
    api = Api(tmp_path, store_url)
    yield api
    api.store.close()


def is_problem(resp, status):
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_tokens_are_shown_once_stored_as_hashes_and_revocable(tmp_path):
    db = str(tmp_path / "t.db")
    runner = CliRunner()
    out = runner.invoke(cli, ["tokens", "create", "ci", "--client", "acme", "--scope", "run",
                              "--db", db])
    assert out.exit_code == 0, out.output
    token = out.output.splitlines()[1]
    assert token.startswith("orc_") and len(token) > 40
    api = Api(tmp_path)
    store = api.store.__class__.open(db)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(api_tokens)).mappings().all()
    assert [r["token_hash"] for r in rows] == [hash_token(token)]
    assert token not in json.dumps([dict(r) for r in rows], default=str)
    listed = runner.invoke(cli, ["tokens", "list", "--json", "--db", db])
    assert '"ci"' in listed.output and token not in listed.output
    assert hash_token(token) not in listed.output
    assert ApiTokens(store).verify(token).scope == "run"
    assert runner.invoke(cli, ["tokens", "revoke", "ci", "--db", db]).exit_code == 0
    assert ApiTokens(store).verify(token) is None
    audit = runner.invoke(cli, ["audit", "--json", "--db", db])
    actions = [r["action"] for r in json.loads(audit.output)]
    assert actions == ["cli.tokens.revoke", "cli.tokens.create"]
    assert token not in audit.output
    path = tmp_path / "p.yaml"
    path.write_text(pipeline_text())
    assert runner.invoke(cli, ["pipelines", "apply", "--db", db, str(path)]).exit_code == 0
    assert runner.invoke(cli, ["run", str(path), "--db", db, "--progress", "none"]
                         ).exit_code == 1  # load fails once
    recent = json.loads(runner.invoke(cli, ["audit", "--json", "--limit", "2", "--db", db]
                                      ).output)
    assert [(r["action"], r["target"]) for r in recent] == [
        ("cli.run", str(path)), ("cli.pipelines.apply", str(path))]
    table = runner.invoke(cli, ["audit", "--csv", "--action", "cli.tokens.c", "--db", db])
    rows = list(csv.DictReader(io.StringIO(table.output)))
    assert [(r["action"], r["via"], r["target"]) for r in rows] == [
        ("cli.tokens.create", "cli", "ci")]
    assert rows[0]["actor"].startswith("local:") and "--scope" in rows[0]["after"]


def test_no_token_bad_token_and_weak_scope_are_problems(api):
    body = is_problem(api.call("GET", "/pipelines", None), 401)
    assert "Bearer" in body["detail"]
    assert api.call("GET", "/pipelines", None).headers["www-authenticate"].startswith("Bearer")
    is_problem(api.client.get("/pipelines", headers={"Authorization": "Bearer orc_nope"}), 401)
    body = is_problem(api.apply(token="a-run"), 403)
    assert "admin" in body["detail"]
    is_problem(api.call("GET", "/no/such/route"), 404)


def test_apply_validate_etag_and_located_errors(api):
    resp = api.call("POST", "/pipelines/validate", "a-read",
                    content="name: x\ntasks:\n  - id: a\n    integration: nope\n")
    assert resp.status_code == 200
    body = resp.json()
    assert body["valid"] is False and body["problems"][0]["line"] in (3, 4)
    assert body["problems"][0]["path"].startswith("$.tasks[0]")
    bad = is_problem(api.apply("name: api-demo\ntasks: 3\n"), 422)
    assert bad["errors"] and bad["errors"][0]["path"].startswith("$.tasks")
    assert api.call("GET", "/pipelines").json() == []  # nothing stored

    resp = api.apply()
    assert resp.status_code == 200 and resp.json()["status"] == "created"
    assert resp.headers["etag"] == '"v1"'
    shown = api.call("GET", "/pipelines/api-demo", "a-read")
    assert shown.headers["etag"] == '"v1"'
    info = shown.json()
    assert info["client"] == "acme" and info["versions"][0]["version"] == 1
    assert info["triggers"][0]["kind"] == "cron" and info["triggers"][0]["next_fire_at"]
    # an update based on v1 goes through; a second one based on v1 is stale
    ok = api.call("PUT", "/pipelines/api-demo", content=pipeline_text(fails=2),
                  headers={"If-Match": '"v1"'})
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = api.call("PUT", "/pipelines/api-demo", content=pipeline_text(fails=3),
                     headers={"If-Match": '"v1"'})
    assert "v2" in is_problem(stale, 409)["detail"]
    assert api.call("GET", "/pipelines/api-demo").json()["version"] == 2
    listed = api.call("GET", "/pipelines", "a-read").json()
    assert [(p["name"], p["version"], p["status"]) for p in listed] == [
        ("api-demo", 2, "active")]
    assert listed[0]["next_fire_at"] is not None
    is_problem(api.apply(name="other"), 422)  # the file names api-demo

    assert api.call("POST", "/pipelines/api-demo/deactivate").json()["active"] is False
    assert api.call("GET", "/pipelines").json()[0]["next_fire_at"] is None
    assert api.call("POST", "/pipelines/api-demo/activate").json()["active"] is True
    assert api.call("DELETE", "/pipelines/api-demo").json() == {"deleted": "api-demo",
                                                                 "runs_kept": 0}
    is_problem(api.call("GET", "/pipelines/api-demo"), 404)
    actions = [r["action"] for r in api.call("GET", "/audit").json()]
    assert actions == ["pipeline.delete", "pipeline.activate", "pipeline.deactivate",
                       "pipeline.apply", "pipeline.apply"]


def test_clients_are_isolated(api_any):
    api = api_any
    assert api.apply().status_code == 200
    run = api.call("POST", "/runs", "a-run", json={"pipeline": "api-demo"}).json()
    for method, path in (("GET", "/pipelines/api-demo"), ("GET", f"/runs/{run['id']}"),
                         ("POST", f"/runs/{run['id']}/cancel"),
                         ("POST", "/pipelines/api-demo/deactivate"),
                         ("DELETE", "/pipelines/api-demo"),
                         ("GET", f"/logs?run_id={run['id']}")):
        is_problem(api.call(method, path, "b-admin"), 404)
    is_problem(api.call("POST", "/runs", "b-admin", json={"pipeline": "api-demo"}), 404)
    assert api.call("GET", "/pipelines", "b-admin").json() == []
    assert api.call("GET", "/runs", "b-admin").json()["runs"] == []
    assert api.call("GET", "/triggers", "b-admin").json() == []
    assert api.call("GET", "/audit", "b-admin").json() == []
    # beta may have its own api-demo: a different pipeline
    assert api.apply(token="b-admin").json()["client"] == "beta"
    assert len(api.call("GET", "/pipelines", "a-read").json()) == 1
    other = pipeline_text().replace("name: api-demo", "name: api-demo\nclient: beta")
    is_problem(api.apply(other), 403)


def test_runs_start_with_parameters_filter_and_page(api_any):
    api = api_any
    api.apply()
    bad = api.call("POST", "/runs", "a-run", json={"pipeline": "api-demo",
                                                   "parameters": {"nope": {"x": 1}}})
    assert is_problem(bad, 422)["errors"][0]["path"] == "$.parameters.nope"
    bad = api.call("POST", "/runs", "a-run", json={"pipeline": "api-demo",
                                                   "parameters": {"load": {"fail_times": "x"}}})
    assert "fail_times" in is_problem(bad, 422)["detail"]
    is_problem(api.call("POST", "/runs", "a-run", json={"pipeline": "api-demo",
                                                        "run_type": "bogus"}), 422)
    started = api.call("POST", "/runs", "a-run", json={
        "pipeline": "api-demo", "run_type": "refresh", "parameters": {"load": {"fail_times": 0}}})
    assert started.status_code == 201, started.text
    first = started.json()
    assert first["state"] == "pending" and first["trigger"] == "api:a-run"
    stored = api.store.get_run(first["id"])["definition"]
    assert next(t["parameters"] for t in stored["tasks"] if t["id"] == "load")["fail_times"] == 0
    ids = [first["id"]] + [api.call("POST", "/runs", "a-run", json={"pipeline": "api-demo"})
                           .json()["id"] for _ in range(4)]
    seen, cursor = [], None
    while True:
        page = api.call("GET", "/runs", "a-read",
                        params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [r["id"] for r in page["runs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    assert len(api.call("GET", "/runs", params={"run_type": "refresh"}).json()["runs"]) == 1
    assert len(api.call("GET", "/runs", params={"trigger_kind": "api"}).json()["runs"]) == 5
    assert api.call("GET", "/runs", params={"trigger_kind": "cron"}).json()["runs"] == []
    later = datetime.now(UTC).replace(year=2099).isoformat()
    assert api.call("GET", "/runs", params={"since": later}).json()["runs"] == []
    is_problem(api.call("GET", "/runs", params={"limit": 100000}), 400)
    is_problem(api.call("GET", "/runs", params={"cursor": "garbage"}), 400)
    detail = api.call("GET", f"/runs/{first['id'][:8]}", "a-read").json()
    assert [t["task_id"] for t in detail["tasks"]] == ["extract", "load", "report"]
    cancelled = api.call("POST", f"/runs/{first['id']}/cancel", "a-run")
    assert cancelled.status_code == 200
    # not ended yet: no resolution applies
    is_problem(api.call("POST", f"/runs/{first['id']}/tasks/load/retry", "a-run"), 409)
    is_problem(api.call("POST", f"/runs/{first['id']}/resume", "a-run"), 409)


def test_body_limit(api, tmp_path):
    from orchestra_core import create_api

    app = create_api(api.host, api.store, max_body_bytes=100)
    from starlette.testclient import TestClient

    small = TestClient(app)
    resp = small.put("/pipelines/x", content="#" * 101, headers=api.auth("a-admin"))
    is_problem(resp, 413)


def test_queues_configuration_and_notifications(api, monkeypatch):
    from orchestra_core._secrets import KEY_ENV, generate_key

    monkeypatch.setenv(KEY_ENV, generate_key())
    pushed = api.call("POST", "/queues/invoices/elements", "a-run",
                      json={"data": {"n": 1}, "reference": "INV-1"})
    assert pushed.status_code == 201 and pushed.json()["created_by"] == "token:a-run"
    assert api.call("GET", "/queues", "a-read").json()[0]["counts"]["new"] == 1
    claimed = api.call("POST", "/queues/invoices/claim", "a-run").json()
    assert claimed["reference"] == "INV-1" and claimed["status"] == "in_progress"
    assert api.call("POST", "/queues/invoices/claim", "a-run").json() is None
    done = api.call("POST", f"/queues/invoices/elements/{claimed['id']}/complete", "a-run",
                    json={"message": "paid"}).json()
    assert done["status"] == "done" and done["message"] == "paid"
    is_problem(api.call("POST", "/queues/other/elements/1/fail", "a-run", json={}), 404)
    is_problem(api.call("POST", "/queues/invoices/elements", "a-read", json={}), 403)

    assert api.call("PUT", "/constants/region", json={"value": "eu"}).json()["value"] == "eu"
    assert [c["name"] for c in api.call("GET", "/constants", "a-read").json()] == ["region"]
    secret = "s3cr3t-value-1234"
    created = api.call("PUT", "/credentials/fivetran", json={"secrets": {"api_key": secret}})
    assert created.json()["fields"] == ["api_key"] and secret not in created.text
    rotated = api.call("POST", "/credentials/fivetran/rotate",
                       json={"secrets": {"api_key": secret + "2"}})
    assert rotated.status_code == 200 and secret not in rotated.text
    assert secret not in api.call("GET", "/credentials").text
    assert secret not in api.call("GET", "/audit").text
    assert [r["action"] for r in api.call("GET", "/audit").json()][:2] == [
        "credential.rotate", "credential.set"]
    conn = api.call("PUT", "/connections/ft", json={"integration": "http"})
    assert conn.status_code == 200, conn.text
    assert [c["name"] for c in api.call("GET", "/connections", "a-read").json()] == ["ft"]
    assert api.call("DELETE", "/connections/ft").status_code == 204
    is_problem(api.call("POST", "/credentials/nope/rotate", json={"secrets": {"k": "v"}}), 404)
    is_problem(api.call("PUT", "/constants/x", json={"value": 3}), 422)

    api.apply()
    run = api.call("POST", "/runs", "a-run", json={"pipeline": "api-demo"}).json()
    with api.store.engine.begin() as conn:
        for pipeline, run_id in (("api-demo", run["id"]), ("elsewhere", None)):
            conn.execute(notifications.insert().values(
                created_at=datetime.now(UTC), kind="run_failed", pipeline=pipeline,
                run_id=run_id, message="failed", data={}))
    listed = api.call("GET", "/notifications", "a-read").json()
    assert [n["pipeline"] for n in listed] == ["api-demo"]
    acked = api.call("POST", f"/notifications/{listed[0]['id']}/acknowledge", "a-run").json()
    assert acked["acknowledged"] is True
    assert api.call("GET", "/notifications", params={"acknowledged": "false"}).json() == []
    assert api.call("GET", "/notifications", "b-admin").json() == []


def test_audit_filters_and_csv(api):
    api.apply()
    api.call("POST", "/runs", "a-run", json={"pipeline": "api-demo"})
    rows = api.call("GET", "/audit", params={"action": "run."}).json()
    assert [(r["action"], r["actor"], r["via"]) for r in rows] == [
        ("run.start", "token:a-run", "api")]
    assert api.call("GET", "/audit", params={"actor": "token:a-admin"}).json()[0][
        "after"]["version"] == 1
    resp = api.call("GET", "/audit", params={"format": "csv"})
    assert resp.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(resp.text)))
    assert [r["action"] for r in table] == ["run.start", "pipeline.apply"]
    assert json.loads(table[1]["after"])["version"] == 1


def test_trigger_preview(api):
    api.apply()
    trigger = api.call("GET", "/triggers", "a-read").json()[0]
    assert (trigger["pipeline"], trigger["kind"]) == ("api-demo", "cron")
    after = "2026-03-01T12:00:00Z"
    preview = api.call("GET", f"/triggers/{trigger['id']}/preview", "a-read",
                       params={"count": 3, "after": after}).json()
    assert preview["times"] == ["2026-03-02T06:00:00+00:00", "2026-03-03T06:00:00+00:00",
                                "2026-03-04T06:00:00+00:00"]
    is_problem(api.call("GET", f"/triggers/{trigger['id']}/preview", "b-admin"), 404)


def test_trigger_preview_marks_fires_a_dst_change_moves(api):
    """02:30 Berlin does not exist on 2026-03-29: that fire moves to when the clocks jump,
    and the preview says so in local time and UTC."""
    api.apply(pipeline_text().replace('{kind: cron, cron: "0 6 * * *", timezone: UTC}',
                                      '{kind: cron, cron: "30 2 * * *", '
                                      'timezone: Europe/Berlin}'))
    trigger = api.call("GET", "/triggers", "a-read").json()[0]
    fires = api.call("GET", f"/triggers/{trigger['id']}/preview", "a-read",
                     params={"count": 3, "after": "2026-03-28T00:00:00Z"}).json()["fires"]
    assert [f["at"] for f in fires] == ["2026-03-28T01:30:00+00:00",
                                       "2026-03-29T01:00:00+00:00",
                                       "2026-03-30T00:30:00+00:00"]
    assert [f["local"][:16] for f in fires] == ["2026-03-28T02:30", "2026-03-29T03:00",
                                               "2026-03-30T02:30"]
    assert fires[0]["dst"] is None and fires[1]["dst"] and fires[2]["timezone"] == (
        "Europe/Berlin")


def test_openapi_document_lists_every_route(api):
    doc = api.client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    from orchestra_core._api.routes import ENDPOINTS

    assert ops == {(e.method, e.path) for e in ENDPOINTS}
    assert "Problem" in doc["components"]["schemas"]
