import base64
import hashlib
import hmac
import json

import pytest
from orchestra_census.webhooks import CensusWebhookHandler, event_key, parse, sign, verify

from orchestra_core import JobState, WebhookRejected, WebhookRequest

SECRET = "whsec-census-0123456789"


def request(body: bytes, signature: str | None) -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-signature"] = signature
    return WebhookRequest(integration="census", method="POST", headers=headers, body=body)


def payload(**extra) -> bytes:
    data = {"workspace_id": 3167, "sync_id": 3167956, "sync_run_id": 324399613,
            "event": "sync.completed", "status": "ok"}
    data.update(extra)
    return json.dumps(data).encode()


def test_signature_is_base64_hmac_sha256_of_the_raw_body():
    body = payload()
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
    assert sign(SECRET, body) == expected.decode()
    assert verify([SECRET], body, expected.decode())
    # hex is what other vendors send: not accepted here
    assert not verify([SECRET], body, hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest())
    # a trailing newline added by a proxy breaks the signature
    assert not verify([SECRET], body + b"\n", sign(SECRET, body))


def test_rotation_accepts_either_secret():
    body = payload()
    assert verify(["old-secret-1", SECRET], body, sign(SECRET, body))
    assert not verify(["old-secret-1"], body, sign(SECRET, body))


async def test_completed_ok_and_emergency():
    handler = CensusWebhookHandler([SECRET])
    body = payload()
    [event] = await handler.handle(request(body, sign(SECRET, body)))
    assert event.key == event_key(324399613) == "census:324399613"
    assert event.kind == "sync.completed"
    assert event.state is JobState.SUCCEEDED
    assert event.integration == "census"
    body = payload(status="emergency")
    [event] = await handler.handle(request(body, sign(SECRET, body)))
    assert event.state is JobState.FAILED


@pytest.mark.parametrize(("kind", "state"), [
    ("sync.triggered", None), ("sync.started", None), ("sync.success", JobState.SUCCEEDED),
    ("sync.failed", JobState.FAILED), ("sync.something_new", None),
])
def test_event_kinds(kind, state):
    [event] = parse(json.dumps({"sync_run_id": 7, "event": kind, "sync_id": 1}).encode())
    assert event.state is state
    assert event.event_id == f"census:7:{kind}"


def test_replayed_delivery_has_the_same_event_id_and_alerts_differ():
    assert parse(payload())[0].event_id == parse(payload())[0].event_id
    a = parse(payload(event="sync.alert.raised", alert_instance_id=1))[0]
    b = parse(payload(event="sync.alert.raised", alert_instance_id=2))[0]
    assert a.event_id != b.event_id


async def test_rejections():
    handler = CensusWebhookHandler([SECRET])
    body = payload()
    with pytest.raises(WebhookRejected) as info:
        await handler.handle(request(body, None))
    assert info.value.status == 401
    with pytest.raises(WebhookRejected) as info:
        await handler.handle(request(body, sign("wrong-secret", body)))
    assert info.value.status == 401
    assert "base64 HMAC-SHA256" in str(info.value)
    with pytest.raises(WebhookRejected) as info:
        await CensusWebhookHandler([]).handle(request(body, sign(SECRET, body)))
    assert info.value.status == 401
    assert "CENSUS_WEBHOOK_SECRET" in str(info.value)
    for bad in (b"not json", b"[1, 2]", b'{"sync_run_id": 5}', b'{"event": "sync.started"}',
                b'{"event": "sync.started", "sync_run_id": true}'):
        with pytest.raises(WebhookRejected) as info:
            await handler.handle(request(bad, sign(SECRET, bad)))
        assert info.value.status == 400
