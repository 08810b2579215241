"""Alerts as a user gets them: pipeline files with an ``alerts:`` section run through the Python
API (fake clock) and ``orchestra run``; the stored list read back with ``orchestra
notifications``; the webhook channel posting to a local server."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from orchestra_core import DeliveryFailed, Orchestra, hookimpl
from orchestra_core._alerts import Alerts, ChannelConfig, ChannelContext
from orchestra_core._builtins.notifications import WebhookChannel, WebhookOptions, verify_signature
from orchestra_core._engine import Engine
from orchestra_core._models import Notification
from orchestra_core._notifications import NotificationLog
from orchestra_core._store import Store
from orchestra_core.cli import cli
from orchestra_core.testing import FakeClock

HOUR = 3600.0


def noop(task_id: str, **params) -> dict:
    return {"id": task_id, "integration": "noop", "integration_job": "noop_run",
            "parameters": params}


@pytest.fixture
def store(tmp_path):
    s = Store.open(str(tmp_path / "o.db"))
    yield s
    s.close()


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


async def run(host, store, pipeline, clock=None):
    clock = clock or FakeClock()
    async with clock.driving():
        return await Engine(host, store, clock=clock, cancel_poll=HOUR).run(pipeline), clock


def listed(store, **filters):
    return [(n.kind, n.pipeline, n.message) for n in NotificationLog(store).list(**filters)]


# -- the stored channel, through the Python API -------------------------------------------------


async def test_failure_and_success_alerts_go_to_the_stored_list(host, store):
    alerts = {"on_failure": True, "on_success": ["stored"]}
    bad = host.pipeline_from_data({"name": "bad", "alerts": alerts,
                                   "tasks": [noop("a", fail=True)]})
    good = host.pipeline_from_data({"name": "good", "alerts": alerts, "tasks": [noop("a")]})
    failed, clock = await run(host, store, bad)
    ok, _ = await run(host, store, good)
    assert (failed.state, ok.state) == ("failed", "succeeded")
    assert listed(store) == [
        ("run.succeeded", "good", f"pipeline 'good': run {ok.run_id} succeeded"),
        ("run.failed", "bad", f"pipeline 'bad': run {failed.run_id} failed: tasks failed: a"),
    ]
    note = NotificationLog(store).list(kind="run.failed")[0]
    assert note.run_id == failed.run_id
    assert note.created_at == clock.now()
    assert note.data["failed_tasks"] == ["a"] and note.data["state"] == "failed"
    assert note.data["error"] == "tasks failed: a"
    logs = [e["message"] for e in store.logs(run_id=failed.run_id)]
    assert "alert run.failed sent to stored" in logs


async def test_a_pipeline_without_alerts_sends_nothing(host, store):
    pipeline = host.pipeline_from_data({"name": "quiet", "tasks": [noop("a", fail=True)]})
    await run(host, store, pipeline)
    only_success = host.pipeline_from_data({"name": "quiet2", "alerts": {"on_success": True},
                                            "tasks": [noop("a", fail=True)]})
    await run(host, store, only_success)
    assert listed(store) == []


async def test_runtime_exceeded_fires_once_while_the_run_is_still_running(host, store):
    pipeline = host.pipeline_from_data({
        "name": "slow", "alerts": {"runtime_exceeded_hours": 2, "on_success": True},
        "tasks": [noop("long", sleep=5 * HOUR)]})
    start = FakeClock().now()
    result, _ = await run(host, store, pipeline)
    assert result.state == "succeeded"
    notes = NotificationLog(store).list()
    assert [n.kind for n in notes] == ["run.succeeded", "run.runtime_exceeded"]
    exceeded = notes[1]
    assert exceeded.created_at == start.replace(hour=2)  # exactly 2 hours in, still running
    assert exceeded.message == (f"pipeline 'slow': run {result.run_id} has been running for "
                                "more than 2 hours")
    assert exceeded.data["state"] == "running" and exceeded.data["runtime_seconds"] == 2 * HOUR
    assert notes[0].created_at == start.replace(hour=5)


async def test_runtime_alert_is_not_sent_when_the_run_ends_in_time(host, store):
    pipeline = host.pipeline_from_data({
        "name": "quick", "alerts": {"runtime_exceeded_hours": 0.5},
        "tasks": [noop("a", sleep=0.25 * HOUR)]})
    result, _ = await run(host, store, pipeline)
    assert result.state == "succeeded"
    assert listed(store) == []


async def test_runtime_alert_counts_from_the_first_start_across_a_resume(host, store):
    """A run interrupted 1.5 h in and resumed is 2 h old half an hour after the resume."""
    import anyio

    pipeline = host.pipeline_from_data({
        "name": "resumed", "alerts": {"runtime_exceeded_hours": 2, "on_runtime_exceeded":
                                      ["stored"]},
        "tasks": [noop("long", sleep=4 * HOUR)]})
    clock = FakeClock()
    engine = Engine(host, store, clock=clock, cancel_poll=HOUR)
    ids = []
    async with clock.driving(), anyio.create_task_group() as tg:
        async def go():
            await engine.run(pipeline, on_created=ids.append)

        async def stop_the_process():  # as a service shutting down 1.5 hours in
            await clock.sleep(1.5 * HOUR)
            engine.detach()
            tg.cancel_scope.cancel()

        tg.start_soon(go)
        tg.start_soon(stop_the_process)
    assert store.get_run(ids[0])["state"] == "running"
    assert NotificationLog(store).list() == []
    async with clock.driving():
        result = await Engine(host, store, clock=clock, cancel_poll=HOUR).resume(ids[0])
    assert result.state == "succeeded"
    notes = NotificationLog(store).list()
    assert [n.kind for n in notes] == ["run.runtime_exceeded"]
    assert notes[0].created_at == FakeClock().now().replace(hour=2)


async def test_an_alert_is_sent_once_per_run(host, store):
    pipeline = host.pipeline_from_data({"name": "p", "alerts": {"on_success": True},
                                        "tasks": [noop("a")]})
    result, clock = await run(host, store, pipeline)
    engine = Engine(host, store, clock=clock, cancel_poll=HOUR)
    again = await engine.alerter.fire(pipeline.alerts, "run.succeeded", pipeline="p",
                                      run_id=result.run_id, message="again", data={},
                                      log=lambda *a, **k: None)
    assert again == []
    assert len(NotificationLog(store).list()) == 1


# -- failing channels, plugin channels, redaction -------------------------------------------------


class Pager:
    """A plugin channel type: records notifications, or fails when told to."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    @hookimpl
    def orchestra_register_notification_channels(self, registry):
        registry.add("pager", factory=self.make, description="test pager")
        registry.add("broken", factory=self.broken, description="always fails")

    def make(self, options):
        return self

    def broken(self, options):
        class Broken:
            async def notify(self, notification):
                raise DeliveryFailed("pager service unreachable")

        return Broken()

    async def notify(self, notification):
        self.sent.append(notification)


