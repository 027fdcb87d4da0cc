"""Certificate-authority helpers for the producer alliance.

The alliance runs a single self-signed Ed25519 root that directly issues
end-entity certificates to member producers (path length 0, no
intermediates).  Producers sign traceability records with the matching
private key and ship the certificate in the JWS ``x5c`` header.

``cryptography``'s ``PolicyBuilder`` verifier does not accept Ed25519
chains, so :func:`verify_chain` performs the (short) RFC 5280-style checks by
hand and reports *all* problems it finds as stable reason codes, which the
API layer can surface to clients and audit logs.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.x509.oid import NameOID

from .crypto import b64url_encode, generate_ed25519, public_key_raw

__all__ = [
    "CHAIN_REASONS",
    "create_root",
    "issue_certificate",
    "verify_chain",
    "cert_to_der_b64",
    "cert_from_der_b64",
    "cert_to_pem",
    "cert_from_pem",
    "cert_sha256_thumbprint",
]

CHAIN_REASONS = frozenset(
    {
        "issuer_mismatch",
        "bad_issuer_signature",
        "not_yet_valid",
        "expired",
        "root_not_ca",
        "root_not_self_signed",
        "leaf_is_ca",
        "leaf_key_usage",
        "aki_mismatch",
    }
)

# Backdating absorbs modest clock skew between the CA host and verifiers,
# otherwise a freshly issued certificate can look "not yet valid".
_BACKDATE = dt.timedelta(minutes=5)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _require_aware(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(dt.timezone.utc)


def _name(common_name: str, organization: str, serial_hint: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    if serial_hint:
        # The subject serialNumber attribute identifies the *entity*
        # (e.g. producer registration id); the certificate serial stays random.
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_hint))
    return x509.Name(attrs)


def _extension(cert: x509.Certificate, ext_type: type) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(ext_type).value
    except x509.ExtensionNotFound:
        return None


def create_root(
    common_name: str,
    organization: str,
    valid_days: int = 3650,
    private_key: Ed25519PrivateKey | None = None,
) -> tuple[Ed25519PrivateKey, x509.Certificate]:
    """Create the alliance root: a self-signed Ed25519 CA certificate.

    ``path_length=0`` because the root only ever signs end-entity
    certificates; any intermediate would be a policy violation.
    """
    if valid_days <= 0:
        raise ValueError("valid_days must be positive")
    key = private_key if private_key is not None else generate_ed25519()
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError("root key must be Ed25519")
    subject = _name(common_name, organization)
    not_before = _utcnow() - _BACKDATE
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, algorithm=None)  # Ed25519 has a built-in hash
    )
    return key, cert


def issue_certificate(
    root_key: Ed25519PrivateKey,
    root_cert: x509.Certificate,
    subject_public_key: Ed25519PublicKey,
    common_name: str,
    organization: str,
    serial_hint: str | None = None,
    valid_days: int = 730,
    not_before: dt.datetime | None = None,
) -> x509.Certificate:
    """Issue an end-entity signing certificate under the alliance root.

    ``serial_hint`` (optional) is placed in the subject's serialNumber
    attribute.  The validity end is clamped to the root's expiry, since a
    leaf outliving its issuer could never verify anyway.
    """
    if not isinstance(root_key, Ed25519PrivateKey):
        raise TypeError("root key must be Ed25519")
    if not isinstance(subject_public_key, Ed25519PublicKey):
        raise TypeError("subject key must be an Ed25519 public key")
    if valid_days <= 0:
        raise ValueError("valid_days must be positive")
    # Signing with a key that does not belong to root_cert would yield
    # certificates that never verify; fail at issuance instead.
    if public_key_raw(root_key) != public_key_raw(_ed25519_public(root_cert)):
        raise ValueError("root_key does not match root_cert")

    start = (
        _require_aware(not_before, "not_before")
        if not_before is not None
        else _utcnow() - _BACKDATE
    )
    end = min(start + dt.timedelta(days=valid_days), root_cert.not_valid_after_utc)
    if end <= start:
        raise ValueError("requested validity lies outside the root's lifetime")

    root_ski = _extension(root_cert, x509.SubjectKeyIdentifier)
    aki = (
        x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski)
        if isinstance(root_ski, x509.SubjectKeyIdentifier)
        else x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key())
    )
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization, serial_hint))
        .issuer_name(root_cert.subject)
        .public_key(subject_public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(subject_public_key), critical=False
        )
        .add_extension(aki, critical=False)
        .sign(root_key, algorithm=None)
    )


def _ed25519_public(cert: x509.Certificate) -> Ed25519PublicKey:
    key = cert.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise TypeError("certificate key is not Ed25519")
    return key


def _validity_reasons(cert: x509.Certificate, at: dt.datetime) -> list[str]:
    if at < cert.not_valid_before_utc:
        return ["not_yet_valid"]
    if at > cert.not_valid_after_utc:
        return ["expired"]
    return []


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def verify_chain(
    leaf: x509.Certificate, root: x509.Certificate, at: dt.datetime
) -> list[str]:
    """Check that ``leaf`` was validly issued by ``root`` at time ``at``.

    Returns reason codes from :data:`CHAIN_REASONS` (empty list: valid).
    All checks run, so callers see every problem at once instead of fixing
    them one round-trip at a time.  ``root`` must be the *trusted* root the
    caller already holds; this function does not decide trust itself.
    """
    at = _require_aware(at, "at")
    reasons: list[str] = []

    def add(code: str) -> None:
        if code not in reasons:
            reasons.append(code)

    # --- root sanity -------------------------------------------------------
    if not _is_self_signed(root):
        add("root_not_self_signed")
    root_bc = _extension(root, x509.BasicConstraints)
    root_ku = _extension(root, x509.KeyUsage)
    # A root that may not sign certificates is not usable as a CA, whether
    # the missing bit is in BasicConstraints or KeyUsage.
    if (
        not isinstance(root_bc, x509.BasicConstraints)
        or not root_bc.ca
        or (isinstance(root_ku, x509.KeyUsage) and not root_ku.key_cert_sign)
    ):
        add("root_not_ca")

    # --- issuance link -----------------------------------------------------
    if leaf.issuer != root.subject:
        add("issuer_mismatch")
    else:
        try:
            leaf.verify_directly_issued_by(root)
        except (InvalidSignature, ValueError, TypeError):
            add("bad_issuer_signature")

    root_ski = _extension(root, x509.SubjectKeyIdentifier)
    leaf_aki = _extension(leaf, x509.AuthorityKeyIdentifier)
    # Our issuer always writes AKI from the root SKI; absence on either side
    # means the pair was not produced by this CA's tooling.
    if (
        not isinstance(root_ski, x509.SubjectKeyIdentifier)
        or not isinstance(leaf_aki, x509.AuthorityKeyIdentifier)
        or leaf_aki.key_identifier != root_ski.digest
    ):
        add("aki_mismatch")

    # --- validity windows (either certificate) -----------------------------
    for code in _validity_reasons(root, at) + _validity_reasons(leaf, at):
        add(code)

    # --- leaf profile ------------------------------------------------------
    leaf_bc = _extension(leaf, x509.BasicConstraints)
    leaf_ku = _extension(leaf, x509.KeyUsage)
    if isinstance(leaf_bc, x509.BasicConstraints) and leaf_bc.ca:
        add("leaf_is_ca")
    if isinstance(leaf_ku, x509.KeyUsage) and leaf_ku.key_cert_sign:
        # Able to sign certificates == a CA in practice, whatever BC says.
        add("leaf_is_ca")
    if not isinstance(leaf_ku, x509.KeyUsage) or not leaf_ku.digital_signature:
        add("leaf_key_usage")

    return reasons


# ---------------------------------------------------------------------------
# Serialisation helpers
# ---------------------------------------------------------------------------


def cert_to_der_b64(cert: x509.Certificate) -> str:
    """Standard (padded) base64 of the DER encoding, as JWS ``x5c`` wants."""
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


def cert_from_der_b64(value: str) -> x509.Certificate:
    """Parse an ``x5c`` entry; strict base64 so junk is not silently skipped."""
    try:
        der = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError("certificate is not valid base64") from exc
    return x509.load_der_x509_certificate(der)


def cert_to_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def cert_from_pem(value: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(value.encode("ascii"))


def cert_sha256_thumbprint(cert: x509.Certificate) -> str:
    """base64url SHA-256 over DER, i.e. the JWS ``x5t#S256`` value."""
    return b64url_encode(hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest())
