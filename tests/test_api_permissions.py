"""The permissions matrix: every route x no token, each scope of client ``acme``, and an
admin token of client ``beta``. Missing token: 401; weaker scope: 403 (both problem
details, nothing changed); enough scope: never 401/403; the other client's token finds
nothing of acme's (404 on its records, empty listings, never the name ``acme`` in an
answer)."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import pytest

from orchestra_core._api.routes import ENDPOINTS
from orchestra_core._api.tokens import SCOPES
from orchestra_core._engine import Engine
from orchestra_core._secrets import KEY_ENV, generate_key
from orchestra_core._store.schema import notifications
from orchestra_core.testing._simulator._receiver import make_demo_database

from ._api_kit import Api, pipeline_text
from .test_api_delivery import PIPELINE as DELIVERY

OWNED = ("/pipelines/{name}", "/runs/{run_id}", "/triggers/{trigger_id}",
         "/notifications/{notification_id}")
BODIES = {
    ("PUT", "/pipelines/{name}"): {"content": pipeline_text()},
    ("POST", "/pipelines/validate"): {"content": pipeline_text()},
    ("POST", "/runs"): {"json": {"pipeline": "api-demo"}},
    ("POST", "/queues/{queue}/elements"): {"json": {"data": 1}},
    ("POST", "/queues/{queue}/elements/{element_id}/complete"): {"json": {}},
    ("POST", "/queues/{queue}/elements/{element_id}/fail"): {"json": {}},
    ("PUT", "/constants/{name}"): {"json": {"value": "v"}},
    ("PUT", "/credentials/{name}"): {"json": {"secrets": {"api_key": "key-12345"}}},
    ("POST", "/credentials/{name}/rotate"): {"json": {"secrets": {"api_key": "key-67890"}}},
    ("PUT", "/connections/{name}"): {"json": {"integration": "http"}},
    ("PUT", "/destinations/{name}"): {"json": {"type": "filedrop", "options": {
        "directory": "DROP", "create": True}}},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv(KEY_ENV, generate_key())
    api = Api(tmp_path_factory.mktemp("perm"))
    assert api.apply().status_code == 200
    pipeline = api.app.state.api.registry.pipeline("api-demo", "acme")
    result = anyio.run(lambda: Engine(api.host, api.store, tune_gc=False).run(pipeline))
    assert result.state == "failed"
    with api.store.engine.begin() as conn:
        note = conn.execute(notifications.insert().values(
            created_at=datetime.now(UTC), kind="run_failed", pipeline="api-demo",
            run_id=result.run_id, message="failed", data={})).inserted_primary_key[0]
    element = api.app.state.api.queues.push("invoices", {"n": 1})
    trigger = api.app.state.api.registry.list_triggers()[0]["id"]
    drop = str(tmp_path_factory.mktemp("drop"))
    BODIES[("PUT", "/destinations/{name}")]["json"]["options"]["directory"] = drop
    api.call("PUT", "/destinations/drop", json=BODIES[("PUT", "/destinations/{name}")]["json"])
    src = make_demo_database(tmp_path_factory.mktemp("src") / "demo.db", rows=2)
    assert api.apply(DELIVERY.replace("SRC", src), name="deliver-demo").status_code == 200
    delivering = api.app.state.api.registry.pipeline("deliver-demo", "acme")
    anyio.run(lambda: Engine(api.host, api.store, tune_gc=False).run(delivering))
    values = {"name": "api-demo", "run_id": result.run_id, "task_id": "load",
              "trigger_id": trigger, "queue": "invoices", "element_id": str(element.id),
              "notification_id": str(note)}
    yield api, values
    mp.undo()


def test_listings_of_the_other_client_are_empty(world):
    api, values = world
    for path in ("/pipelines", "/triggers", "/notifications", "/audit", "/logs",
                 "/orchestrations"):
        assert api.call("GET", path, "a-read").json(), path
        assert api.call("GET", path, "b-admin").json() == [] or path == "/audit", path
    assert api.call("GET", "/runs", "b-admin").json()["runs"] == []
    assert api.call("GET", "/logs", "b-admin", params={"run_id": values["run_id"]}
                    ).status_code == 404


def _order(ep):  # deletions and closing last, so that the other routes find their records
    return (ep.method == "DELETE", ep.path.endswith("/close"))


@pytest.mark.parametrize("ep", sorted(ENDPOINTS, key=_order),
                         ids=lambda ep: f"{ep.method} {ep.path}")
def test_route_x_scope_x_client(world, ep):
    api, values = world
    path = ep.path.format(**{k: v for k, v in values.items()
                             if "{" + k + "}" in ep.path}) if "{" in ep.path else ep.path
    name_path = ep.path.replace("{name}", "c1") if ep.path.startswith(
        ("/constants", "/credentials", "/connections", "/destinations")) else None
    if name_path:  # configuration records: their own names
        path = name_path
        if ep.path.endswith(("/rotate", "/test")) or ep.method == "DELETE":
            area = ep.path.split("/")[1]
            setup = ("PUT", f"/{area}/c1")
            api.call(*setup, json=BODIES[(setup[0], setup[1].replace("c1", "{name}"))]["json"])
    extra = dict(BODIES.get((ep.method, ep.path), {}))
    if ep.path == "/logs/tail":
        extra["params"] = {"max_seconds": 1}

    resp = api.call(ep.method, path, None, **extra)
    assert resp.status_code == 401, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    for token, scope in (("a-read", "read"), ("a-run", "run"), ("a-admin", "admin")):
        allowed = SCOPES.index(scope) >= SCOPES.index(ep.scope)
        if not allowed:
            resp = api.call(ep.method, path, token, **extra)
            assert resp.status_code == 403, (token, resp.text)
            assert resp.json()["status"] == 403
    if (ep.method, ep.path) == ("PUT", "/pipelines/{name}"):  # beta cannot write into acme
        acme = pipeline_text().replace("name: api-demo", "name: api-demo\nclient: acme")
        assert api.call("PUT", path, "b-admin", content=acme).status_code == 403
        other = api.call("PUT", path, "b-admin", content=pipeline_text(name="beta-own"))
        assert other.status_code == 422  # the path names api-demo, the file beta-own
    else:
        other = api.call(ep.method, path, "b-admin", **extra)
        assert other.status_code not in (401, 403, 500), other.text
    assert '"acme"' not in other.text.replace(" ", "")
    if other.status_code != 404:  # a 404 names the id it was asked for
        assert values["run_id"] not in other.text
    if ep.path.startswith(OWNED) and ep.method != "PUT":
        assert other.status_code == 404, other.text
    minimum = {"read": "a-read", "run": "a-run", "admin": "a-admin"}[ep.scope]
    resp = api.call(ep.method, path, minimum, **extra)
    assert resp.status_code not in (401, 403, 500), resp.text
    if ep.method == "GET" and ep.path != "/logs/tail":
        assert resp.status_code == 200, resp.text