async def test_a_failing_channel_is_logged_and_never_fails_the_run(store):
    pager = Pager()
    host = Orchestra(plugins=[pager], load_entrypoints=False)
    pipeline = host.pipeline_from_data({
        "name": "p", "alerts": {"on_success": ["broken", "pager", "stored"]},
        "tasks": [noop("a")]})
    result, _ = await run(host, store, pipeline)
    assert result.state == "succeeded"
    assert [n.kind for n in pager.sent] == ["run.succeeded"]
    assert listed(store)[0][0] == "run.succeeded"
    logs = {(e["level"], e["message"]) for e in store.logs(run_id=result.run_id)}
    assert ("error", "alert run.succeeded: channel 'broken' failed: DeliveryFailed: pager "
            "service unreachable") in logs
    assert ("info", "alert run.succeeded sent to pager, stored") in logs


async def test_notifications_are_redacted(host, store):
    secret = "s3cr3t-token-value"
    host.redactor.add(secret)
    pipeline = host.pipeline_from_data({
        "name": "leaky", "alerts": {"on_failure": True, "message": f"call {secret}"},
        "tasks": [{"id": "a", "integration": "process", "integration_job": "process_run",
                   "parameters": {"path": "false", "arguments": secret}}]})
    result, _ = await run(host, store, pipeline)
    assert result.state == "failed"
    note = NotificationLog(store).list()[0]
    assert secret not in note.message and secret not in json.dumps(dict(note.data))
    assert note.message.startswith("call *****\npipeline 'leaky'")


# -- the webhook channel ---------------------------------------------------------------------------


def notification(**kw) -> Notification:
    from datetime import UTC, datetime

    base = dict(kind="run.failed", pipeline="nightly", message="it broke", run_id="r-1",
                created_at=datetime(2026, 1, 1, tzinfo=UTC), data={"error": "boom"})
    return Notification(**{**base, **kw})


