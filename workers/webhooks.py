"""Standard Webhooks (standardwebhooks.com): signing what we send, verifying what partners send.

A message carries `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`, a
space-separated list of `v1,<base64 HMAC-SHA256 over "id.timestamp.body">`. During a secret rotation
we sign with every current secret, so the receiver accepts the message with either; when verifying
we accept a signature made with any of ours. Secrets look like `whsec_<base64 of the key>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as secrets_module
import time
from collections.abc import Mapping, Sequence

TOLERANCE_SECONDS = 5 * 60
PREFIX = "whsec_"


class WebhookError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # missing_headers / stale / bad_signature / bad_secret


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets_module.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (ValueError, TypeError) as error:
        raise WebhookError("bad_secret", "a webhook secret must be whsec_ followed by base64") from error


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def sign_headers(secrets: Sequence[str], message_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(now if now is not None else time.time())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets),
        "content-type": "application/json",
    }


def verify(secrets: Sequence[str], headers: Mapping[str, str], body: bytes, now: float | None = None,
           tolerance: int = TOLERANCE_SECONDS) -> str:
    """Check a received message; returns its id. Raises WebhookError naming what is wrong."""
    lowered = {k.lower(): v for k, v in headers.items()}
    message_id, stamp, signatures = (lowered.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not message_id or not stamp or not signatures:
        raise WebhookError("missing_headers", "webhook-id, webhook-timestamp and webhook-signature are required")
    try:
        timestamp = int(stamp)
    except ValueError as error:
        raise WebhookError("stale", "webhook-timestamp must be Unix seconds") from error
    current = now if now is not None else time.time()
    if abs(current - timestamp) > tolerance:
        raise WebhookError("stale", "the message is too old or from the future")
    offered = [part.split(",", 1)[1] for part in signatures.split() if part.startswith("v1,")]
    for secret in secrets:
        expected = signature(secret, message_id, timestamp, body).split(",", 1)[1]
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return message_id
    raise WebhookError("bad_signature", "no signature matches")
