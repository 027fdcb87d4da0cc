"""Trust services: the alliance CA and key store, signing events as credentials, verification."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from sqlmodel import Session, select

from traceability import crypto, gs1, x509ca
from traceability.models import Credential, KeyOwnerKind, KeyStatus, SigningKey
from traceability.schemas import BatchRef, BatchVerification, Check, CredentialResult, IssuerRef

VC_CONTEXT = [
    "https://www.w3.org/ns/credentials/v2",
    "https://test.uncefact.org/vocabulary/untp/dte/0.6.0/",
]
ROOT_VALID_DAYS = 20 * 365
MEMBER_KEY_VALID_DAYS = 3 * 365


class TraceabilityError(Exception):
    status = 400

    def __init__(self, message: str, field: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if status is not None:
            self.status = status


def did_for(base_url: str, issuer: IssuerRef) -> str:
    """did:web identifiers hosted by the service itself (host, then path segments)."""
    host = urlsplit(base_url).netloc.replace(":", "%3A")
    if issuer.kind == KeyOwnerKind.ALLIANCE:
        return f"did:web:{host}"
    return f"did:web:{host}:{issuer.kind}:{issuer.owner_id}"


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class KeyService:
    """Creates, stores (encrypted) and loads signing keys with their alliance certificates."""

    def __init__(self, session: Session, encryptor: crypto.KeyEncryptor, *, base_url: str, alliance_name: str) -> None:
        self.session = session
        self.encryptor = encryptor
        self.base_url = base_url
        self.alliance_name = alliance_name

    def _store(self, issuer: IssuerRef, private_key, certificate: x509.Certificate) -> SigningKey:
        public_raw = crypto.public_key_raw(private_key.public_key())
        # A short, stable key id: the first 16 bytes of the public key's SHA-256.
        fingerprint = crypto.b64url_encode(bytes.fromhex(crypto.sha256_hex(public_raw))[:16])
        kid = f"{did_for(self.base_url, issuer)}#{fingerprint}"
        key = SigningKey(
            kid=kid,
            owner_kind=issuer.kind,
            owner_id=issuer.owner_id,
            owner_name=issuer.name,
            public_key=crypto.b64url_encode(public_raw),
            sealed_private_key=self.encryptor.seal(private_key, context=kid),
            certificate_pem=x509ca.cert_to_pem(certificate),
            not_after=certificate.not_valid_after_utc,
        )
        self.session.add(key)
        self.session.flush()
        return key

    def alliance_root(self) -> SigningKey:
        root = self.session.exec(
            select(SigningKey).where(
                SigningKey.owner_kind == KeyOwnerKind.ALLIANCE, SigningKey.status == KeyStatus.ACTIVE
            )
        ).first()
        if root is None:
            issuer = IssuerRef(KeyOwnerKind.ALLIANCE, None, self.alliance_name)
            private_key, certificate = x509ca.create_root(
                f"{self.alliance_name} Root CA", self.alliance_name, valid_days=ROOT_VALID_DAYS
            )
            root = self._store(issuer, private_key, certificate)
        return root

    def issue_key(self, issuer: IssuerRef) -> SigningKey:
        """A new key for a cooperative or partner, certified by the alliance root."""
        if issuer.kind == KeyOwnerKind.ALLIANCE:
            raise TraceabilityError("The alliance root is created, not issued.")
        root = self.alliance_root()
        root_private = self.private_key(root)
        root_cert = x509ca.cert_from_pem(root.certificate_pem)
        private_key = crypto.generate_ed25519()
        certificate = x509ca.issue_certificate(
            root_private,
            root_cert,
            private_key.public_key(),
            common_name=issuer.name,
            organization=issuer.name,
            serial_hint=f"{issuer.kind}-{issuer.owner_id}",
            valid_days=MEMBER_KEY_VALID_DAYS,
        )
        return self._store(issuer, private_key, certificate)

    def active_key(self, issuer: IssuerRef) -> SigningKey:
        key = self.session.exec(
            select(SigningKey)
            .where(
                SigningKey.owner_kind == issuer.kind,
                SigningKey.owner_id == issuer.owner_id,
                SigningKey.status == KeyStatus.ACTIVE,
            )
            .order_by(SigningKey.id.desc())  # type: ignore[union-attr]
        ).first()
        if key is None:
            raise TraceabilityError("This organisation has no active signing key yet.", status=403)
        return key

    def private_key(self, key: SigningKey):
        return self.encryptor.open(key.sealed_private_key, context=key.kid)

    def by_kid(self, kid: str) -> SigningKey | None:
        return self.session.exec(select(SigningKey).where(SigningKey.kid == kid)).first()


class CredentialService:
    """Issues events as signed credentials, hash-chained per batch."""

    def __init__(self, session: Session, keys: KeyService) -> None:
        self.session = session
        self.keys = keys

    def credentials(self, batch: BatchRef) -> list[Credential]:
        return list(
            self.session.exec(
                select(Credential)
                .where(Credential.gtin == batch.gtin, Credential.lot == batch.lot)
                .order_by(Credential.seq)
            )
        )

    def issue(self, issuer: IssuerRef, batch: BatchRef, event_type: str, event: dict[str, Any]) -> Credential:
        key = self.keys.active_key(issuer)
        private_key = self.keys.private_key(key)
        root = self.keys.alliance_root()
        previous = self.session.exec(
            select(Credential)
            .where(Credential.gtin == batch.gtin, Credential.lot == batch.lot)
            .order_by(Credential.seq.desc())  # type: ignore[union-attr]
            .with_for_update()
        ).first()
        seq = previous.seq + 1 if previous else 1
        now = datetime.now(timezone.utc)
        link = gs1.DigitalLink(gtin=batch.gtin, lot=batch.lot)
        payload = {
            "@context": VC_CONTEXT,
            "type": ["VerifiableCredential", "DigitalTraceabilityEvent"],
            "id": f"urn:uuid:{uuid.uuid4()}",
            "issuer": {"type": ["CredentialIssuer"], "id": key.kid.split("#")[0], "name": key.owner_name},
            "validFrom": iso_utc(now),
            "credentialSubject": [dict(event, eventType=event_type, productId=link.uri(self.keys.base_url))],
            "chain": {"seq": seq, "previous": previous.sha256 if previous else None},
        }
        header = {
            "typ": "vc+jwt",
            "cty": "vc",
            "kid": key.kid,
            "x5c": [
                x509ca.cert_to_der_b64(x509ca.cert_from_pem(key.certificate_pem)),
                x509ca.cert_to_der_b64(x509ca.cert_from_pem(root.certificate_pem)),
            ],
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
        token = crypto.jws_sign(body, private_key, header)
        credential = Credential(
            gtin=batch.gtin,
            lot=batch.lot,
            seq=seq,
            event_type=event_type,
            jws=token,
            sha256=crypto.sha256_hex(token.encode("ascii")),
            prev_sha256=previous.sha256 if previous else None,
            issuer_kid=key.kid,
        )
        self.session.add(credential)
        self.session.flush()
        return credential


class VerificationService:
    """One verification used everywhere: signature, certificate chain, key status, hash chain."""

    def __init__(self, session: Session, keys: KeyService) -> None:
        self.session = session
        self.keys = keys

    def verify_batch(self, batch: BatchRef) -> BatchVerification:
        credentials = CredentialService(self.session, self.keys).credentials(batch)
        root_row = self.session.exec(
            select(SigningKey).where(SigningKey.owner_kind == KeyOwnerKind.ALLIANCE)
        ).first()
        result = BatchVerification(gtin=batch.gtin, lot=batch.lot, ok=True)
        if root_row is None or not credentials:
            result.ok = False
            result.problems.append(Check("records", False, "no_credentials"))
            return result
        root_cert = x509ca.cert_from_pem(root_row.certificate_pem)
        previous_sha: str | None = None
        for index, credential in enumerate(credentials, start=1):
            outcome = self._verify_one(credential.jws, root_cert, expected_seq=index, expected_previous=previous_sha, batch=batch)
            result.credentials.append(outcome)
            result.ok &= outcome.ok
            previous_sha = outcome.sha256
        return result

    def _verify_one(
        self, token: str, root_cert: x509.Certificate, *, expected_seq: int, expected_previous: str | None, batch: BatchRef
    ) -> CredentialResult:
        sha = crypto.sha256_hex(token.encode("ascii"))
        checks: list[Check] = []
        outcome = CredentialResult(seq=expected_seq, sha256=sha, ok=False, checks=checks)
        try:
            header, _payload, _signing_input, _signature = crypto.jws_parse_unverified(token)
        except crypto.JWSError as error:
            checks.append(Check("signature", False, "malformed", str(error)))
            return outcome
        x5c = header.get("x5c") or []
        try:
            leaf = x509ca.cert_from_der_b64(x5c[0])
        except Exception:  # noqa: BLE001 - any parse problem means an unusable chain
            checks.append(Check("certificate", False, "missing_certificate"))
            return outcome
        try:
            _header, body = crypto.jws_verify(token, leaf.public_key())  # type: ignore[arg-type]
            checks.append(Check("signature", True))
        except crypto.JWSError as error:
            checks.append(Check("signature", False, "bad_signature", error.reason))
            return outcome
        payload = json.loads(body)
        signed_at = _parse_time(payload.get("validFrom"))
        chain_reasons = x509ca.verify_chain(leaf, root_cert, signed_at or datetime.now(timezone.utc))
        checks.append(Check("certificate", not chain_reasons, chain_reasons[0] if chain_reasons else None))
        key = self.keys.by_kid(str(header.get("kid")))
        key_ok, key_reason = True, None
        if key is None or key.public_key != crypto.b64url_encode(crypto.public_key_raw(leaf.public_key())):  # type: ignore[arg-type]
            key_ok, key_reason = False, "unknown_key"
        elif key.revoked_at is not None and (signed_at is None or signed_at >= key.revoked_at):
            key_ok, key_reason = False, "key_revoked"
        checks.append(Check("key_status", key_ok, key_reason))
        subject = (payload.get("credentialSubject") or [{}])[0]
        expected_link = gs1.DigitalLink(gtin=batch.gtin, lot=batch.lot).path
        subject_ok = str(subject.get("productId", "")).endswith(expected_link)
        checks.append(Check("subject", subject_ok, None if subject_ok else "wrong_batch"))
        chain = payload.get("chain") or {}
        chain_ok = chain.get("seq") == expected_seq and chain.get("previous") == expected_previous
        reason = None
        if not chain_ok:
            reason = "reordered" if chain.get("seq") != expected_seq else "broken_chain"
        checks.append(Check("hash_chain", chain_ok, reason))
        outcome.payload = payload
        outcome.ok = all(check.ok for check in checks)
        return outcome


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def key_service(session: Session) -> KeyService:
    """The key store as configured: KEK, public base URL and alliance name from the app config."""
    from flask import current_app

    config = current_app.config
    encryptor = crypto.KeyEncryptor(crypto.parse_kek(config["KEY_ENCRYPTION_KEY"]), kek_id=config.get("KEK_ID", "k1"))
    return KeyService(session, encryptor, base_url=config["PUBLIC_BASE_URL"], alliance_name=config["ALLIANCE_NAME"])