async def test_webhook_posts_signed_json(monkeypatch, host):
    monkeypatch.setenv("HOOK_SECRET", "hook-secret-123")
    monkeypatch.setenv("HOOK_TOKEN", "bearer-token-456")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    channel = WebhookChannel(WebhookOptions(url="https://hooks.test/orchestra",
                                            headers={"X-Team": "data"},
                                            secret_env="HOOK_SECRET", token_env="HOOK_TOKEN"),
                             context=ChannelContext(host=host, store=None, clock=None),
                             transport=httpx.MockTransport(handler))
    await channel.notify(notification())
    (request,) = seen
    body = json.loads(request.content)
    assert body == {"id": "r-1/run.failed", "kind": "run.failed", "pipeline": "nightly",
                    "run_id": "r-1", "message": "it broke",
                    "created_at": "2026-01-01T00:00:00+00:00", "data": {"error": "boom"}}
    assert request.headers["x-orchestra-event"] == "run.failed"
    assert request.headers["x-orchestra-event-id"] == "r-1/run.failed"
    assert request.headers["x-team"] == "data"
    assert request.headers["authorization"] == "Bearer bearer-token-456"
    assert verify_signature("hook-secret-123", request.headers, request.content)
    assert not verify_signature("other-secret", request.headers, request.content)
    assert not verify_signature("hook-secret-123", request.headers, request.content + b" ")
    stale = int(request.headers["x-orchestra-timestamp"]) + 301
    assert not verify_signature("hook-secret-123", request.headers, request.content, now=stale)
    # registered with the host's redactor (no other host knows them)
    assert "hook-secret-123" in host.redactor and "bearer-token-456" in host.redactor
    assert "hook-secret-123" not in Orchestra(load_entrypoints=False).redactor


async def test_webhook_retries_server_errors_but_not_refusals():
    answers = [503, 500, 200]
    calls = []

    def flaky(request):
        calls.append(request)
        return httpx.Response(answers.pop(0))

    clock = FakeClock(autojump=True)
    ctx = type("Ctx", (), {"clock": clock})()
    channel = WebhookChannel(WebhookOptions(url="http://127.0.0.1:9/x", retries=2,
                                            retry_delay=30), context=ctx,
                             transport=httpx.MockTransport(flaky))
    await channel.notify(notification())
    assert len(calls) == 3 and clock.monotonic() == 30 + 60  # backoff on the engine clock

    refused = WebhookChannel(WebhookOptions(url="http://127.0.0.1:9/x", retries=5),
                             transport=httpx.MockTransport(lambda r: httpx.Response(403)))
    with pytest.raises(DeliveryFailed, match=r"webhook to http://127.0.0.1:9/x failed: HTTP 403"):
        await refused.notify(notification())


