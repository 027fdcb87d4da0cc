"""Offline-verifiable labels: a compact signed batch summary in the QR code's URL fragment.

A label may carry, after the batch's GS1 Digital Link, a fragment ``#v1.<base64url>``. Browsers
never send a fragment to the server, so the page (``static/js/offline.js``) can check it with no
network at all: the only thing it needs is the alliance root public key, which the page carries.

The bytes behind ``v1.`` (unpadded, canonical base64url)::

    offset  size  content
         0    32  the cooperative's raw Ed25519 public key
        32     4  key expiry: days since 1970-01-01, big-endian unsigned
        36    64  key statement: the alliance ROOT key's signature over
                  b"nongsan/key/v1" || public key || expiry (4 bytes) || short key id
       100    64  the cooperative key's signature over b"nongsan/summary/v1" || summary
       164     …  summary: canonical JSON, UTF-8

The short key id is the first 8 bytes of SHA-256(public key), a prefix of the fingerprint in the
key's ``kid``; the verifier recomputes it, so it costs no room on the label. The summary is one
JSON object with exactly the keys below, in this order, no spaces, non-ASCII left as UTF-8 (the
one spelling both Python and the browser produce, so a signed summary cannot be respelled):

    g  GTIN-14            l  lot                 n  product name (at most 48 characters)
    h  harvest date       c  cooperative name (at most 48 characters)
    t  date the summary was issued (dates are YYYY-MM-DD)

Checks, in order, each with its reason: the bytes parse (``malformed``); the root signed the key
statement (``bad_key_statement``); today is not after the key's expiry (``key_expired``); the
cooperative key signed the summary (``bad_signature``); the summary names the batch of the page
(``wrong_batch``). What it cannot tell offline: a revocation or a recall after the label was
printed; the page's online verification shows those.

The domain tags keep these signatures apart from everything else the keys sign: log checkpoints
(text starting with the log's origin), certificates (DER) and credentials (JWS signing inputs,
base64url text).
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from datetime import date, datetime, timedelta, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from traceability import crypto

__all__ = [
    "VERSION",
    "REASONS",
    "CompactError",
    "make_fragment",
    "open_fragment",
    "offline_fragment_for",
    "qr_version",
]

VERSION = "v1"
KEY_TAG = b"nongsan/key/v1"
SUMMARY_TAG = b"nongsan/summary/v1"
SUMMARY_KEYS = ("g", "l", "n", "h", "c", "t")
NAME_LIMIT = 48
SHORT_KID_LEN = 8
_HEAD = 32 + 4 + 64 + 64
_EPOCH = date(1970, 1, 1)
REASONS = frozenset({"malformed", "bad_key_statement", "key_expired", "bad_signature", "wrong_batch"})

_DATE_RE = re.compile(r"\d{4}-\d\d-\d\d")
_GTIN_RE = re.compile(r"\d{14}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")  # and lone surrogates


class CompactError(Exception):
    """An offline label that does not verify; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        self.reason = reason
        super().__init__(message or reason)


def short_key_id(public_raw: bytes) -> bytes:
    return hashlib.sha256(public_raw).digest()[:SHORT_KID_LEN]


def _key_statement_input(public_raw: bytes, expiry_days: int) -> bytes:
    return KEY_TAG + public_raw + struct.pack(">I", expiry_days) + short_key_id(public_raw)


def _days(day: date) -> int:
    days = (day - _EPOCH).days
    if not 0 <= days < 2**32:
        raise ValueError("key expiry out of range")
    return days


def _clip(text: Any) -> str:
    """A name for the label: one line, at most NAME_LIMIT characters."""
    text = " ".join(_CONTROL_RE.sub(" ", str(text or "")).split())
    return text if len(text) <= NAME_LIMIT else text[: NAME_LIMIT - 1].rstrip() + "…"


