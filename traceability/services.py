"""Trust services: the alliance CA and key store, signing events as credentials, verification."""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from functools import lru_cache
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import urlsplit

from cryptography import x509
import orjson
from sqlalchemy import bindparam, insert, tuple_, update
from sqlmodel import Session, select

from traceability import crypto, gs1, merkle, x509ca
from traceability import events as events_module
from traceability.models import (
    BatchLink, ChainHead, Credential, KeyOwnerKind, KeyStatus, LogEntry, Passport, Recall, SigningKey, VerifiedMark,
)
from traceability.schemas import BatchRef, BatchVerification, Check, IssuerRef
from traceability.transparency import Cadence, TransparencyLog, log_origin
from traceability.verification import Evidence, KeyState, TrustedPrefix, verify_evidence

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

    def __init__(self, session: Session, encryptor: crypto.KeyEncryptor, *, base_url: str, alliance_name: str,
                 may_sign: Callable[[Session, IssuerRef], bool] | None = None) -> None:
        self.session = session
        self.encryptor = encryptor
        self.base_url = base_url
        self.alliance_name = alliance_name
        # Whether an organisation may sign at all is the shop's knowledge (a cooperative that is
        # pending, rejected or suspended may not); every signature and every new key passes here.
        self.may_sign = may_sign

    def _require_may_sign(self, issuer: IssuerRef) -> None:
        if self.may_sign is not None and issuer.kind != KeyOwnerKind.ALLIANCE and not self.may_sign(self.session, issuer):
            raise TraceabilityError("This organisation is not approved to sign records.", field="issuer", status=403)

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
        self._require_may_sign(issuer)
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
        self._require_may_sign(issuer)
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

    def keys_of(self, issuer: IssuerRef) -> list[SigningKey]:
        return list(self.session.exec(
            select(SigningKey)
            .where(SigningKey.owner_kind == issuer.kind, SigningKey.owner_id == issuer.owner_id)
            .order_by(SigningKey.id)  # type: ignore[arg-type]
        ))

    def rotate(self, issuer: IssuerRef) -> SigningKey:
        """A new key takes over; the old one is retired and keeps verifying what it signed."""
        now = datetime.now(timezone.utc)
        for key in self.keys_of(issuer):
            if key.status == KeyStatus.ACTIVE:
                key.status = KeyStatus.RETIRED
                key.retired_at = now
        self.session.flush()
        return self.issue_key(issuer)

    def revoke(self, kid: str, reason: str, at: datetime | None = None) -> SigningKey:
        """Signatures made from `at` on are refused; earlier ones stay valid, the log dates them."""
        key = self.by_kid(kid)
        if key is None:
            raise TraceabilityError("Unknown key.", field="kid", status=404)
        if key.owner_kind == KeyOwnerKind.ALLIANCE:
            raise TraceabilityError("The alliance root is replaced by a ceremony, not revoked here.", field="kid", status=409)
        reason = reason.strip()
        if not reason:
            raise TraceabilityError("A revocation needs a reason.", field="reason")
        if key.status == KeyStatus.REVOKED:
            return key
        key.status = KeyStatus.REVOKED
        key.revoked_at = at or datetime.now(timezone.utc)
        key.revocation_reason = reason[:200]
        self.session.flush()
        return key

    def did_document(self, issuer: IssuerRef) -> dict[str, Any]:
        """The did:web document of an organisation: every key it has had, so old signatures verify."""
        did = did_for(self.base_url, issuer)
        keys = self.keys_of(issuer) if issuer.kind != KeyOwnerKind.ALLIANCE else [self.alliance_root()]
        methods = []
        for key in keys:
            jwk = crypto.public_jwk(crypto.public_key_from_raw(crypto.b64url_decode(key.public_key)))
            jwk["x5c"] = [x509ca.cert_to_der_b64(x509ca.cert_from_pem(key.certificate_pem))]
            methods.append({"id": key.kid, "type": "JsonWebKey", "controller": did, "publicKeyJwk": jwk})
        active = [k.kid for k in keys if k.status == KeyStatus.ACTIVE]
        return {
            "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/jwk/v1"],
            "id": did,
            "alsoKnownAs": [issuer.name],
            "verificationMethod": methods,
            "assertionMethod": active,
        }

    def by_kid(self, kid: str) -> SigningKey | None:
        return self.session.exec(select(SigningKey).where(SigningKey.kid == kid)).first()


