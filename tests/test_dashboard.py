"""The web dashboard without a browser (Starlette's TestClient): signing in with a token into
an HttpOnly, SameSite=Strict session cookie, CSRF refusals, client isolation, the pages, and
every change going through the API (its audit log)."""

from __future__ import annotations

import re
import warnings

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from orchestra_core._dashboard import PagesMount, create_dashboard
from orchestra_core._dashboard.graph import layout

from ._api_kit import Api

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@pytest.fixture
def kit(tmp_path):
    api = Api(tmp_path)
    assert api.apply().status_code == 200
    app = Starlette(routes=[Mount("/api/v1", api.app), PagesMount(create_dashboard(api.app))])
    return api, app


def browser(app):
    return TestClient(app, base_url="http://127.0.0.1:8080", follow_redirects=False)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(app, kit_api, token_name):
    client = browser(app)
    form = client.get("/login")
    assert form.status_code == 200
    answer = client.post("/login", data={"csrf": csrf_of(form.text), "next": "/pipelines",
                                         "token": kit_api.tokens[token_name]})
    assert answer.status_code == 303, answer.text
    return client, answer


def test_sign_in_cookie_flags_and_sign_out(kit):
    api, app = kit
    anonymous = browser(app)
    assert anonymous.get("/pipelines").headers["location"].startswith("/login?next=")
    client, answer = sign_in(app, api, "a-admin")
    cookie = answer.headers["set-cookie"]
    assert "orchestra_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert api.tokens["a-admin"] not in cookie  # the token stays on the server
    page = client.get("/pipelines")
    assert page.status_code == 200 and "api-demo" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    out = client.post("/logout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303
    assert client.get("/pipelines").status_code == 303  # signed out


def test_bad_token_and_login_csrf_are_refused(kit):
    api, app = kit
    client = browser(app)
    form = client.get("/login")
    bad = client.post("/login", data={"csrf": csrf_of(form.text), "token": "orc_nope"})
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    forged = browser(app).post("/login", data={"csrf": "x", "token": api.tokens["a-admin"]})
    assert forged.status_code == 403 and "set-cookie" not in forged.headers


def test_every_change_needs_the_csrf_token_and_goes_through_the_api(kit):
    api, app = kit
    client, _ = sign_in(app, api, "a-admin")
    page = client.get("/pipelines")
    token = csrf_of(page.text)
    for data in ({}, {"csrf": "wrong"}):
        refused = client.post("/pipelines/api-demo/deactivate", data=data)
        assert refused.status_code == 403
    cross = client.post("/pipelines/api-demo/deactivate", data={"csrf": token},
                        headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    assert api.call("GET", "/pipelines/api-demo").json()["active"] is True  # unchanged
    done = client.post("/pipelines/api-demo/deactivate", data={"csrf": token})
    assert done.status_code == 303 and "notice=" in done.headers["location"]
    assert api.call("GET", "/pipelines/api-demo").json()["active"] is False
    htmx = client.post("/pipelines/api-demo/activate", headers={"X-CSRF-Token": token})
    assert htmx.status_code == 303
    started = client.post("/pipelines/api-demo/run", data={"csrf": token, "run_type": "refresh"})
    run_url = started.headers["location"].split("?")[0]
    run = api.call("GET", "/runs").json()["runs"][0]
    assert run_url == f"/runs/{run['id']}" and run["run_type"] == "refresh"
    actions = [e["action"] for e in api.call("GET", "/audit").json()]
    assert actions[:3] == ["run.start", "pipeline.activate", "pipeline.deactivate"]
    shown = client.get(run_url)
    assert shown.status_code == 200 and 'data-task="load"' in shown.text and "<svg" in shown.text
    assert "hx-trigger=\"every 1s\"" in shown.text  # pending: the graph refreshes itself


def test_a_read_token_is_refused_by_the_api_and_told_so(kit):
    api, app = kit
    client, _ = sign_in(app, api, "a-read")
    token = csrf_of(client.get("/pipelines").text)
    answer = client.post("/pipelines/api-demo/run", data={"csrf": token, "next": "/pipelines"})
    assert "error=" in answer.headers["location"] and "scope" in client.get(
        answer.headers["location"]).text
    assert api.call("GET", "/runs").json()["runs"] == []


def test_another_client_sees_none_of_it(kit):
    api, app = kit
    run_id = api.call("POST", "/runs", json={"pipeline": "api-demo"}).json()["id"]
    client, _ = sign_in(app, api, "b-admin")
    for path in ("/pipelines", "/runs", "/triggers", "/audit", "/logs"):
        page = client.get(path)
        assert page.status_code == 200 and "api-demo" not in page.text, path
    assert client.get(f"/runs/{run_id}").status_code == 404
    assert client.get(f"/runs/{run_id}/live").text.strip() == ""
    token = csrf_of(client.get("/pipelines").text)
    client.post(f"/runs/{run_id}/cancel", data={"csrf": token})
    assert api.call("GET", f"/runs/{run_id}").json()["state"] == "pending"
    assert "acme" not in client.get("/notifications").text


def test_pages_render_and_secrets_are_never_shown(kit, monkeypatch):
    api, app = kit
    client, _ = sign_in(app, api, "a-admin")
    token = csrf_of(client.get("/pipelines").text)
    client.post("/settings/constants", data={"csrf": token, "name": "region",
                                             "value": "eu-west-hidden-1"})
    page = client.get("/settings")
    assert "region" in page.text and "eu-west-hidden-1" not in page.text
    triggers = client.get("/triggers")
    assert triggers.status_code == 200 and triggers.text.count("<li>") >= 5  # next fire times
    for path in ("/runs", "/logs?level=error&live=1", "/queues", "/audit?action=constant.",
                 "/notifications", "/destinations"):
        assert client.get(path).status_code == 200, path
    assert "constant.set" in client.get("/audit?action=constant.").text
    assert client.get("/static/htmx.min.js").status_code == 200
    assert client.get("/no/such/page").status_code == 404


def test_graph_layout_by_levels():
    definition = {"tasks": [{"id": "a"}, {"id": "b", "depends_on": ["a"]},
                            {"id": "c", "depends_on": ["a"]},
                            {"id": "d", "depends_on": ["b", "c"]}]}
    graph = layout(definition, {"a": "succeeded", "d": "failed"})
    xs = {n.id: n.x for n in graph.nodes}
    assert xs["a"] < xs["b"] == xs["c"] < xs["d"]
    assert len(graph.edges) == 4
    assert {n.id: n.state for n in graph.nodes}["b"] == "pending"


def test_a_path_cannot_reach_another_api_route(kit):
    api, app = kit
    client, _ = sign_in(app, api, "a-admin")
    token = csrf_of(client.get("/pipelines").text)
    # "api-demo?x=" as one name: not the deactivate route of api-demo
    for path in ("/pipelines/api-demo%3Fx%3D/deactivate",
                 "/pipelines/api-demo%2Fdeactivate%3Fx%3D/activate"):
        answer = client.post(path, data={"csrf": token, "next": "/pipelines"})
        assert answer.status_code == 404 or "error=" in answer.headers["location"], path
    assert api.call("GET", "/pipelines/api-demo").json()["active"] is True
    assert client.get("/runs/..%2F..%2Fpipelines").status_code == 404
    assert client.post("/login", data={"csrf": "x"}).status_code == 403
    assert client.get("/login?next=//evil.example").headers["location"] == "/pipelines"


def test_a_revoked_token_ends_its_session(kit):
    from orchestra_core._api.tokens import ApiTokens

    api, app = kit
    client, _ = sign_in(app, api, "a-run")
    assert client.get("/pipelines").status_code == 200
    ApiTokens(api.store).revoke("a-run")
    api.app.state.api._tokens.clear()  # the API remembers a verification for 5 s
    answer = client.get("/pipelines")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert client.get("/runs").headers["location"].startswith("/login")  # session gone


def test_destinations_page_reads_the_orchestrations_route(kit, tmp_path):
    import anyio

    from orchestra_core._engine import Engine
    from orchestra_core.testing._simulator._receiver import make_demo_database

    from .test_api_delivery import PIPELINE

    api, app = kit
    api.call("PUT", "/destinations/drop", json={
        "type": "filedrop", "options": {"directory": str(tmp_path / "out"), "create": True}})
    src = make_demo_database(tmp_path / "demo.db", rows=4)
    assert api.apply(PIPELINE.replace("SRC", src), name="deliver-demo").status_code == 200
    pipeline = api.app.state.api.registry.pipeline("deliver-demo", "acme")
    run = anyio.run(lambda: Engine(api.host, api.store, tune_gc=False).run(pipeline))
    client, _ = sign_in(app, api, "a-read")
    page = client.get("/destinations").text
    row = re.search(r'<tr data-orchestration="orders_out">.*?</tr>', page, re.DOTALL).group(0)
    for text in ("deliver-demo", "drop", "default", "cron", "succeeded", ">4<",
                 f'href="/runs/{run.run_id}"'):
        assert text in row, text
    other, _ = sign_in(app, api, "b-admin")
    assert "orders_out" not in other.get("/destinations").text
    from orchestra_core._api.tokens import ApiTokens

    ApiTokens(api.store).revoke("a-read")  # the page asks the API, which now refuses
    api.app.state.api._tokens.clear()
    assert client.get("/destinations").headers["location"].startswith("/login")