def _summary_bytes(summary: dict[str, Any]) -> bytes:
    return json.dumps({k: summary[k] for k in SUMMARY_KEYS}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _valid_summary(summary: Any) -> bool:
    if not isinstance(summary, dict) or tuple(summary) != SUMMARY_KEYS:
        return False
    if not all(isinstance(summary[k], str) and not _CONTROL_RE.search(summary[k]) for k in SUMMARY_KEYS):
        return False
    return (bool(_GTIN_RE.fullmatch(summary["g"])) and 0 < len(summary["l"]) <= 20
            and len(summary["n"]) <= NAME_LIMIT and len(summary["c"]) <= NAME_LIMIT
            and all(_DATE_RE.fullmatch(summary[k]) for k in ("h", "t")))


def make_fragment(summary: dict[str, Any], coop_private_key: Ed25519PrivateKey, coop_key_expiry: date,
                  root_private_key: Ed25519PrivateKey) -> str:
    """``v1.<base64url>`` (without the ``#``) for a summary with the keys g, l, n, h, c, t."""
    summary = {k: str(summary[k]) for k in SUMMARY_KEYS}
    summary["n"], summary["c"] = _clip(summary["n"]), _clip(summary["c"])
    if not _valid_summary(summary):
        raise ValueError("summary needs a GTIN-14, a lot and YYYY-MM-DD dates")
    public_raw = crypto.public_key_raw(coop_private_key)
    expiry_days = _days(coop_key_expiry)
    statement = root_private_key.sign(_key_statement_input(public_raw, expiry_days))
    body = _summary_bytes(summary)
    signature = coop_private_key.sign(SUMMARY_TAG + body)
    data = public_raw + struct.pack(">I", expiry_days) + statement + signature + body
    return f"{VERSION}.{crypto.b64url_encode(data)}"


def _verifies(public_raw: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


def open_fragment(fragment: str, root_public_key_raw: bytes, *, expected_gtin: str, expected_lot: str,
                  today: date | None = None) -> dict[str, Any]:
    """Verify a fragment (with or without the leading ``#``) and return its summary, plus
    ``key_expires`` (YYYY-MM-DD). Raises :class:`CompactError` naming the first check that fails."""
    if not isinstance(fragment, str):
        raise CompactError("malformed", "fragment must be text")
    version, dot, encoded = fragment.removeprefix("#").partition(".")
    if version != VERSION or not dot:
        raise CompactError("malformed", "unknown version")
    try:
        data = crypto.b64url_decode(encoded)
    except ValueError as exc:
        raise CompactError("malformed", "not canonical base64url") from exc
    if len(data) <= _HEAD:
        raise CompactError("malformed", "too short")
    public_raw, expiry_bytes = data[:32], data[32:36]
    statement, signature, body = data[36:100], data[100:164], data[164:]
    try:
        summary = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CompactError("malformed", "summary is not JSON") from exc
    # Canonical bytes only: rules out duplicate keys, other orders and other spellings.
    if not _valid_summary(summary) or _summary_bytes(summary) != body:
        raise CompactError("malformed", "summary is not in the canonical form")
    expiry_days = struct.unpack(">I", expiry_bytes)[0]
    if not _verifies(root_public_key_raw, statement, _key_statement_input(public_raw, expiry_days)):
        raise CompactError("bad_key_statement", "the alliance did not certify this key")
    expires = _EPOCH + timedelta(days=expiry_days)
    if (today or datetime.now(timezone.utc).date()) > expires:
        raise CompactError("key_expired", f"the key's certification ended on {expires.isoformat()}")
    if not _verifies(public_raw, signature, SUMMARY_TAG + body):
        raise CompactError("bad_signature", "the summary's signature does not verify")
    if summary["g"] != expected_gtin or summary["l"] != expected_lot:
        raise CompactError("wrong_batch", "the summary names another batch")
    return dict(summary, key_expires=expires.isoformat())


# -- from the database ---------------------------------------------------------------------------
def _issued_quantity(event: dict[str, Any], batch_uri: str) -> dict[str, Any]:
    quantities = list(event.get("quantityList") or []) + list(event.get("outputQuantityList") or [])
    own = [q for q in quantities if isinstance(q, dict) and str(q.get("productId", "")).split("/21/")[0] == batch_uri]
    return (own or quantities or [{}])[0]


def offline_fragment_for(session, keys, gtin: str, lot: str) -> str:
    """The fragment for a batch, from its verified first (harvest) credential, signed with the
    active key of the cooperative that signed that credential and certified by the alliance root.

    Refused (``TraceabilityError``) for an unknown or recalled batch, a first record that does
    not verify, or a cooperative with no active key."""
    from sqlmodel import select

    from traceability import gs1
    from traceability.events import LOCAL_TZ
    from traceability.models import Credential, KeyOwnerKind
    from traceability.schemas import BatchRef, IssuerRef
    from traceability.services import RecallService, CredentialService, TraceabilityError, VerificationService

    link = gs1.DigitalLink(gtin=gtin, lot=lot)
    batch = BatchRef(link.gtin, link.lot)
    first = session.exec(
        select(Credential).where(Credential.gtin == batch.gtin, Credential.lot == batch.lot).order_by(Credential.seq)
    ).first()
    if first is None:
        raise TraceabilityError("Unknown batch.", field="lot", status=404)
    if RecallService(session, CredentialService(session, keys)).recall_of(batch) is not None:
        raise TraceabilityError("A recalled batch gets no offline label.", field="lot", status=409)
    result = VerificationService(session, keys).verify_batch(batch)
    harvest = next((c for c in result.credentials if c.seq == first.seq), None)
    if harvest is None or not harvest.ok or not harvest.payload:
        raise TraceabilityError("The batch's first record does not verify.", field="lot", status=409)
    signer = keys.by_kid(first.issuer_kid)
    if signer is None or signer.owner_kind == KeyOwnerKind.ALLIANCE:
        raise TraceabilityError("The batch has no cooperative signer.", field="lot", status=409)
    key = keys.active_key(IssuerRef(signer.owner_kind, signer.owner_id, signer.owner_name))
    payload = harvest.payload
    event = payload["credentialSubject"][0]
    quantity = _issued_quantity(event, link.uri(keys.base_url))
    harvested = (event.get("ilmd") or {}).get("harvestDate") or str(event.get("eventTime", ""))[:10]
    summary = {
        "g": batch.gtin,
        "l": batch.lot,
        "n": quantity.get("productName", ""),
        "h": harvested,
        "c": (payload.get("issuer") or {}).get("name") or key.owner_name,
        "t": datetime.now(LOCAL_TZ).date().isoformat(),
    }
    expiry = key.not_after.date()
    return make_fragment(summary, keys.private_key(key), expiry, keys.private_key(keys.alliance_root()))


def qr_version(data: str, level: str = "M") -> int:
    """The QR version (1-40) that traceability.qr picks for `data`: qrcode's best fit."""
    import qrcode

    from traceability.qr import ERROR_LEVELS

    code = qrcode.QRCode(error_correction=ERROR_LEVELS[level])
    code.add_data(data)
    return code.best_fit()