class CredentialService:
    """Issues events as signed credentials, hash-chained per batch and appended to the log."""

    def __init__(self, session: Session, keys: KeyService) -> None:
        self.session = session
        self.keys = keys
        self.log = transparency_log(session, keys)

    def credentials(self, batch: BatchRef) -> list[Credential]:
        return list(
            self.session.exec(
                select(Credential)
                .where(Credential.gtin == batch.gtin, Credential.lot == batch.lot)
                .order_by(Credential.seq)
            )
        )

    def issue(
        self, issuer: IssuerRef, batch: BatchRef, event_type: str, event: dict[str, Any], *, publish: bool = True
    ) -> Credential:
        """Sign `event` (a UNTP DTE event from `traceability.events`) into the batch's chain.

        The batch's one-row chain head is locked and read (never the chain itself), the record is
        appended to the log, and a checkpoint follows when the cadence's entry count is reached
        (otherwise beat publishes it). `publish=False` leaves even that to the caller or to beat.
        """
        key = self.keys.active_key(issuer)
        private_key = self._private_key(key)
        root = self.keys.alliance_root()
        # Sign only while holding the log's append lock: a record no checkpoint covers yet was then
        # signed after the latest one, which is what lets verifiers accept it as pending.
        self.log._lock()
        seq, previous_sha = self._lock_heads([batch])[(batch.gtin, batch.lot)]
        seq += 1
        now = datetime.now(timezone.utc)
        link = gs1.DigitalLink(gtin=batch.gtin, lot=batch.lot)
        payload = {
            "@context": VC_CONTEXT,
            "type": ["DigitalTraceabilityEvent", "VerifiableCredential"],
            "id": f"urn:uuid:{uuid.uuid4()}",
            "issuer": {"type": ["CredentialIssuer"], "id": key.kid.split("#")[0], "name": key.owner_name},
            "validFrom": iso_utc(now),
            "credentialSubject": [event],
            "chain": {"seq": seq, "previous": previous_sha, "batch": link.uri(self.keys.base_url)},
        }
        token = self._sign(payload, key, root, private_key)
        credential = Credential(
            gtin=batch.gtin,
            lot=batch.lot,
            seq=seq,
            event_type=event_type,
            jws=token,
            sha256=crypto.sha256_hex(token.encode("ascii")),
            prev_sha256=previous_sha,
            issuer_kid=key.kid,
        )
        self.session.add(credential)
        self.session.flush()
        self._move_heads({(batch.gtin, batch.lot): (seq, credential.sha256)})
        self._index_transformation(event, credential.sha256)
        self.log.append(token.encode("ascii"), "event")
        if publish:
            self.log.publish_if_due(entries_only=True)
        return credential

    def _lock_heads(self, batches) -> dict[tuple[str, str], tuple[int, str | None]]:
        """Lock the chain heads of these batches (creating missing ones) and read them: one
        statement whatever the chains' length. Sorted, so two writers never wait on each other."""
        refs = sorted({(b.gtin, b.lot) for b in batches})
        table = ChainHead.__table__
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        heads: dict[tuple[str, str], tuple[int, str | None]] = {}
        for chunk in range(0, len(refs), 1000):
            statement = upsert(table).values([{"gtin": g, "lot": l, "seq": 0, "sha256": None} for g, l in refs[chunk:chunk + 1000]])
            # "Update" to the same value: the row is locked, and the latest committed head returned.
            statement = statement.on_conflict_do_update(index_elements=["gtin", "lot"], set_={"seq": table.c.seq})
            for gtin, lot, seq, sha in self.session.execute(statement.returning(table.c.gtin, table.c.lot, table.c.seq, table.c.sha256)):
                heads[(gtin, lot)] = (seq, sha)
        return heads

    def _move_heads(self, heads: dict[tuple[str, str], tuple[int, str]]) -> None:
        table = ChainHead.__table__
        self.session.execute(
            update(table).where(table.c.gtin == bindparam("g"), table.c.lot == bindparam("l"))
            .values(seq=bindparam("s"), sha256=bindparam("h")),
            [{"g": g, "l": l, "s": seq, "h": sha} for (g, l), (seq, sha) in heads.items()])

    def _index_transformation(self, event: dict[str, Any], sha256: str) -> None:
        from traceability.capture import batch_named_by

        inputs = [batch_named_by({"quantityList": [q]}) for q in event.get("inputQuantityList") or []]
        outputs = [batch_named_by({"quantityList": [q]}) for q in event.get("outputQuantityList") or []]
        for source in filter(None, inputs):
            for target in filter(None, outputs):
                if source != target:
                    self.session.add(BatchLink(input_gtin=source.gtin, input_lot=source.lot, output_gtin=target.gtin,
                                               output_lot=target.lot, credential_sha256=sha256))

    def neighbours(self, batch: BatchRef) -> tuple[list[BatchRef], list[BatchRef]]:
        """(made from, made into): the batches one step back and one step forward."""
        back = self.session.exec(select(BatchLink).where(BatchLink.output_gtin == batch.gtin, BatchLink.output_lot == batch.lot)).all()
        forward = self.session.exec(select(BatchLink).where(BatchLink.input_gtin == batch.gtin, BatchLink.input_lot == batch.lot)).all()
        return ([BatchRef(link.input_gtin, link.input_lot) for link in back],
                [BatchRef(link.output_gtin, link.output_lot) for link in forward])

    def issue_many(self, issuer: IssuerRef, items: list[tuple[BatchRef, str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Sign many events at once (EPCIS capture) with the same chain and log rules as `issue`:
        one key load, one statement that locks and reads every chain head, plain rows written with
        one multi-row statement per table (COPY on PostgreSQL), no ORM objects, and at most one
        checkpoint."""
        if not items:
            return []
        key = self.keys.active_key(issuer)
        private_key = self._private_key(key)
        root = self.keys.alliance_root()
        self.log._lock()  # before signing, as in `issue`
        heads = self._lock_heads([b for b, _k, _e in items])
        protected = _protected_header(key.kid, key.certificate_pem, root.kid, root.certificate_pem)
        sign = private_key.sign
        b64 = crypto.b64url_encode
        issuer_block = {"type": ["CredentialIssuer"], "id": key.kid.split("#")[0], "name": key.owner_name}
        logged_at = datetime.now(timezone.utc)
        now = iso_utc(logged_at)
        batch_uris = {ref: gs1.DigitalLink(gtin=ref[0], lot=ref[1]).uri(self.keys.base_url) for ref in heads}
        ids = _urn_uuids(len(items))
        credentials, log_rows = [], []
        for (batch, kind, event), credential_id in zip(items, ids):
            ref = (batch.gtin, batch.lot)
            seq, previous_sha = heads[ref]
            seq += 1
            payload = {
                "@context": VC_CONTEXT,
                "type": ["DigitalTraceabilityEvent", "VerifiableCredential"],
                "id": credential_id,
                "issuer": issuer_block,
                "validFrom": now,
                "credentialSubject": [event],
                "chain": {"seq": seq, "previous": previous_sha, "batch": batch_uris[ref]},
            }
            signing_input = protected + "." + b64(orjson.dumps(payload))
            token = signing_input + "." + b64(sign(signing_input.encode("ascii")))
            raw = token.encode("ascii")
            sha = hashlib.sha256(raw).hexdigest()
            credentials.append({"gtin": batch.gtin, "lot": batch.lot, "seq": seq, "event_type": kind, "jws": token,
                                "sha256": sha, "prev_sha256": previous_sha, "issuer_kid": key.kid, "created_at": logged_at})
            log_rows.append((sha, merkle.leaf_hash(raw).hex()))
            heads[ref] = (seq, sha)
            if event.get("inputQuantityList") or event.get("outputQuantityList"):
                self._index_transformation(event, sha)
        self._move_heads({ref: head for ref, head in heads.items() if head[1] is not None})
        first = self.log.next_index()
        entries = [{"index": first + i, "sha256": sha, "kind": "event", "leaf_hash": leaf, "created_at": logged_at}
                   for i, (sha, leaf) in enumerate(log_rows)]
        _bulk_insert(self.session, Credential.__table__, credentials)
        _bulk_insert(self.session, LogEntry.__table__, entries)
        self.log.publish_if_due(entries_only=True)
        return credentials

    def _private_key(self, key: SigningKey):
        # Opening a sealed key costs two AES-GCM decryptions; a bulk capture signs with one key.
        cached = self._opened.get(key.kid) if hasattr(self, "_opened") else None
        if cached is None:
            self._opened = getattr(self, "_opened", {})
            cached = self._opened[key.kid] = self.keys.private_key(key)
        return cached

    def _sign(self, payload: dict[str, Any], key: SigningKey, root: SigningKey, private_key) -> str:
        body = orjson.dumps(payload)  # compact, UTF-8 as is: the bytes json.dumps(ensure_ascii=False) gives, faster
        return crypto.jws_sign_encoded(_protected_header(key.kid, key.certificate_pem, root.kid, root.certificate_pem), body, private_key)

    def issue_passport(self, issuer: IssuerRef, batch: BatchRef, product: dict[str, Any], claims: list[dict[str, Any]]) -> Passport:
        """The batch's UNTP Digital Product Passport, linking every event credential so far."""
        key = self.keys.active_key(issuer)
        root = self.keys.alliance_root()
        self.log._lock()  # before signing, as in `issue`
        events = self.credentials(batch)
        latest = self.session.exec(
            select(Passport).where(Passport.gtin == batch.gtin, Passport.lot == batch.lot).order_by(Passport.version.desc())  # type: ignore[union-attr]
        ).first()
        link = gs1.DigitalLink(gtin=batch.gtin, lot=batch.lot).uri(self.keys.base_url)
        now = datetime.now(timezone.utc)
        payload = {
            "@context": ["https://www.w3.org/ns/credentials/v2", "https://test.uncefact.org/vocabulary/untp/dpp/0.6.0/"],
            "type": ["DigitalProductPassport", "VerifiableCredential"],
            "id": f"urn:uuid:{uuid.uuid4()}",
            "issuer": {"type": ["CredentialIssuer"], "id": key.kid.split("#")[0], "name": key.owner_name},
            "validFrom": iso_utc(now),
            "credentialSubject": {
                "type": ["ProductPassport"],
                "id": link,
                "product": dict(product, id=link, batchNumber=batch.lot, idScheme={"type": ["IdentifierScheme"], "id": "https://id.gs1.org/01/", "name": "GTIN"}),
                "granularityLevel": "batch",
                "conformityClaim": claims,
                "traceabilityInformation": [{
                    "type": ["TraceabilityPerformance"],
                    "valueChainProcess": "farm to consumer",
                    "traceabilityEvent": [
                        {"type": ["SecureLink", "Link"], "linkURL": f"{link}?linkType=gs1:traceability#{c.seq}", "linkName": c.event_type,
                         "hashDigest": c.sha256, "hashMethod": "SHA-256", "encryptionMethod": "none"}
                        for c in events
                    ],
                }],
            },
        }
        token = self._sign(payload, key, root, self._private_key(key))
        passport = Passport(gtin=batch.gtin, lot=batch.lot, version=(latest.version + 1) if latest else 1, jws=token,
                            sha256=crypto.sha256_hex(token.encode("ascii")), issuer_kid=key.kid)
        self.session.add(passport)
        self.session.flush()
        self.log.append(token.encode("ascii"), "passport")
        self.log.publish_if_due(entries_only=True)
        return passport

    def latest_passport(self, batch: BatchRef) -> Passport | None:
        return self.session.exec(
            select(Passport).where(Passport.gtin == batch.gtin, Passport.lot == batch.lot).order_by(Passport.version.desc())  # type: ignore[union-attr]
        ).first()


def _urn_uuids(count: int) -> list[str]:
    """Random version-4 UUID URNs, from one read of the system's random source for all of them."""
    pool = os.urandom(16 * count)
    out = []
    for at in range(0, 16 * count, 16):
        h = pool[at:at + 16].hex()
        out.append(f"urn:uuid:{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}")
    return out


def _bulk_insert(session: Session, table, rows: list[dict[str, Any]]) -> None:
    """Many plain rows at once: COPY on PostgreSQL, one executemany elsewhere."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        columns = list(rows[0])
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor:
            with cursor.copy(f'COPY "{table.name}" ({", ".join(chr(34) + c + chr(34) for c in columns)}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row([row[c] for c in columns])
        return
    session.execute(insert(table), rows)


@lru_cache(maxsize=64)
def _protected_header(kid: str, certificate_pem: str, root_kid: str, root_pem: str) -> str:
    """vc+jwt header with the key id and its certificate chain (x5c), encoded once per key."""
    chain = [_der_b64(certificate_pem)] + ([] if kid == root_kid else [_der_b64(root_pem)])
    return crypto.encode_protected_header({"typ": "vc+jwt", "cty": "vc", "kid": kid, "x5c": chain})


def _der_b64(pem: str) -> str:
    return _pem_to_der_b64(pem)


@lru_cache(maxsize=256)
def _pem_to_der_b64(pem: str) -> str:
    return x509ca.cert_to_der_b64(x509ca.cert_from_pem(pem))


class VerificationService:
    """Gathers a batch's evidence from the database and runs the one verification on it.

    Every read is of the batch's own rows or O(log n) of the log: its records (one index range),
    their keys, the root, the latest checkpoint (`LIMIT 1`), their log positions, and the few stored
    tree hashes their proofs need. `verify_batch` also keeps a verified-through mark per batch
    (`VerifiedMark`): records whose exact bytes were found signed and logged before skip their
    signature check and stand on one consistency proof instead of one inclusion proof each."""

    def __init__(self, session: Session, keys: KeyService, *, mark_secret: bytes | None = None) -> None:
        self.session = session
        self.keys = keys
        self.log = transparency_log(session, keys)
        self.mark_secret = mark_secret if mark_secret is not None else _configured_mark_secret()

    def _records(self, batch: BatchRef):
        # Plain rows, not ORM objects: this runs on every scan of a QR code.
        return self.session.exec(
            select(Credential.jws, Credential.sha256, Credential.issuer_kid)
            .where(Credential.gtin == batch.gtin, Credential.lot == batch.lot)
            .order_by(Credential.seq)
        ).all()

    def _evidence(self, batch: BatchRef, credentials, *, skip: int = 0):
        root = self.session.exec(
            select(SigningKey.certificate_pem, SigningKey.public_key).where(SigningKey.owner_kind == KeyOwnerKind.ALLIANCE)
            .order_by(SigningKey.id).limit(1)  # type: ignore[arg-type]
        ).first()
        kids = {c.issuer_kid for c in credentials}
        keys = {
            k.kid: KeyState(k.kid, k.public_key, k.revoked_at, k.revocation_reason, k.owner_kind)
            for k in self.session.exec(select(SigningKey.kid, SigningKey.public_key, SigningKey.revoked_at,
                                              SigningKey.revocation_reason, SigningKey.owner_kind)
                                       .where(SigningKey.kid.in_(kids)))  # type: ignore[attr-defined]
        } if kids else {}
        checkpoint = self.log.latest_checkpoint()
        # Records the trusted prefix covers need no position and no proof.
        later = [c.sha256 for c in credentials[skip:]]
        positions = self.log.positions(later) if checkpoint is not None and later else {}
        size = checkpoint.tree_size if checkpoint else 0
        proofs: dict[str, dict[str, Any]] = {
            sha: {"index": proof.index, "tree_size": proof.tree_size, "proof": proof.proof}
            for sha, proof in self.log.proofs_for_positions(positions, size).items()
        }
        for sha, index in positions.items():
            if index >= size:
                proofs[sha] = {"index": index, "tree_size": size, "pending": True}
        revoked = {kid for kid, state in keys.items() if state.revoked_at is not None}
        for credential in credentials:
            if credential.issuer_kid in revoked:
                dated = self.log.dated_proof(credential.sha256)
                if dated is not None:
                    proofs.setdefault(credential.sha256, {"index": dated[1].index, "tree_size": size, "pending": True})
                    proofs[credential.sha256]["dated"] = dict(dated[1].as_dict(), checkpoint=dated[0].note)
        evidence = Evidence(
            gtin=batch.gtin,
            lot=batch.lot,
            credentials=[c.jws for c in credentials],
            root_certificate_pem=root.certificate_pem if root else "",
            keys=keys,
            log_origin=self.log.origin,
            log_public_key=root.public_key if root else None,
            checkpoint=checkpoint.note if checkpoint else None,
            proofs=proofs,
        )
        return evidence, checkpoint

    def gather(self, batch: BatchRef) -> Evidence:
        """Everything an outside verifier needs (the proof file): a proof per record."""
        return self._evidence(batch, self._records(batch))[0]

    def verify_batch(self, batch: BatchRef) -> BatchVerification:
        credentials = self._records(batch)
        mark = self._mark(batch, credentials)
        evidence, checkpoint = self._evidence(batch, credentials, skip=mark.count if mark else 0)
        if not evidence.root_certificate_pem:
            return BatchVerification(gtin=batch.gtin, lot=batch.lot, ok=False, problems=[Check("records", False, "no_credentials")])
        if mark is not None and checkpoint is not None and mark.tree_size <= checkpoint.tree_size:
            try:
                mark = TrustedPrefix(mark.count, mark.tree_size, mark.root, self.log.consistency(mark.tree_size, checkpoint.tree_size))
            except ValueError:
                mark = None
        else:
            mark = None
        result = verify_evidence(evidence, trusted=mark)
        self._remember(batch, credentials, result, checkpoint, mark)
        return result

    # -- the verified-through mark ------------------------------------------------------------------
    def _mac(self, batch: BatchRef, shas: list[str], tree_size: int, root_hex: str) -> str:
        message = "\n".join(["nongsan/verified/v1", batch.gtin, batch.lot, str(len(shas)), str(tree_size), root_hex, *shas])
        return hmac.new(self.mark_secret, message.encode("ascii"), hashlib.sha256).hexdigest()  # type: ignore[arg-type]

    def _mark(self, batch: BatchRef, credentials) -> TrustedPrefix | None:
        if not self.mark_secret or not credentials:
            return None
        row = self.session.exec(
            select(VerifiedMark.through_seq, VerifiedMark.tree_size, VerifiedMark.root_hash, VerifiedMark.mac)
            .where(VerifiedMark.gtin == batch.gtin, VerifiedMark.lot == batch.lot)
        ).first()
        if row is None or not 0 < row.through_seq <= len(credentials):
            return None
        shas = [c.sha256 for c in credentials[: row.through_seq]]
        # The stored sha256 column is only an index: the mark is checked against the bytes themselves.
        if any(hashlib.sha256(c.jws.encode("ascii", "replace")).hexdigest() != c.sha256 for c in credentials[: row.through_seq]):
            return None
        if not hmac.compare_digest(self._mac(batch, shas, row.tree_size, row.root_hash), row.mac):
            return None
        return TrustedPrefix(row.through_seq, row.tree_size, bytes.fromhex(row.root_hash), [])

    def _remember(self, batch: BatchRef, credentials, result: BatchVerification, checkpoint, trusted) -> None:
        """Move the mark forward over the records now found signed and included in `checkpoint`."""
        if not self.mark_secret or checkpoint is None or any(p.name == "checkpoint" for p in result.problems):
            return
        through = 0
        for outcome in result.credentials:
            signed = any(c.name == "signature" and c.ok for c in outcome.checks)
            logged = any(c.name == "log_inclusion" and c.ok for c in outcome.checks) and not outcome.pending
            if not (signed and logged):
                break
            through += 1
        if through == 0 or (trusted is not None and through <= trusted.count):
            return
        shas = [c.sha256 for c in credentials[:through]]
        values = {"gtin": batch.gtin, "lot": batch.lot, "through_seq": through, "tree_size": checkpoint.tree_size,
                  "root_hash": checkpoint.root_hash, "mac": self._mac(batch, shas, checkpoint.tree_size, checkpoint.root_hash),
                  "updated_at": datetime.now(timezone.utc)}
        if self.session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        statement = upsert(VerifiedMark.__table__).values(**values)
        self.session.execute(statement.on_conflict_do_update(
            index_elements=["gtin", "lot"], set_={k: statement.excluded[k] for k in values if k not in ("gtin", "lot")}))


def _configured_mark_secret() -> bytes | None:
    """The key of the verified-through marks, derived from SECRET_KEY (none outside the app)."""
    from flask import current_app, has_app_context

    if not has_app_context() or not current_app.config.get("SECRET_KEY"):
        return None
    return hashlib.sha256(b"nongsan/verified-mark/v1:" + str(current_app.config["SECRET_KEY"]).encode()).digest()


class RecallService:
    def __init__(self, session: Session, credentials: CredentialService) -> None:
        self.session = session
        self.credentials = credentials

    def recall_of(self, batch: BatchRef) -> Recall | None:
        return self.session.exec(select(Recall).where(Recall.gtin == batch.gtin, Recall.lot == batch.lot)).first()

    def recall(self, issuer: IssuerRef, batch: BatchRef, reason: str, actor: str, location: dict[str, Any]) -> Recall:
        """Withdraw a batch: a signed recall event in its chain, and the resolver answers 410."""
        reason = (reason or "").strip()
        if len(reason) < 5:
            raise TraceabilityError("Give the reason for the recall (at least 5 characters).", field="reason")
        existing = self.recall_of(batch)
        if existing is not None:
            return existing
        if not self.credentials.credentials(batch):
            raise TraceabilityError("Unknown batch.", field="lot", status=404)
        link = gs1.DigitalLink(gtin=batch.gtin, lot=batch.lot).uri(self.credentials.keys.base_url)
        event = events_module.build_event(
            events_module.EventKind.RECALL,
            event_time=datetime.now(events_module.LOCAL_TZ),
            location=location,
            quantities=[events_module.quantity(link, batch.lot, 0)],
            details={"reason": reason[:500]},
        )
        self.credentials.issue(issuer, batch, events_module.EventKind.RECALL, event)
        recall = Recall(gtin=batch.gtin, lot=batch.lot, reason=reason[:500], recalled_by=actor)
        self.session.add(recall)
        self.session.flush()
        from flask import current_app, has_app_context

        if has_app_context():  # this process shows the recall at once; others within the page cache time
            current_app.extensions.get("nongsan.trace_pages", {}).clear()
            current_app.extensions.get("nongsan.trace_fast", {}).clear()
        return recall


def transparency_log(session: Session, keys: KeyService) -> TransparencyLog:
    root = keys.session.exec(
        select(SigningKey.public_key).where(SigningKey.owner_kind == KeyOwnerKind.ALLIANCE).order_by(SigningKey.id).limit(1)  # type: ignore[arg-type]
    ).first()
    return TransparencyLog(
        session,
        origin=log_origin(keys.base_url),
        signing_key=_LazyRootKey(keys),
        public_key_raw=crypto.b64url_decode(root) if root else None,
        cadence=checkpoint_cadence(),
    )


def checkpoint_cadence() -> Cadence:
    """CHECKPOINT_ENTRIES / CHECKPOINT_SECONDS from the app config (defaults outside an app)."""
    from flask import current_app, has_app_context

    if not has_app_context():
        return Cadence()
    config = current_app.config
    return Cadence(entries=max(1, int(config.get("CHECKPOINT_ENTRIES") or 1000)),
                   seconds=max(1.0, float(config.get("CHECKPOINT_SECONDS") or 60)))


class _LazyRootKey:
    """Opens the alliance key only when a checkpoint is actually signed."""

    def __init__(self, keys: KeyService) -> None:
        self.keys = keys
        self._key = None

    def sign(self, data: bytes) -> bytes:
        if self._key is None:
            self._key = self.keys.private_key(self.keys.alliance_root())
        return self._key.sign(data)

    def public_key(self):
        if self._key is None:
            self._key = self.keys.private_key(self.keys.alliance_root())
        return self._key.public_key()


def key_service(session: Session) -> KeyService:
    """The key store as configured: KEK, public base URL and alliance name from the app config."""
    from flask import current_app

    config = current_app.config
    encryptor = crypto.KeyEncryptor(crypto.parse_kek(config["KEY_ENCRYPTION_KEY"]), kek_id=config.get("KEK_ID", "k1"))
    return KeyService(session, encryptor, base_url=config["PUBLIC_BASE_URL"], alliance_name=config["ALLIANCE_NAME"],
                      may_sign=current_app.extensions.get("nongsan.may_sign"))


def scan_counter(session: Session):
    """Where batch scan counts go (SCAN_COUNTER): "redis" (one INCR per scan, moved into the
    database by beat), "buffer" (kept in the process, written every SCAN_BUFFER_SECONDS) or
    "database" (written with every scan). "auto": Redis when configured, else the buffer."""
    from flask import current_app

    from traceability.scans import BufferedCounter, DatabaseCounter, RedisCounter

    mode = current_app.config.get("SCAN_COUNTER", "auto")
    url = current_app.config.get("REDIS_URL")
    if mode == "auto":
        mode = "redis" if url else "buffer"
    if mode == "database" or (mode == "redis" and not url):
        return DatabaseCounter(session)
    if mode == "buffer":
        counter = current_app.extensions.get("nongsan.scan_buffer")
        if counter is None:
            counter = current_app.extensions["nongsan.scan_buffer"] = BufferedCounter(float(current_app.config.get("SCAN_BUFFER_SECONDS", 10)))
        if counter.due():
            counter.flush_to(session)
        return counter
    counter = current_app.extensions.get("nongsan.scan_redis_counter")
    if counter is None:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=2)
        counter = current_app.extensions["nongsan.scan_redis_counter"] = RedisCounter(client)
    return counter


def scan_service(session: Session):
    from flask import current_app

    from traceability.scans import ScanService

    secret = hashlib.sha256(("scan-places:" + current_app.config["SECRET_KEY"]).encode()).digest()
    return ScanService(session, secret, scan_counter(session))
