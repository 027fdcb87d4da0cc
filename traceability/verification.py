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
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import orjson

from cryptography import x509

from traceability import crypto, gs1, merkle, x509ca
from traceability.schemas import BatchVerification, Check, CredentialResult

BUNDLE_FORMAT = "nongsan-trace-bundle/1"
# A record the log holds beyond the latest checkpoint is "pending" until the next one. Writers sign
# only once they hold the log's append lock, so a record the checkpoint does not cover was signed
# after it; a record signed earlier than that (less this allowance for clocks and for validFrom's
# whole seconds) should have been in it, and the claim is refused: a record nobody logged cannot
# pass as pending.
PENDING_GRACE = timedelta(seconds=5)


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
                    "proofs": {sha: _proof_for_bundle(proof) for sha, proof in self.proofs.items()}},
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


def _proof_for_bundle(proof: dict[str, Any]) -> dict[str, Any]:
    """Proof hashes travel as base64url text; the server keeps them as bytes until then."""
    out = dict(proof)
    if "proof" in out:
        out["proof"] = [crypto.b64url_encode(p) if isinstance(p, (bytes, bytearray)) else p for p in out["proof"]]
    if isinstance(out.get("dated"), dict):
        out["dated"] = _proof_for_bundle(out["dated"])
    return out


def _proof_hashes(values: Any) -> list[bytes]:
    return [bytes(p) if isinstance(p, (bytes, bytearray)) else crypto.b64url_decode(p) for p in values]


@dataclass(frozen=True)
class TrustedPrefix:
    """What the server already knows about a batch (from a verified mark, never from a bundle):
    records 1…`count`, with exactly the bytes they have now, carried valid signatures and were
    included in the tree of `tree_size` leaves with `root`; `consistency` proves that tree is a
    prefix of the evidence's checkpoint. Their signature checks are not redone and one consistency
    proof stands for all their inclusion proofs; every other check runs as for any record."""

    count: int
    tree_size: int
    root: bytes
    consistency: list[bytes]


@lru_cache(maxsize=512)
def _certificate(der_b64: str) -> x509.Certificate:
    # Keyed by the certificate's own bytes: a changed certificate is a different cache entry.
    return x509ca.cert_from_der_b64(der_b64)


@lru_cache(maxsize=64)
def _root(pem: str) -> x509.Certificate:
    return x509ca.cert_from_pem(pem)


@dataclass(frozen=True)
class _Header:
    fields: dict[str, Any]
    leaf_der_b64: str
    leaf: x509.Certificate
    leaf_key: Any  # the leaf certificate's public key object
    leaf_key_b64: str


@lru_cache(maxsize=256)
def _header(segment: str) -> _Header | str:
    """A protected header, parsed once: every credential a key signs shares the same header (its
    kid and certificate chain), so the certificates are decoded once, not once per record."""
    try:
        header = crypto.parse_protected_header(segment)
        leaf_der = str((header.get("x5c") or [""])[0])
        leaf = _certificate(leaf_der)
        key = leaf.public_key()
        return _Header(header, leaf_der, leaf, key, crypto.b64url_encode(crypto.public_key_raw(key)))  # type: ignore[arg-type]
    except (crypto.JWSError, ValueError, TypeError):
        return "malformed"


@dataclass(frozen=True)
class _Opened:
    header: _Header
    body: bytes
    signing_input: bytes
    signature: bytes


def _open_token(token: str) -> _Opened | str:
    """Split and decode one compact JWS (no signature check yet); a reason string when malformed."""
    if not isinstance(token, str):
        return "malformed"
    parts = token.split(".")
    if len(parts) != 3 or not parts[0]:
        return "malformed"
    header = _header(parts[0])
    if isinstance(header, str):
        return header
    try:
        body = crypto.b64url_decode(parts[1])
        signature = crypto.b64url_decode(parts[2])
    except ValueError:
        return "malformed"
    return _Opened(header, body, (parts[0] + "." + parts[1]).encode("ascii"), signature)


