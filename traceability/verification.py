"""Verification of a batch's records, the same code online and offline.

`Evidence` holds everything needed: the signed credentials, the alliance root certificate (the
trust anchor), the state of the signing keys (revocations), a signed log checkpoint and inclusion
proofs. The server gathers it from the database; `nongsan verify BUNDLE.json` reads it from an
exported bundle. `verify_evidence` checks, per credential: signature, certificate chain to the root,
key status at signing time, subject, hash-chain continuity and log inclusion — naming every failure.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from cryptography import x509

from traceability import crypto, gs1, merkle, x509ca
from traceability.schemas import BatchVerification, Check, CredentialResult

BUNDLE_FORMAT = "nongsan-trace-bundle/1"


@dataclass(frozen=True)
class KeyState:
    kid: str
    public_key: str  # base64url raw Ed25519
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    owner_kind: str = "cooperative"


@dataclass
class Evidence:
    gtin: str
    lot: str
    credentials: list[str]
    root_certificate_pem: str
    keys: dict[str, KeyState] = field(default_factory=dict)
    log_origin: str | None = None
    log_public_key: str | None = None  # base64url raw Ed25519 key that signs checkpoints
    checkpoint: str | None = None  # the signed note
    proofs: dict[str, dict[str, Any]] = field(default_factory=dict)  # sha256 -> {index, tree_size, proof}

    def to_bundle(self) -> dict[str, Any]:
        return {
            "format": BUNDLE_FORMAT,
            "gtin": self.gtin,
            "lot": self.lot,
            "credentials": self.credentials,
            "rootCertificate": self.root_certificate_pem,
            "keys": [
                {"kid": k.kid, "publicKey": k.public_key, "ownerKind": k.owner_kind,
                 "revokedAt": k.revoked_at.isoformat() if k.revoked_at else None, "revocationReason": k.revocation_reason}
                for k in self.keys.values()
            ],
            "log": {"origin": self.log_origin, "publicKey": self.log_public_key, "checkpoint": self.checkpoint,
                    "proofs": self.proofs},
        }

    @classmethod
    def from_bundle(cls, data: dict[str, Any]) -> Evidence:
        if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
            raise ValueError(f"not a {BUNDLE_FORMAT} file")
        log = data.get("log") or {}
        keys = {}
        for k in data.get("keys") or []:
            revoked = datetime.fromisoformat(k["revokedAt"]) if k.get("revokedAt") else None
            if revoked is not None and revoked.tzinfo is None:
                revoked = revoked.replace(tzinfo=timezone.utc)
            keys[k["kid"]] = KeyState(k["kid"], k["publicKey"], revoked, k.get("revocationReason"), k.get("ownerKind", "cooperative"))
        return cls(
            gtin=str(data["gtin"]), lot=str(data["lot"]), credentials=list(data["credentials"]),
            root_certificate_pem=str(data["rootCertificate"]), keys=keys, log_origin=log.get("origin"),
            log_public_key=log.get("publicKey"), checkpoint=log.get("checkpoint"), proofs=dict(log.get("proofs") or {}),
        )


@lru_cache(maxsize=512)
def _certificate(der_b64: str) -> x509.Certificate:
    # Keyed by the certificate's own bytes: a changed certificate is a different cache entry.
    return x509ca.cert_from_der_b64(der_b64)


@lru_cache(maxsize=64)
def _root(pem: str) -> x509.Certificate:
    return x509ca.cert_from_pem(pem)


@lru_cache(maxsize=4096)
def _checked_token(token: str) -> tuple[dict[str, Any], bytes] | tuple[None, str]:
    """Signature check of one stored credential, cached by its exact bytes: a tampered token is
    a different key, so the cache can never vouch for bytes it has not checked."""
    try:
        header, _payload, _signing_input, _signature = crypto.jws_parse_unverified(token)
        leaf = _certificate(str((header.get("x5c") or [""])[0]))
    except (crypto.JWSError, ValueError, TypeError):
        return None, "malformed"
    try:
        _header, body = crypto.jws_verify(token, leaf.public_key())  # type: ignore[arg-type]
    except crypto.JWSError:
        return None, "bad_signature"
    return header, body


@lru_cache(maxsize=256)
def _chain_structure(leaf_der_b64: str, root_pem: str) -> tuple[str, ...]:
    """The time-independent part of the chain check (issuer signature, CA flags, key usage)."""
    leaf, root = _certificate(leaf_der_b64), _root(root_pem)
    inside = max(leaf.not_valid_before_utc, root.not_valid_before_utc)
    reasons = x509ca.verify_chain(leaf, root, inside)
    return tuple(r for r in reasons if r not in ("expired", "not_yet_valid"))


def _chain_reasons(leaf_der_b64: str, root_pem: str, at: datetime) -> list[str]:
    reasons = list(_chain_structure(leaf_der_b64, root_pem))
    for certificate in (_certificate(leaf_der_b64), _root(root_pem)):
        if at < certificate.not_valid_before_utc and "not_yet_valid" not in reasons:
            reasons.append("not_yet_valid")
        if at > certificate.not_valid_after_utc and "expired" not in reasons:
            reasons.append("expired")
    return reasons


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _log_key(evidence: Evidence) -> bytes | None:
    """The key that signs checkpoints is the alliance root's own: taken from the trusted root
    certificate, never from the bundle's say-so (a thief could bring a log key of his own)."""
    root_key = crypto.public_key_raw(_root(evidence.root_certificate_pem).public_key())  # type: ignore[arg-type]
    if evidence.log_public_key and crypto.b64url_decode(evidence.log_public_key) != root_key:
        return None
    return root_key


