import time

import pytest
from hypothesis import given, strategies as st

from workers import webhooks


def test_signed_message_verifies_with_any_current_secret():
    old, new = webhooks.new_secret(), webhooks.new_secret()
    body = b'{"code":"EN123456785VN","status":"awaiting_pickup"}'
    headers = webhooks.sign_headers([old, new], "msg_1", body)
    assert headers["webhook-signature"].count("v1,") == 2
    assert webhooks.verify([new], headers, body) == "msg_1"
    assert webhooks.verify([old], headers, body) == "msg_1"


def test_known_answer_from_the_standard_webhooks_examples():
    # Example from the Standard Webhooks specification's reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert webhooks.signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize("tamper", ["body", "id", "timestamp", "signature", "stale", "missing", "unsigned"])
def test_tampered_stale_or_unsigned_messages_are_refused(tamper):
    secret = webhooks.new_secret()
    body = b'{"status":"delivered"}'
    headers = webhooks.sign_headers([secret], "msg_2", body)
    now = time.time()
    if tamper == "body":
        body = b'{"status":"returned"}'
    elif tamper == "id":
        headers["webhook-id"] = "msg_3"
    elif tamper == "timestamp":
        headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) + 1)
    elif tamper == "signature":
        headers["webhook-signature"] = "v1," + "A" * 44
    elif tamper == "stale":
        now += 3600
    elif tamper == "missing":
        del headers["webhook-timestamp"]
    elif tamper == "unsigned":
        headers["webhook-signature"] = ""
    with pytest.raises(webhooks.WebhookError) as refused:
        webhooks.verify([secret], headers, body, now=now)
    expected = {"stale": "stale", "missing": "missing_headers", "unsigned": "missing_headers"}.get(tamper, "bad_signature")
    assert refused.value.reason == expected


@given(st.binary(max_size=300), st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=40))
def test_round_trip_for_any_body_and_id(body, message_id):
    secret = webhooks.new_secret()
    assert webhooks.verify([secret], webhooks.sign_headers([secret], message_id, body), body) == message_id