async def test_webhook_without_its_secret_variable_fails_clearly(monkeypatch):
    monkeypatch.delenv("MISSING_SECRET", raising=False)
    channel = WebhookChannel(WebhookOptions(url="http://127.0.0.1:9/x",
                                            secret_env="MISSING_SECRET"),
                             transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    with pytest.raises(DeliveryFailed, match="environment variable MISSING_SECRET is not set"):
        await channel.notify(notification())


@contextmanager
def receiver():
    """A real HTTP server on 127.0.0.1 (Starlette + uvicorn in a thread) recording POSTs."""
    import asyncio

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    got: list[tuple[dict, bytes]] = []

    async def hook(request):
        got.append((dict(request.headers), await request.body()))
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error",
                                           lifespan="off", access_log=False))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the receiver did not start"
        thread.join(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hook", got
    finally:
        server.should_exit = True
        thread.join(10)


PIPELINE = """\
name: nightly
alerts:
  on_failure: [stored, ops]
  on_success: [ops]
  message: "Data team: see the runbook"
  channels:
    ops:
      type: webhook
      url: {url}
      secret_env: ORCHESTRA_TEST_HOOK_SECRET
tasks:
  - id: load
    integration: noop
    integration_job: noop_run
    parameters: {{fail: {fail}}}
"""


def test_orchestra_run_posts_to_a_webhook_and_lists_notifications(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCHESTRA_TEST_HOOK_SECRET", "receiver-shared-secret")
    db = str(tmp_path / "o.db")
    runner = CliRunner()
    with receiver() as (url, got):
        bad = tmp_path / "bad.yaml"
        bad.write_text(PIPELINE.format(url=url, fail="true"))
        good = tmp_path / "good.yaml"
        good.write_text(PIPELINE.format(url=url, fail="false"))
        failed = runner.invoke(cli, ["--no-plugins", "run", str(bad), "--db", db,
                                     "--progress", "none"])
        ok = runner.invoke(cli, ["--no-plugins", "run", str(good), "--db", db,
                                 "--progress", "none"])
    assert (failed.exit_code, ok.exit_code) == (1, 0), failed.output + ok.output
    assert [json.loads(body)["kind"] for _, body in got] == ["run.failed", "run.succeeded"]
    for headers, body in got:
        assert verify_signature("receiver-shared-secret", headers, body)
    first = json.loads(got[0][1])
    assert first["pipeline"] == "nightly"
    assert first["message"].startswith("Data team: see the runbook\npipeline 'nightly': run ")
    assert first["message"].endswith("failed: tasks failed: load")

    listing = runner.invoke(cli, ["notifications", "--db", db])
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert len(lines) == 1  # the success went to the webhook only
    assert "run.failed" in lines[0]
    assert "nightly: Data team: see the runbook | pipeline 'nightly': run " in lines[0]
    as_json = json.loads(runner.invoke(cli, ["notifications", "--json", "--kind", "run.failed",
                                             "--db", db]).output)
    assert as_json[0]["data"]["failed_tasks"] == ["load"]
    assert json.loads(runner.invoke(cli, ["notifications", "--json", "--pipeline", "other",
                                          "--db", db]).output) == []
    assert runner.invoke(cli, ["notifications", "--kind", "run.succeeded", "--db",
                               db]).output == "no notifications\n"


def test_an_unreachable_webhook_does_not_fail_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCHESTRA_TEST_HOOK_SECRET", "x" * 8)
    path = tmp_path / "p.yaml"
    # a closed port on this machine: the connection is refused at once
    path.write_text(PIPELINE.format(url="http://127.0.0.1:9/hook", fail="false")
                    .replace("type: webhook", "type: webhook\n      retries: 0"))
    db = str(tmp_path / "o.db")
    result = CliRunner().invoke(cli, ["--no-plugins", "run", str(path), "--db", db,
                                      "--progress", "none"])
    assert result.exit_code == 0, result.output
    store = Store.open(db)
    errors = [e["message"] for e in store.logs(level="error")]
    assert any(m.startswith("alert run.succeeded: channel 'ops' failed: DeliveryFailed: webhook "
                            "to http://127.0.0.1:9/hook failed: ConnectError") for m in errors)


# -- the pipeline file: validation, Orchestra v1, stored definitions ----------------------------


def problems(host, text):
    _, found = host.check_text(text, source="p.yaml")
    return [p.format() for p in found]


TASKS = "tasks:\n  - id: a\n    integration: noop\n    integration_job: noop_run\n"


def test_alerts_section_problems_name_file_line_and_path(host):
    text = ("name: p\nalerts:\n  on_failure: [stord]\n  on_sucess: true\n"
            "  runtime_exceeded_hours: soon\n  channels:\n    ops:\n      type: webhok\n"
            "    hook:\n      type: webhook\n      urll: http://x\n" + TASKS)
    assert problems(host, text) == [
        "p.yaml:3:16: $.alerts.on_failure[0]: unknown notification channel 'stord' (did you "
        "mean 'stored'?); name a channel defined under channels or a channel type: stored, "
        "webhook",
        "p.yaml:4:14: $.alerts.on_sucess: unknown key 'on_sucess' (did you mean "
        "'on_success'?); accepted: on_success, on_failure, on_runtime_exceeded, "
        "on_task_runtime_exceeded, on_missing_files, runtime_exceeded_hours, message, "
        "channels",
        "p.yaml:5:27: $.alerts.runtime_exceeded_hours: expected a number of hours > 0, got "
        "'soon'",
        "p.yaml:8:13: $.alerts.channels.ops.type: unknown notification channel type 'webhok' "
        "(did you mean 'webhook'?); installed: stored, webhook. A plugin may provide it: pip "
        "install orchestra-webhok",
        "p.yaml:10:7: $.alerts.channels.hook: missing required option 'url' (where to POST "
        "(http or https))",
        "p.yaml:11:13: $.alerts.channels.hook.urll: unknown option 'urll' (did you mean "
        "'url'?); accepted: url, headers, secret_env, token_env, timeout, retries, "
        "retry_delay",
    ]


def test_runtime_channels_need_hours_and_webhook_needs_options(host):
    text = "name: p\nalerts:\n  on_runtime_exceeded: [stored]\n  on_success: webhook\n" + TASKS
    assert problems(host, text) == [
        "p.yaml:3:24: $.alerts.on_runtime_exceeded: on_runtime_exceeded needs "
        "runtime_exceeded_hours: the number of hours after which a running run raises the "
        "alert",
        "p.yaml:4:15: $.alerts.on_success: channel type 'webhook' needs options (missing "
        "required option 'url' (where to POST (http or https))): define a channel of this type "
        "under channels",
    ]
    assert problems(host, "name: p\nalerts: [1, 2]\n" + TASKS)[0].startswith(
        "p.yaml:2:10: $.alerts[0]: expected an alert mapping")
    assert problems(host, "name: p\nalerts: yes\n" + TASKS) == [
        "p.yaml:2:9: $.alerts: expected a mapping (on_success, on_failure, "
        "runtime_exceeded_hours, on_runtime_exceeded, message, channels), got a boolean"]


V1 = """\
version: v1
name: 'Nightly #finance'
alerts:
- name: Failures
  statuses: [FAILED, RUNNING_TIMEOUT]
  runtime_exceeded_hours: 3
  custom_message: Call the data team
  destinations:
  - integration: WEBHOOK
    destination: https://hooks.example.com/orchestra
- name: Done
  statuses: [SUCCEEDED]
pipeline:
  ingest:
    tasks:
      stripe:
        integration: NOOP
        integration_job: NOOP_RUN
        name: Stripe
"""


def test_orchestra_v1_alerts_are_translated(host):
    pipeline, found = host.check_text(V1, source="v1.yaml")
    assert found == []
    assert pipeline.alerts == Alerts(
        on_success=("stored",), on_failure=("Failures #1",),
        on_runtime_exceeded=("Failures #1",), runtime_exceeded_hours=3.0,
        message="Call the data team",
        channels={"Failures #1": ChannelConfig(
            type="webhook", options={"url": "https://hooks.example.com/orchestra"})})


def test_orchestra_v1_alert_problems_point_into_the_file(host):
    text = V1.replace("  runtime_exceeded_hours: 3\n", "").replace("[SUCCEEDED]",
                                                                  "[SUCCEEDED, WARNING]")
    text = text.replace("integration: WEBHOOK", "integration: SLACK")
    assert [p.format() for p in host.check_text(text, source="v1.yaml")[1]] == [
        "v1.yaml:5:22: $.alerts[0].statuses[1]: RUNNING_TIMEOUT needs a threshold: add "
        "runtime_exceeded_hours: N to this alert",
        "v1.yaml:8:18: $.alerts[0].destinations[0].integration: unknown notification channel "
        "type 'slack'; installed: stored, webhook. A plugin may provide it: pip install "
        "orchestra-slack",
        "v1.yaml:11:25: $.alerts[1].statuses[1]: unsupported alert status 'WARNING'; "
        "supported: SUCCEEDED, FAILED, RUNNING_TIMEOUT",
    ]


def test_alerts_survive_the_stored_definition(host, store, tmp_path):
    from orchestra_core._serialize import pipeline_from_definition, pipeline_to_definition

    pipeline = host.check_text(V1)[0]
    assert pipeline_from_definition(json.loads(json.dumps(
        pipeline_to_definition(pipeline)))).alerts == pipeline.alerts
    plain = host.pipeline_from_data({"name": "p", "tasks": [noop("a")]})
    assert "alerts" not in pipeline_to_definition(plain)  # compact when there are none


def test_validate_accepts_a_file_with_alerts(tmp_path):
    path = Path(tmp_path / "p.yaml")
    path.write_text("name: p\nalerts:\n  on_failure: true\n  runtime_exceeded_hours: 1.5\n"
                    + TASKS)
    result = CliRunner().invoke(cli, ["--no-plugins", "validate", str(path)])
    assert result.exit_code == 0, result.output


async def test_alerts_on_postgresql_are_sent_once(host, request):
    """The stored list and the once-per-run record work on PostgreSQL too."""
    import uuid

    import sqlalchemy as sa

    from .test_queues import PG, _pg_reason

    reason = _pg_reason()
    if reason:
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    request.addfinalizer(drop)
    pg = Store.open(PG + f"?options=-csearch_path%3D{schema}")
    try:
        pipeline = host.pipeline_from_data({"name": "pg", "alerts": {"on_failure": True},
                                            "tasks": [noop("a", fail=True)]})
        result, clock = await run(host, pg, pipeline)
        again = await Engine(host, pg, clock=clock).alerter.fire(
            pipeline.alerts, "run.failed", pipeline="pg", run_id=result.run_id, message="x",
            data={}, log=lambda *a, **k: None)
        assert again == []
        assert listed(pg) == [("run.failed", "pg",
                               f"pipeline 'pg': run {result.run_id} failed: tasks failed: a")]
    finally:
        pg.close()