def _open_checkpoint(evidence: Evidence) -> tuple[merkle.Checkpoint | None, str | None]:
    if not evidence.checkpoint:
        return None, None
    log_key = _log_key(evidence)
    if not evidence.log_origin or log_key is None:
        return None, "log_key_mismatch"
    try:
        checkpoint = merkle.open_checkpoint(evidence.checkpoint, evidence.log_origin, log_key)
    except merkle.CheckpointError as error:
        return None, f"checkpoint_{error.reason}"
    if checkpoint.origin != evidence.log_origin:
        return None, "checkpoint_wrong_log"
    return checkpoint, None


def verify_evidence(evidence: Evidence) -> BatchVerification:
    result = BatchVerification(gtin=evidence.gtin, lot=evidence.lot, ok=True)
    if not evidence.credentials:
        result.ok = False
        result.problems.append(Check("records", False, "no_credentials"))
        return result
    root = _root(evidence.root_certificate_pem)
    checkpoint, checkpoint_problem = _open_checkpoint(evidence)
    if checkpoint_problem:
        result.problems.append(Check("checkpoint", False, checkpoint_problem))
        result.ok = False
    expected_path = gs1.DigitalLink(gtin=evidence.gtin, lot=evidence.lot).path
    previous: str | None = None
    owner: list[str] = []  # the DID of whoever signed the first record (the harvest) owns the batch
    for seq, token in enumerate(evidence.credentials, start=1):
        outcome = _verify_credential(token, seq, previous, root, evidence, checkpoint, expected_path, owner)
        result.credentials.append(outcome)
        result.ok &= outcome.ok
        previous = outcome.sha256
    return result


