"""Census webhook signatures against fixed test vectors (base64 HMAC-SHA256 computed once
with ``openssl dgst -sha256 -hmac ... -binary | base64``, not with the module's own ``sign``),
and secret rotation with the valid secret in either place."""

import pytest
from orchestra_census.webhooks import CensusWebhookHandler, sign, verify

from orchestra_core import JobState, WebhookRejected, WebhookRequest

BODY = b'{"event":"sync.completed","status":"ok","sync_id":3167956,"sync_run_id":324399613}'
SECRET_A, SECRET_B = "fixed-vector-secret-A", "fixed-vector-secret-B"
B64_A = "VRlSougSXhwXC2o3BdF3xlAZlcfVHvVFR70LDQ1bYEs="
B64_B = "8888M6A18CCtkw+F8vlRf5SgLk5YfCaJ7E30wy1rmbQ="


@pytest.fixture
def anyio_backend():
    return "asyncio"


def request(signature):
    return WebhookRequest(integration="census", method="POST",
                          headers={"x-signature": signature,
                                   "content-type": "application/json"}, body=BODY)


def test_sign_matches_the_fixed_vector():
    assert sign(SECRET_A, BODY) == B64_A
    assert sign(SECRET_B.encode(), BODY) == B64_B


def test_the_fixed_vector_verifies():
    assert verify([SECRET_A], BODY, B64_A)
    assert verify([SECRET_A], BODY, f" {B64_A} ")
    assert not verify([SECRET_B], BODY, B64_A)
    assert not verify([SECRET_A], BODY + b"\n", B64_A)
    assert not verify([SECRET_A], BODY, None)
    assert not verify([SECRET_A], BODY, "")
    hex_a = "551952a2e8125e1c170b6a3705d177c6501995c7d51ef54547bd0b0d0d5b604b"
    assert not verify([SECRET_A], BODY, hex_a)  # the same HMAC in hex: not Census's form


@pytest.mark.parametrize("secrets", [[SECRET_A, SECRET_B], [SECRET_B, SECRET_A]])
@pytest.mark.parametrize("signature", [B64_A, B64_B])
def test_rotation_accepts_the_valid_secret_first_or_last(secrets, signature):
    assert verify(secrets, BODY, signature)
    assert verify([*secrets, "some-third-secret"], BODY, signature)
    assert not verify(["some-third-secret", "another-one"], BODY, signature)


@pytest.mark.parametrize("secrets", [[SECRET_A, SECRET_B], [SECRET_B, SECRET_A]])
async def test_the_handler_accepts_either_rotated_secret_in_either_order(secrets):
    handler = CensusWebhookHandler(secrets)
    for signature in (B64_A, B64_B):
        [event] = await handler.handle(request(signature))
        assert event.state is JobState.SUCCEEDED
    with pytest.raises(WebhookRejected) as info:
        await handler.handle(request(B64_A[:-2] + "A="))
    assert info.value.status == 401