@lru_cache(maxsize=8192)
def _signature_ok(token: str) -> bool:
    """The Ed25519 check of one stored credential, cached by its exact bytes: a tampered token is
    a different key, so the cache can never vouch for bytes it has not checked."""
    opened = _open_token(token)
    if isinstance(opened, str) or opened.header.fields.get("alg") != "EdDSA" or len(opened.signature) != 64:
        return False
    try:
        opened.header.leaf_key.verify(opened.signature, opened.signing_input)
    except Exception:  # InvalidSignature, or a key of another type
        return False
    return True


def _checked_token(token: str) -> tuple[dict[str, Any], bytes] | tuple[None, str]:
    """(header, payload bytes) of a credential whose signature verifies, else (None, reason)."""
    opened = _open_token(token)
    if isinstance(opened, str):
        return None, opened
    if not _signature_ok(token):
        return None, "bad_signature"
    return opened.header.fields, opened.body


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


@lru_cache(maxsize=64)
def _opened_note(note: str, origin: str, log_key: bytes) -> merkle.Checkpoint | str:
    # Keyed by the note's exact text: a changed note is checked afresh.
    try:
        return merkle.open_checkpoint(note, origin, log_key)
    except merkle.CheckpointError as error:
        return f"checkpoint_{error.reason}"


def _open_checkpoint(evidence: Evidence) -> tuple[merkle.Checkpoint | None, str | None]:
    if not evidence.checkpoint:
        return None, None
    log_key = _log_key(evidence)
    if not evidence.log_origin or log_key is None:
        return None, "log_key_mismatch"
    checkpoint = _opened_note(evidence.checkpoint, evidence.log_origin, log_key)
    if isinstance(checkpoint, str):
        return None, checkpoint
    if checkpoint.origin != evidence.log_origin:
        return None, "checkpoint_wrong_log"
    return checkpoint, None


def verify_evidence(evidence: Evidence, *, trusted: TrustedPrefix | None = None) -> BatchVerification:
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
    context = _Context(evidence, root, checkpoint, gs1.DigitalLink(gtin=evidence.gtin, lot=evidence.lot).path, trusted)
    previous: str | None = None
    for seq, token in enumerate(evidence.credentials, start=1):
        outcome = _verify_credential(token, seq, previous, context)
        result.credentials.append(outcome)
        result.ok &= outcome.ok
        previous = outcome.sha256
    return result


class _Context:
    """What every record of one verification shares."""

    def __init__(self, evidence: Evidence, root, checkpoint, expected_path: str, trusted: TrustedPrefix | None) -> None:
        self.evidence = evidence
        self.root = root
        self.checkpoint = checkpoint
        self.expected_path = expected_path
        self.trusted = trusted if checkpoint is not None else None
        self.owner: str | None = None  # the DID of whoever signed the first record (the harvest) owns the batch
        self._trusted_included: bool | None = None
        self.published = checkpoint_time_of(checkpoint) if checkpoint is not None else None

    def trusted_included(self) -> bool:
        """One consistency proof carries the trusted records' inclusion to this checkpoint."""
        if self._trusted_included is None:
            t, cp = self.trusted, self.checkpoint
            self._trusted_included = bool(t and cp and merkle.verify_consistency(t.tree_size, cp.size, t.root, cp.root, t.consistency))
        return self._trusted_included


def checkpoint_time_of(checkpoint: merkle.Checkpoint) -> datetime | None:
    from traceability.transparency import checkpoint_time

    return checkpoint_time(checkpoint)


