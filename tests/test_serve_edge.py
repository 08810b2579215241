"""The HTTP edge against a real uvicorn server and raw sockets: body size enforced while a
chunked body streams, slow bodies cut off, concurrent requests capped, a disconnect mid-body
logged without a traceback, hostile signed bodies answered 400 for every vendor, replays
recognised after a restart and by their signed timestamp, a deleted connection's webhook
secret refused at once, and readiness."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest
import sqlalchemy as sa

from orchestra_core import KeyRing, Orchestra, generate_key
from orchestra_core._engine import Engine
from orchestra_core._server import create_app
from orchestra_core._service import Service
from orchestra_core._store import Store
from orchestra_core.testing import FakeClock

from ._acme import WEBHOOK_SECRET, AcmePlugin
from .test_webhooks import body_for, signed


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def store(tmp_path):
    s = Store.open(str(tmp_path / "o.db"))
    yield s
    s.close()


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[int]:
    """*app* served by uvicorn on 127.0.0.1 in this event loop; yields the port."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="info",
                                           lifespan="off", access_log=False))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        while not server.started:
            await anyio.sleep(0.01)
        try:
            yield server.servers[0].sockets[0].getsockname()[1]
        finally:
            server.should_exit = True


async def read_answer(stream: Any, timeout: float = 5.0) -> bytes:
    """What the server sent until it closed the connection (or *timeout* passed)."""
    data = b""
    with anyio.move_on_after(timeout):
        try:
            while True:
                data += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
            pass
    return data


def status_of(answer: bytes) -> int | None:
    return int(answer.split()[1]) if answer.startswith(b"HTTP/1.1 ") else None


def acme_app(store: Any, clock: Any = None, **limits: Any) -> Any:
    host = Orchestra(plugins=[AcmePlugin()], load_entrypoints=False)
    return create_app(host, Engine(host, store, clock=clock), **limits)


HEAD = (b"POST /webhooks/acme HTTP/1.1\r\nHost: orch\r\nContent-Type: application/json\r\n")


# -- size, time, concurrency, disconnects ------------------------------------------------------


@pytest.mark.anyio
async def test_a_chunked_body_without_length_is_refused_once_past_the_limit(store):
    """1.5 MiB of an unsigned chunked body, never finished: the server answers 413 as soon
    as it has read more than 1 MiB (before, it waited for the whole body, holding it all)."""
    async with served(acme_app(store)) as port:
        stream = await anyio.connect_tcp("127.0.0.1", port)
        answers: list[bytes] = []
        async with stream, anyio.create_task_group() as tg:
            async def reader() -> None:  # read while sending: the answer comes mid-body
                answers.append(await read_answer(stream))

            tg.start_soon(reader)
            await stream.send(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"x" * 65536
            try:
                for _ in range(24):  # 1.5 MiB; the terminating chunk is never sent
                    await stream.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (anyio.BrokenResourceError, ConnectionError):
                pass  # the server closed the connection after refusing the body
        answer = answers[0]
    assert status_of(answer) == 413, answer[:200]
    assert b"connection: close" in answer.lower()
    assert b"larger than 1048576 bytes" in answer


@pytest.mark.anyio
async def test_a_declared_oversized_body_is_refused_before_reading(store):
    async with served(acme_app(store)) as port:
        stream = await anyio.connect_tcp("127.0.0.1", port)
        async with stream:
            await stream.send(HEAD + b"Content-Length: 300000000\r\n\r\n{")
            answer = await read_answer(stream)
    assert status_of(answer) == 413


@pytest.mark.anyio
async def test_a_half_sent_body_is_cut_off_after_the_body_timeout(store):
    async with served(acme_app(store, body_timeout=0.3)) as port:
        stream = await anyio.connect_tcp("127.0.0.1", port)
        async with stream:
            await stream.send(HEAD + b"Content-Length: 1000\r\n\r\n" + b"{" * 10)
            started = anyio.current_time()
            answer = await read_answer(stream, timeout=5.0)
            took = anyio.current_time() - started
    assert status_of(answer) == 408, answer[:200]
    assert took < 3.0


@pytest.mark.anyio
async def test_concurrent_requests_are_capped(store):
    async with served(acme_app(store, max_requests=2, body_timeout=5.0)) as port:
        held = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(2)]
        for stream in held:  # two requests in progress: headers sent, body pending
            await stream.send(HEAD + b"Content-Length: 100\r\n\r\n{")
        await anyio.sleep(0.2)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            refused = await http.get("/health")
            for stream in held:
                await stream.aclose()
            await anyio.sleep(0.2)
            fine = await http.get("/health")
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert fine.status_code == 200


