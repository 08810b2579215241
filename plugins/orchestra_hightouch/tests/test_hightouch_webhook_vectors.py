"""Hightouch signs nothing: an alert channel sends a static header. Fixed header values
(written out, not built by the module) and secret rotation in either order."""

import pytest
from orchestra_hightouch.webhooks import HightouchAlertHandler

from orchestra_core import WebhookRejected, WebhookRequest

BODY = b'{"type":"alert","sync":{"id":"1001"},"status":"critical"}'
SECRET_A, SECRET_B = "fixed-vector-secret-A", "fixed-vector-secret-B"


@pytest.fixture
def anyio_backend():
    return "asyncio"


def request(value):
    return WebhookRequest(integration="hightouch", method="POST",
                          headers={"authorization": value, "content-type": "application/json"},
                          body=BODY)


@pytest.mark.parametrize("secrets", [[SECRET_A, SECRET_B], [SECRET_B, SECRET_A]])
@pytest.mark.parametrize("value", ["Bearer fixed-vector-secret-A", "fixed-vector-secret-B",
                                   "bearer   fixed-vector-secret-B  "])
async def test_either_rotated_secret_is_accepted_in_either_order(secrets, value):
    await HightouchAlertHandler(secrets).handle(request(value))


@pytest.mark.parametrize("value", ["Bearer fixed-vector-secret-C", "fixed-vector-secret-",
                                   "Basic fixed-vector-secret-A", "Token fixed-vector-secret-A",
                                   "Bearerx fixed-vector-secret-A", ""])
async def test_other_values_are_refused(value):
    with pytest.raises(WebhookRejected) as info:
        await HightouchAlertHandler([SECRET_A, SECRET_B]).handle(request(value))
    assert info.value.status == 401


@pytest.mark.parametrize(("integration", "expected"), [("", "hightouch"),
                                                       ("hightouch-eu", "hightouch-eu")])
async def test_events_carry_the_requests_integration(integration, expected):
    request = WebhookRequest(integration=integration, method="POST",
                             headers={"authorization": f"Bearer {SECRET_A}"}, body=BODY)
    events = await HightouchAlertHandler([SECRET_A]).handle(request)
    assert events and {e.integration for e in events} == {expected}