def _verify_credential(token, seq, previous, context: _Context) -> CredentialResult:
    evidence = context.evidence
    sha = crypto.sha256_hex(token.encode("ascii", "replace"))
    checks: list[Check] = []
    outcome = CredentialResult(seq=seq, sha256=sha, ok=False, checks=checks)
    trusted = context.trusted is not None and seq <= context.trusted.count
    opened = _open_token(token)
    if isinstance(opened, str):
        checks.append(Check("signature", False, opened))
        return outcome
    if not trusted and not _signature_ok(token):
        checks.append(Check("signature", False, "bad_signature"))
        return outcome
    header = opened.header
    checks.append(Check("signature", True))
    try:
        payload = orjson.loads(opened.body)
        if not isinstance(payload, dict):
            raise ValueError("not an object")
    except ValueError:
        checks.append(Check("payload", False, "malformed_payload"))
        return outcome
    signed_at = _parse_time(payload.get("validFrom"))
    if header.leaf == context.root:
        chain_reasons = []  # signed by the alliance itself, with its root key
    else:
        chain_reasons = _chain_reasons(header.leaf_der_b64, evidence.root_certificate_pem, signed_at or datetime.now(timezone.utc))
    checks.append(Check("certificate", not chain_reasons, chain_reasons[0] if chain_reasons else None))

    kid = str(header.fields.get("kid"))
    key = evidence.keys.get(kid)
    issuer_id = (payload.get("issuer") or {}).get("id") if isinstance(payload.get("issuer"), dict) else None
    if key is None or key.public_key != header.leaf_key_b64:
        checks.append(Check("key_status", False, "unknown_key"))
    elif issuer_id != kid.split("#")[0]:
        checks.append(Check("key_status", False, "issuer_mismatch"))
    elif key.revoked_at is not None and not _logged_before(token, sha, key.revoked_at, evidence):
        checks.append(Check("key_status", False, "key_revoked", key.revocation_reason))
    elif context.owner and issuer_id != context.owner and key.owner_kind == "cooperative":
        # Another cooperative cannot write into this batch's record; the post office (shipping and
        # receiving) and the alliance (recalls) can.
        checks.append(Check("key_status", False, "foreign_issuer"))
    else:
        checks.append(Check("key_status", True))
    if not context.owner and isinstance(issuer_id, str):
        context.owner = issuer_id

    subjects = payload.get("credentialSubject") or [{}]
    subject = subjects[0] if isinstance(subjects, list) and subjects and isinstance(subjects[0], dict) else {}
    product_ids = [q.get("productId", "") for name in ("quantityList", "inputQuantityList", "outputQuantityList")
                   for q in subject.get(name) or [] if isinstance(q, dict)]
    product_ids += [e.get("id", "") for e in subject.get("epcList") or [] if isinstance(e, dict)]
    subject_ok = any(str(p).split("/21/")[0].endswith(context.expected_path) for p in product_ids)
    checks.append(Check("subject", subject_ok, None if subject_ok else "wrong_batch"))

    chain = payload.get("chain") if isinstance(payload.get("chain"), dict) else {}
    if chain.get("seq") != seq:
        checks.append(Check("hash_chain", False, "reordered" if chain.get("seq") else "broken_chain"))
    elif chain.get("previous") != previous:
        checks.append(Check("hash_chain", False, "broken_chain"))
    else:
        checks.append(Check("hash_chain", True))

    checks.append(_inclusion(token, sha, signed_at, trusted, context, outcome))
    outcome.payload = payload
    outcome.ok = all(check.ok for check in checks)
    return outcome


def _inclusion(token: str, sha: str, signed_at: datetime | None, trusted: bool, context: _Context,
               outcome: CredentialResult) -> Check:
    checkpoint = context.checkpoint
    proof = context.evidence.proofs.get(sha)
    if checkpoint is None:
        return Check("log_inclusion", False, "no_checkpoint")
    if trusted:
        included = context.trusted_included()
        return Check("log_inclusion", included, None if included else "bad_inclusion_proof")
    if proof is None:
        return Check("log_inclusion", False, "not_in_log")
    if proof.get("pending") is True:
        # Logged after the latest checkpoint: accepted until the next one, if it can be that new.
        index = proof.get("index")
        fresh = (isinstance(index, int) and not isinstance(index, bool) and index >= checkpoint.size
                 and context.published is not None and signed_at is not None
                 and signed_at >= context.published - PENDING_GRACE)
        if not fresh:
            return Check("log_inclusion", False, "not_in_log")
        outcome.pending = True
        return Check("log_inclusion", True, None, "pending")
    try:
        included = proof["tree_size"] == checkpoint.size and merkle.verify_inclusion(
            merkle.leaf_hash(token.encode("ascii")), int(proof["index"]), checkpoint.size, _proof_hashes(proof["proof"]),
            checkpoint.root)
    except (KeyError, ValueError, TypeError):
        included = False
    return Check("log_inclusion", included, None if included else "bad_inclusion_proof")


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
        path = _proof_hashes(dated["proof"])
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