@pytest.mark.anyio
async def test_a_client_disconnecting_mid_body_leaves_no_traceback(store, caplog):
    caplog.set_level(logging.INFO)
    async with served(acme_app(store)) as port:
        stream = await anyio.connect_tcp("127.0.0.1", port)
        await stream.send(HEAD + b"Content-Length: 1000\r\n\r\n" + b"{" * 10)
        await anyio.sleep(0.1)
        await stream.aclose()
        await anyio.sleep(0.3)
    assert "the client disconnected before sending its whole body" in caplog.text
    assert "Traceback" not in caplog.text and "Exception in ASGI" not in caplog.text
    assert not any(r.exc_info for r in caplog.records)


# -- hostile signed bodies, for every vendor ---------------------------------------------------

DEEP = b"[" * 200_000 + b"]" * 200_000
HUGE = b'{"event": "sync_end", "eventType": "job.run.completed", "n": ' + b"9" * 5000 + b"}"


def _hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


VENDORS = {  # integration: (plugin module, secret variable, headers of a signed body)
    "fivetran": ("orchestra_fivetran.plugin", "FIVETRAN_WEBHOOK_SECRET",
                 lambda s, b: {"X-Fivetran-Signature-256": _hex(s, b).upper()}),
    "dbt": ("orchestra_dbt.plugin", "DBT_CLOUD_WEBHOOK_SECRET",
            lambda s, b: {"Authorization": _hex(s, b)}),
    "census": ("orchestra_census.plugin", "CENSUS_WEBHOOK_SECRET",
               lambda s, b: {"X-Signature": base64.b64encode(hmac.new(
                   s.encode(), b, hashlib.sha256).digest()).decode()}),
    "hightouch": ("orchestra_hightouch.plugin", "HIGHTOUCH_WEBHOOK_SECRET",
                  lambda s, b: {"Authorization": f"Bearer {s}"}),
}


@pytest.mark.anyio
@pytest.mark.parametrize("body", [DEEP, HUGE], ids=["nested-200000", "int-5000-digits"])
@pytest.mark.parametrize("vendor", sorted(VENDORS))
async def test_hostile_signed_bodies_are_400_for_every_vendor(store, monkeypatch, vendor,
                                                              body, caplog):
    module, variable, headers = VENDORS[vendor]
    plugin = pytest.importorskip(module)
    secret = "whsec-0123456789abcdef"
    monkeypatch.setenv(variable, secret)
    host = Orchestra(plugins=[plugin], load_entrypoints=False)
    app = create_app(host, Engine(host, store))
    async with served(app) as port, httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}") as http:
        answer = await http.post(f"/webhooks/{vendor}", content=body,
                                 headers={**headers(secret, body),
                                          "Content-Type": "application/json"})
    assert answer.status_code == 400, (answer.status_code, answer.text[:300])
    assert "Traceback" not in caplog.text


# -- replays -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_replay_after_a_restart_is_recognised(store):
    body = body_for(run_id=42)
    async with served(acme_app(store)) as port, httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}") as http:
        first = await http.post("/webhooks/acme", content=body, headers=signed(body))
    # a new server process: a new engine, nothing in memory
    async with served(acme_app(store)) as port, httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}") as http:
        again = await http.post("/webhooks/acme", content=body, headers=signed(body))
    assert first.json() == {"received": 1, "new": 1, "replayed": 0}
    assert again.status_code == 200
    assert again.json() == {"received": 1, "new": 0, "replayed": 1}


@pytest.mark.anyio
async def test_seen_ids_are_kept_for_the_replay_window_then_forgotten(store):
    from orchestra_core._server.replay import REPLAY_WINDOW

    clock = FakeClock(datetime(2026, 3, 1, tzinfo=UTC))
    body = body_for(run_id=43)
    answers = []
    for advance in (0.0, (REPLAY_WINDOW - timedelta(hours=1)).total_seconds(),
                    timedelta(hours=2).total_seconds()):
        clock.advance(advance)
        async with served(acme_app(store, clock)) as port, httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}") as http:  # a restart each time
            answers.append((await http.post("/webhooks/acme", content=body,
                                            headers=signed(body))).json()["new"])
    assert answers == [1, 0, 1]  # new; a replay within the window; forgotten after it
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM webhook_deliveries")).scalar()
    assert rows == 1