def _verify_credential(token, seq, previous, root, evidence: Evidence, checkpoint, expected_path, owner: list[str]) -> CredentialResult:
    sha = crypto.sha256_hex(token.encode("ascii", "replace"))
    checks: list[Check] = []
    outcome = CredentialResult(seq=seq, sha256=sha, ok=False, checks=checks)
    header, body = _checked_token(token)
    if header is None:
        checks.append(Check("signature", False, str(body)))
        return outcome
    leaf_der = str(header["x5c"][0])
    leaf = _certificate(leaf_der)
    checks.append(Check("signature", True))
    try:
        payload = json.loads(body)
    except ValueError:
        checks.append(Check("payload", False, "malformed_payload"))
        return outcome
    signed_at = _parse_time(payload.get("validFrom"))
    if leaf == root:
        chain_reasons = []  # signed by the alliance itself, with its root key
    else:
        chain_reasons = _chain_reasons(leaf_der, evidence.root_certificate_pem, signed_at or datetime.now(timezone.utc))
    checks.append(Check("certificate", not chain_reasons, chain_reasons[0] if chain_reasons else None))

    kid = str(header.get("kid"))
    key = evidence.keys.get(kid)
    leaf_key = crypto.b64url_encode(crypto.public_key_raw(leaf.public_key()))  # type: ignore[arg-type]
    issuer_id = (payload.get("issuer") or {}).get("id")
    if key is None or key.public_key != leaf_key:
        checks.append(Check("key_status", False, "unknown_key"))
    elif issuer_id != kid.split("#")[0]:
        checks.append(Check("key_status", False, "issuer_mismatch"))
    elif key.revoked_at is not None and not _logged_before(token, sha, key.revoked_at, evidence):
        checks.append(Check("key_status", False, "key_revoked", key.revocation_reason))
    elif owner and issuer_id != owner[0] and key.owner_kind == "cooperative":
        # Another cooperative cannot write into this batch's record; the post office (shipping and
        # receiving) and the alliance (recalls) can.
        checks.append(Check("key_status", False, "foreign_issuer"))
    else:
        checks.append(Check("key_status", True))
    if not owner and isinstance(issuer_id, str):
        owner.append(issuer_id)

    subject = (payload.get("credentialSubject") or [{}])[0]
    product_ids = [q.get("productId", "") for key in ("quantityList", "inputQuantityList", "outputQuantityList")
                   for q in subject.get(key) or []]
    product_ids += [e.get("id", "") for e in subject.get("epcList") or []]
    subject_ok = any(str(p).split("/21/")[0].endswith(expected_path) for p in product_ids)
    checks.append(Check("subject", subject_ok, None if subject_ok else "wrong_batch"))

    chain = payload.get("chain") or {}
    if chain.get("seq") != seq:
        checks.append(Check("hash_chain", False, "reordered" if chain.get("seq") else "broken_chain"))
    elif chain.get("previous") != previous:
        checks.append(Check("hash_chain", False, "broken_chain"))
    else:
        checks.append(Check("hash_chain", True))

    proof = evidence.proofs.get(sha)
    if checkpoint is None:
        checks.append(Check("log_inclusion", False, "no_checkpoint"))
    elif proof is None:
        checks.append(Check("log_inclusion", False, "not_in_log"))
    else:
        try:
            path = [crypto.b64url_decode(p) for p in proof["proof"]]
            included = proof["tree_size"] == checkpoint.size and merkle.verify_inclusion(
                merkle.leaf_hash(token.encode("ascii")), int(proof["index"]), checkpoint.size, path, checkpoint.root)
        except (KeyError, ValueError, TypeError):
            included = False
        checks.append(Check("log_inclusion", included, None if included else "bad_inclusion_proof"))

    outcome.payload = payload
    outcome.ok = all(check.ok for check in checks)
    return outcome


def _logged_before(token: str, sha: str, moment: datetime, evidence: Evidence) -> bool:
    """Did a checkpoint signed before `moment` already include this credential? The signer's own
    validFrom cannot be trusted here: a thief holding the key would simply backdate it."""
    from traceability.transparency import checkpoint_time

    dated = (evidence.proofs.get(sha) or {}).get("dated")
    log_key = _log_key(evidence)
    if not dated or not evidence.log_origin or log_key is None:
        return False
    try:
        checkpoint = merkle.open_checkpoint(dated["checkpoint"], evidence.log_origin, log_key)
        path = [crypto.b64url_decode(p) for p in dated["proof"]]
        included = dated["tree_size"] == checkpoint.size and merkle.verify_inclusion(
            merkle.leaf_hash(token.encode("ascii")), int(dated["index"]), checkpoint.size, path, checkpoint.root)
    except (merkle.CheckpointError, KeyError, ValueError, TypeError):
        return False
    published = checkpoint_time(checkpoint)
    return included and published is not None and published < moment


def load_bundle(text: str) -> Evidence:
    return Evidence.from_bundle(json.loads(text))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
