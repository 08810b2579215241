"""dbt Cloud webhook signatures against fixed test vectors (hex HMAC-SHA256 computed once
with ``openssl dgst -sha256 -hmac``, not with the module's own ``sign``), and secret rotation
with the valid secret in either place."""

import pytest
from orchestra_dbt.webhooks import DbtWebhookHandler, sign

from orchestra_core import JobState, WebhookRejected, WebhookRequest

BODY = (b'{"eventType":"job.run.completed","eventId":"wev_9","data":{"runId":"70403194297680",'
        b'"runStatus":"Success","runStatusCode":10}}')
SECRET_A, SECRET_B = "fixed-vector-secret-A", "fixed-vector-secret-B"
HEX_A = "3c321f23f6751e3e3d0fa9e6980ce20b58484750e928153c600e396e3849e2fb"
HEX_B = "b1fc86af1be0f35d2ee70abbf15b89063f845d752e7f9870d6352d15fc893e97"


@pytest.fixture
def anyio_backend():
    return "asyncio"


def request(signature):
    return WebhookRequest(integration="dbt", method="POST",
                          headers={"authorization": signature,
                                   "content-type": "application/json"}, body=BODY)


def test_sign_matches_the_fixed_vector():
    assert sign(SECRET_A, BODY) == HEX_A
    assert sign(SECRET_B, BODY) == HEX_B


@pytest.mark.parametrize("secrets", [[SECRET_A, SECRET_B], [SECRET_B, SECRET_A]])
@pytest.mark.parametrize("signature", [HEX_A, HEX_B, HEX_A.upper()])
async def test_the_fixed_vectors_verify_with_rotation_in_either_order(secrets, signature):
    [event] = await DbtWebhookHandler(secrets).handle(request(signature))
    assert (event.key, event.state) == ("dbt:70403194297680", JobState.SUCCEEDED)


@pytest.mark.parametrize("signature", [HEX_B, "0" * 64, f"Bearer {HEX_A}"])
async def test_a_signature_under_no_configured_secret_is_refused(signature):
    with pytest.raises(WebhookRejected) as info:
        await DbtWebhookHandler([SECRET_A, "some-third-secret"]).handle(request(signature))
    assert info.value.status == 401


async def test_a_delivery_without_authorization_is_401():
    request = WebhookRequest(integration="dbt", method="POST",
                             headers={"content-type": "application/json"}, body=BODY)
    with pytest.raises(WebhookRejected) as info:
        await DbtWebhookHandler([SECRET_A]).handle(request)
    assert info.value.status == 401 and "no Authorization header" in str(info.value)