@pytest.mark.anyio
@pytest.mark.parametrize("vendor", ["fivetran", "dbt"])
async def test_a_delivery_signed_long_ago_is_refused(store, monkeypatch, vendor):
    """Fivetran and dbt Cloud sign a timestamp (in the body): older than the replay window,
    or in the future, the delivery is refused even though its id is no longer remembered."""
    module, variable, headers = VENDORS[vendor]
    plugin = pytest.importorskip(module)
    secret = "whsec-0123456789abcdef"
    monkeypatch.setenv(variable, secret)
    now = datetime(2026, 5, 22, 12, 0, tzinfo=UTC)
    host = Orchestra(plugins=[plugin], load_entrypoints=False)
    app = create_app(host, Engine(host, store, clock=FakeClock(now)))

    def delivery(when: datetime, n: int) -> bytes:
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if vendor == "fivetran":
            return json.dumps({"event": "sync_end", "created": stamp, "connector_id": "c_1",
                               "sync_id": f"s-{n}", "data": {"status": "SUCCESSFUL"}}).encode()
        return json.dumps({"eventId": f"wev_{n}", "timestamp": stamp.replace("Z", "123Z"),
                           "eventType": "job.run.completed",
                           "data": {"runId": "1", "runStatus": "Success",
                                    "runStatusCode": 10}}).encode()

    answers = []
    async with served(app) as port, httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}") as http:
        for n, when in enumerate([now - timedelta(hours=25), now - timedelta(days=10),
                                  now + timedelta(hours=1)]):
            body = delivery(when, n)
            answers.append(await http.post(f"/webhooks/{vendor}", content=body,
                                           headers=headers(secret, body)))
    assert [a.status_code for a in answers] == [200, 400, 400], [a.text for a in answers]
    assert "hours ago" in answers[1].json()["error"]
    assert "in the future" in answers[2].json()["error"]


# -- a deleted connection's secret -------------------------------------------------------------


@pytest.mark.anyio
async def test_a_deleted_connections_secret_stops_verifying_at_once(store, monkeypatch):
    monkeypatch.delenv("ACME_WEBHOOK_SECRET", raising=False)
    ring = KeyRing.from_keys(generate_key())
    host = Orchestra(plugins=[AcmePlugin(webhook_secret=None)], load_entrypoints=False)
    secrets = host.secrets(store=store, keys=ring)
    secrets.credentials.set("acme-hook", secrets={"webhook_secret": WEBHOOK_SECRET})
    secrets.connections.add("acme-prod", integration="acme", credential="acme-hook")
    app = create_app(host, Engine(host, store, keys=ring))
    body = body_for(run_id=44)
    async with served(app) as port, httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}") as http:
        before = await http.post("/webhooks/acme", content=body, headers=signed(body))
        # another process (the CLI) deletes the connection and its credential
        other = Orchestra(plugins=[AcmePlugin(webhook_secret=None)], load_entrypoints=False)
        other_secrets = other.secrets(store=Store.open(str(store.engine.url.database)),
                                      keys=ring)
        other_secrets.connections.delete("acme-prod")
        body = body_for(run_id=45)
        after = await http.post("/webhooks/acme", content=body, headers=signed(body))
        named = await http.post("/webhooks/acme/acme-prod", content=body,
                                headers=signed(body))
    assert before.status_code == 200
    assert after.status_code == 401, after.text
    assert named.status_code == 404


# -- readiness ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_readiness_checks_the_store(store, tmp_path):
    ok_app = acme_app(store)
    broken = Store(sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'o.db'}"))
    bad_app = acme_app(broken)
    async with served(ok_app) as ok_port, served(bad_app) as bad_port, \
            httpx.AsyncClient() as http:
        ready = await http.get(f"http://127.0.0.1:{ok_port}/health/ready")
        not_ready = await http.get(f"http://127.0.0.1:{bad_port}/health/ready")
        alive = await http.get(f"http://127.0.0.1:{bad_port}/health")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert not_ready.status_code == 503
    check = not_ready.json()["checks"]["store"]
    assert check["ok"] is False and "not reachable" in check["error"]
    assert alive.status_code == 200  # liveness does not depend on the store


@pytest.mark.anyio
async def test_service_readiness_reports_scheduler_and_worker(store):
    host = Orchestra(plugins=[AcmePlugin()], load_entrypoints=False)
    svc = Service(host, store, port=0, poll=0.05, reread=0.05)
    async with anyio.create_task_group() as tg:
        await tg.start(svc.run)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{svc.port}") as http:
            ready = await http.get("/health/ready")
            svc.scheduler.run = _crashing  # type: ignore[method-assign]
            svc.alive["scheduler"] = False  # what the scheduler task's end records
            not_ready = await http.get("/health/ready")
        svc.stop()
    assert ready.status_code == 200
    assert set(ready.json()["checks"]) == {"store", "scheduler", "worker"}
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["scheduler"] == {"ok": False,
                                                       "error": "the scheduler is not running"}


async def _crashing() -> None:
    raise RuntimeError("boom")
