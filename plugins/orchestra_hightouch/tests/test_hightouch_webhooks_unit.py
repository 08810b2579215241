"""The alert webhook handler on its own: the shared header secret and the alert payloads."""

from __future__ import annotations

import json

import pytest
from orchestra_hightouch.plugin import orchestra_identify_webhook
from orchestra_hightouch.webhooks import (
    HightouchAlertHandler,
    alert_events,
    header_matches,
    run_key,
    sync_key,
)

from orchestra_core import WebhookRejected, WebhookRequest


@pytest.fixture
def anyio_backend():
    return "asyncio"


def request(body, **headers):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return WebhookRequest(integration="hightouch", method="POST",
                          headers={k.lower().replace("_", "-"): v for k, v in headers.items()},
                          body=raw)


def test_header_matches_the_secret_or_bearer_secret():
    assert header_matches({"authorization": "Bearer s3cret-1"}, "Authorization", "s3cret-1")
    assert header_matches({"authorization": "bearer  s3cret-1 "}, "authorization", "s3cret-1")
    assert header_matches({"x-token": "s3cret-1"}, "X-Token", "s3cret-1")
    assert not header_matches({"x-token": "s3cret-2"}, "X-Token", "s3cret-1")
    assert not header_matches({"authorization": "Basic s3cret-1"}, "Authorization", "s3cret-1")
    assert not header_matches({}, "Authorization", "s3cret-1")


def test_events_are_keyed_by_sync_and_run():
    body = json.dumps({"id": "alert_7", "type": "sync.alert", "syncId": "1001",
                       "syncRunId": "50000002", "status": "failed"}).encode()
    by_sync, by_run = alert_events(body)
    assert by_sync.key == sync_key("1001") == "hightouch:sync:1001"
    assert by_run.key == run_key("50000002") == "hightouch:run:50000002"
    assert by_sync.event_id == "hightouch:alert_7:sync" and by_run.event_id.endswith(":run")
    assert by_sync.kind == "sync.alert" and by_sync.state is None  # a hint: the poll decides
    assert by_sync.payload["status"] == "failed"


@pytest.mark.parametrize("payload, sync_id, run_id", [
    ({"sync_id": 5}, "5", None),
    ({"sync": {"id": 6, "slug": "x"}, "run": {"id": 77}}, "6", "77"),
    ({"data": {"syncId": "8", "syncRun": {"id": 9}}}, "8", "9"),
    ({"alert": {"sync": {"id": "10"}}, "runId": 11}, "10", "11"),
])
def test_sync_and_run_found_in_other_shapes(payload, sync_id, run_id):
    events = alert_events(json.dumps(payload).encode())
    assert events[0].key == sync_key(sync_id)
    assert [e.key for e in events[1:]] == ([run_key(run_id)] if run_id else [])


def test_alert_without_an_id_is_identified_by_its_body():
    body = b'{"syncId": "1"}'
    assert alert_events(body)[0].event_id == alert_events(body)[0].event_id
    assert alert_events(body)[0].event_id != alert_events(b'{"syncId": "2"}')[0].event_id


@pytest.mark.parametrize("body, message", [
    (b"\xff\xfe", "the alert body is not JSON"),
    (b"[1, 2]", "the alert body is not a JSON object"),
    (b'{"syncId": true}', "the alert names no sync (expected a syncId field)"),
    (b'{"message": "hi"}', "the alert names no sync (expected a syncId field)"),
])
def test_malformed_alerts_are_400(body, message):
    with pytest.raises(WebhookRejected) as info:
        alert_events(body)
    assert info.value.status == 400
    assert str(info.value).startswith(message)


async def test_handler_checks_every_configured_secret():
    handler = HightouchAlertHandler(secrets=["old-secret-1", "new-secret-2"])
    for secret in ("old-secret-1", "new-secret-2"):
        events = await handler.handle(request({"syncId": "1"},
                                              Authorization=f"Bearer {secret}"))
        assert events[0].key == "hightouch:sync:1"
    with pytest.raises(WebhookRejected) as info:
        await handler.handle(request({"syncId": "1"}, Authorization="Bearer other-3"))
    assert info.value.status == 401


async def test_handler_without_a_secret_refuses_everything():
    with pytest.raises(WebhookRejected) as info:
        await HightouchAlertHandler(secrets=[]).handle(request({"syncId": "1"},
                                                               Authorization="Bearer x"))
    assert info.value.status == 401
    assert "HIGHTOUCH_WEBHOOK_SECRET" in str(info.value)


async def test_header_name_from_the_environment(monkeypatch):
    monkeypatch.setenv("HIGHTOUCH_WEBHOOK_HEADER", "X-Hightouch-Token")
    handler = HightouchAlertHandler(secrets=["s3cret-1"])
    assert handler.header == "X-Hightouch-Token"
    await handler.handle(request({"syncId": "1"}, X_Hightouch_Token="s3cret-1"))


def test_identify_only_hightouch_requests():
    assert isinstance(orchestra_identify_webhook(request({})), HightouchAlertHandler)
    other = WebhookRequest(integration="census", method="POST", headers={}, body=b"")
    assert orchestra_identify_webhook(other) is None
