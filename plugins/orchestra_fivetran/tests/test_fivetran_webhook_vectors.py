"""Fivetran webhook signatures against fixed test vectors (HMAC-SHA256 computed once with
``openssl dgst -sha256 -hmac``, not with the module's own ``sign``), and secret rotation with
the valid secret in either place."""

import pytest
from orchestra_fivetran.webhooks import FivetranWebhookHandler, sign, verify_signature

from orchestra_core import WebhookRejected, WebhookRequest

BODY = b'{"event":"sync_end","connector_id":"ambush_prettiest","data":{"status":"SUCCESSFUL"}}'
SECRET_A, SECRET_B = "fixed-vector-secret-A", "fixed-vector-secret-B"
#: printf '%s' "$BODY" | openssl dgst -sha256 -hmac fixed-vector-secret-A
HEX_A = "9e5c5fc6f0866fad8784f75c5e633fb017002e41747f9bfd7a14609988bf85ff"
HEX_B = "2d196d65014ebbe8e05e70bdde18004446ba0cc9c0ee95349fe92f15d30f7e99"


@pytest.fixture
def anyio_backend():
    return "asyncio"


def request(signature):
    return WebhookRequest(integration="fivetran", method="POST",
                          headers={"x-fivetran-signature-256": signature,
                                   "content-type": "application/json"}, body=BODY)


def test_sign_matches_the_fixed_vector():
    assert sign(SECRET_A, BODY) == HEX_A.upper()
    assert sign(SECRET_B, BODY) == HEX_B.upper()


@pytest.mark.parametrize("signature", [HEX_A, HEX_A.upper()])
def test_the_fixed_vector_verifies_in_either_case(signature):
    assert verify_signature([SECRET_A], BODY, signature)
    assert not verify_signature([SECRET_B], BODY, signature)
    assert not verify_signature([SECRET_A], BODY + b" ", signature)


@pytest.mark.parametrize("secrets", [[SECRET_A, SECRET_B], [SECRET_B, SECRET_A]])
@pytest.mark.parametrize("signature", [HEX_A, HEX_B])
def test_rotation_accepts_the_valid_secret_first_or_last(secrets, signature):
    assert verify_signature(secrets, BODY, signature)
    assert verify_signature([*secrets, "some-third-secret"], BODY, signature)
    assert not verify_signature(["some-third-secret", "another-one"], BODY, signature)


@pytest.mark.parametrize("secrets", [[SECRET_A, SECRET_B], [SECRET_B, SECRET_A]])
async def test_the_handler_accepts_either_rotated_secret_in_either_order(secrets):
    handler = FivetranWebhookHandler(secrets)
    for signature in (HEX_A, HEX_B.upper()):
        [event] = await handler.handle(request(signature))
        assert event.key.endswith("ambush_prettiest")
    with pytest.raises(WebhookRejected) as info:
        await handler.handle(request("0" * 64))
    assert info.value.status == 401
