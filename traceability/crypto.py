"""Cryptographic building blocks for the traceability service.

Everything here is deliberately framework-free (no Flask, no database) so it
can be unit-tested in isolation and reused by workers and CLI tools.

Contents:

* strict base64url helpers (JOSE style, no padding);
* Ed25519 key helpers and OKP JSON Web Keys (RFC 8037);
* envelope encryption of private signing keys at rest (``KeyEncryptor``);
* compact JWS signing/verification restricted to ``EdDSA``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import struct
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "b64url_encode",
    "b64url_decode",
    "sha256_hex",
    "generate_ed25519",
    "private_key_from_seed",
    "private_key_raw",
    "public_key_raw",
    "public_key_from_raw",
    "public_jwk",
    "public_key_from_jwk",
    "KeyDecryptionError",
    "KEKFormatError",
    "KeyEncryptor",
    "parse_kek",
    "JWSError",
    "JWS_REASONS",
    "jws_sign",
    "jws_verify",
    "jws_parse_unverified",
]

ED25519_KEY_LEN = 32
ED25519_SIG_LEN = 64


# ---------------------------------------------------------------------------
# Encoding helpers
# ---------------------------------------------------------------------------

# Only the URL-safe alphabet; padding is not allowed in JOSE serialisations.
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """Encode bytes as unpadded base64url text (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode("ascii")


_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Last characters that leave no stray bits: with 2 (or 3) characters in the last group, only
# every 16th (4th) letter of the alphabet encodes the byte(s) exactly.
_CLEAN_LAST = {2: frozenset(_ALPHABET[::16]), 3: frozenset(_ALPHABET[::4])}


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url text, rejecting anything non-canonical.

    Python's stock decoder silently skips foreign characters and tolerates
    stray trailing bits; for signed tokens that would let many distinct
    strings map to the same bytes, so we insist on exactly one accepted
    spelling per byte string: the URL-safe alphabet only, no padding, no
    impossible length, no stray bits in the last character.
    """
    if not isinstance(text, str):
        raise ValueError("base64url input must be str")
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise ValueError("invalid base64url character") from exc
    if b"+" in data or b"/" in data or b"=" in data:
        raise ValueError("invalid base64url character (padding is not allowed)")
    rest = len(data) % 4
    if rest == 1:
        raise ValueError("invalid base64url length")
    if rest and text[-1] not in _CLEAN_LAST[rest]:
        raise ValueError("non-canonical base64url encoding")
    try:
        return binascii.a2b_base64(data.translate(_TO_STANDARD) + b"=" * (-rest % 4), strict_mode=True)
    except binascii.Error as exc:
        raise ValueError("invalid base64url character") from exc


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 digest, used for content fingerprints."""
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------
# Ed25519 keys and JWKs
# ---------------------------------------------------------------------------


def generate_ed25519() -> Ed25519PrivateKey:
    """Create a fresh Ed25519 signing key from the OS CSPRNG."""
    return Ed25519PrivateKey.generate()


def private_key_from_seed(seed: bytes) -> Ed25519PrivateKey:
    """Load an Ed25519 private key from its 32-byte RFC 8032 seed."""
    if len(seed) != ED25519_KEY_LEN:
        raise ValueError("Ed25519 seed must be exactly 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(seed)


def private_key_raw(private_key: Ed25519PrivateKey) -> bytes:
    """Return the 32-byte seed of a private key (handle with care)."""
    return private_key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


def public_key_raw(public_key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    """Return the 32-byte encoded public point.

    A private key is accepted too, because callers frequently hold only the
    private half and deriving the public one here avoids boilerplate.
    """
    if isinstance(public_key, Ed25519PrivateKey):
        public_key = public_key.public_key()
    if not isinstance(public_key, Ed25519PublicKey):
        raise TypeError("expected an Ed25519 key")
    return public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    """Load a public key from its 32-byte encoding."""
    if len(raw) != ED25519_KEY_LEN:
        raise ValueError("Ed25519 public key must be exactly 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_jwk(
    public_key: Ed25519PublicKey | Ed25519PrivateKey, kid: str | None = None
) -> dict[str, str]:
    """Build an OKP/Ed25519 public JWK (RFC 8037 section 2).

    Only the required members (plus ``kid`` when given) are emitted so the
    result is also a valid input for RFC 7638 thumbprints.
    """
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(public_key_raw(public_key))}
    if kid is not None:
        jwk["kid"] = kid
    return jwk


def public_key_from_jwk(jwk: dict[str, Any]) -> Ed25519PublicKey:
    """Parse an OKP/Ed25519 public JWK, rejecting anything else.

    A JWK carrying the private member ``d`` is refused: a public-key slot
    receiving private material indicates a leak upstream that should be loud.
    """
    if not isinstance(jwk, dict):
        raise ValueError("JWK must be a JSON object")
    if jwk.get("kty") != "OKP":
        raise ValueError("JWK kty must be 'OKP'")
    if jwk.get("crv") != "Ed25519":
        raise ValueError("JWK crv must be 'Ed25519'")
    if "d" in jwk:
        raise ValueError("refusing a JWK that contains private key material")
    x = jwk.get("x")
    if not isinstance(x, str):
        raise ValueError("JWK is missing the 'x' member")
    raw = b64url_decode(x)
    return public_key_from_raw(raw)


# ---------------------------------------------------------------------------
# Envelope encryption of private keys at rest
# ---------------------------------------------------------------------------


class KeyDecryptionError(Exception):
    """A sealed private key could not be opened.

    The message is intentionally generic for authentication failures: telling
    apart "wrong KEK" from "tampered blob" would only help an attacker.
    """


class KEKFormatError(ValueError):
    """The configured key-encryption key is not 32 bytes of base64/base64url."""


_KEK_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SEAL_VERSION = "nsk1"
_AES_KEY_LEN = 32
_GCM_NONCE_LEN = 12


def _length_prefixed(*parts: bytes) -> bytes:
    """Join byte strings unambiguously so associated data cannot be re-split."""
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)


def parse_kek(value: str) -> bytes:
    """Decode a KEK from configuration text (base64url or standard base64).

    Padding is optional and surrounding whitespace is ignored, since values
    often come from environment variables or secret files with newlines.
    """
    if not isinstance(value, str):
        raise KEKFormatError("KEK must be given as base64 or base64url text")
    text = value.strip().rstrip("=")
    if not text:
        raise KEKFormatError("KEK is empty")
    if re.fullmatch(r"[A-Za-z0-9_-]+", text):
        alphabet = b"-_"
    elif re.fullmatch(r"[A-Za-z0-9+/]+", text):
        alphabet = b"+/"
    else:
        raise KEKFormatError("KEK contains characters outside base64/base64url")
    try:
        raw = base64.b64decode(
            text + "=" * (-len(text) % 4), altchars=alphabet, validate=True
        )
    except (binascii.Error, ValueError) as exc:
        raise KEKFormatError("KEK is not valid base64/base64url") from exc
    if len(raw) != _AES_KEY_LEN:
        raise KEKFormatError(
            f"KEK must decode to exactly {_AES_KEY_LEN} bytes, got {len(raw)}"
        )
    return raw


class KeyEncryptor:
    """Seal/open Ed25519 private keys with a two-level (envelope) scheme.

    Each key gets its own random data-encryption key (DEK); only the DEK is
    encrypted under the long-lived KEK.  This keeps the KEK's usage count low
    (AES-GCM random nonces have a birthday bound) and makes KEK rotation a
    matter of re-wrapping small DEKs.

    Token layout (dot separated, each binary field unpadded base64url)::

        nsk1.<kek_id>.<wrap_nonce>.<wrapped_dek>.<data_nonce>.<ciphertext>

    Associated data binds the version and ``kek_id`` into both layers, and the
    caller's ``context`` (e.g. the key row id) into the inner layer so a sealed
    blob copied onto another row fails to open.
    """

    def __init__(self, kek: bytes, kek_id: str = "k1") -> None:
        if not isinstance(kek, (bytes, bytearray)) or len(kek) != _AES_KEY_LEN:
            raise KEKFormatError(f"KEK must be exactly {_AES_KEY_LEN} raw bytes")
        if not isinstance(kek_id, str) or not _KEK_ID_RE.fullmatch(kek_id):
            # Restricted so it can live inside the dotted token unescaped.
            raise ValueError("kek_id must be 1-64 characters of [A-Za-z0-9_-]")
        self._kek = AESGCM(bytes(kek))
        self.kek_id = kek_id

    def __repr__(self) -> str:  # never show key material in logs
        return f"KeyEncryptor(kek_id={self.kek_id!r})"

    def _wrap_aad(self) -> bytes:
        return _length_prefixed(b"nongsan/dek-wrap", _SEAL_VERSION.encode(), self.kek_id.encode())

    def _data_aad(self, context: str) -> bytes:
        return _length_prefixed(
            b"nongsan/ed25519-key",
            _SEAL_VERSION.encode(),
            self.kek_id.encode(),
            context.encode("utf-8"),
        )

    def seal(self, private_key: Ed25519PrivateKey, context: str) -> str:
        """Encrypt a private key for storage; ``context`` must match on open.

        ``context`` has no default on purpose: forgetting it would silently
        drop the binding between the blob and its database row.
        """
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError("only Ed25519 private keys can be sealed")
        if not isinstance(context, str):
            raise TypeError("context must be str")
        dek = AESGCM.generate_key(bit_length=256)
        wrap_nonce = os.urandom(_GCM_NONCE_LEN)
        wrapped_dek = self._kek.encrypt(wrap_nonce, dek, self._wrap_aad())
        data_nonce = os.urandom(_GCM_NONCE_LEN)
        ciphertext = AESGCM(dek).encrypt(
            data_nonce, private_key_raw(private_key), self._data_aad(context)
        )
        return ".".join(
            [
                _SEAL_VERSION,
                self.kek_id,
                b64url_encode(wrap_nonce),
                b64url_encode(wrapped_dek),
                b64url_encode(data_nonce),
                b64url_encode(ciphertext),
            ]
        )

    @staticmethod
    def token_kek_id(token: str) -> str:
        """Return the kek_id a token was sealed under (for rotation tooling)."""
        parts = token.split(".") if isinstance(token, str) else []
        if len(parts) != 6 or parts[0] != _SEAL_VERSION:
            raise KeyDecryptionError("unrecognised sealed key format")
        return parts[1]

    def open(self, token: str, context: str) -> Ed25519PrivateKey:
        """Decrypt a token produced by :meth:`seal` under the same context."""
        if not isinstance(context, str):
            raise TypeError("context must be str")
        kek_id = self.token_kek_id(token)
        if kek_id != self.kek_id:
            raise KeyDecryptionError(
                f"sealed key uses kek_id {kek_id!r}, this encryptor holds {self.kek_id!r}"
            )
        _, _, wrap_nonce_s, wrapped_s, data_nonce_s, ct_s = token.split(".")
        try:
            wrap_nonce = b64url_decode(wrap_nonce_s)
            wrapped_dek = b64url_decode(wrapped_s)
            data_nonce = b64url_decode(data_nonce_s)
            ciphertext = b64url_decode(ct_s)
        except ValueError as exc:
            raise KeyDecryptionError("sealed key is corrupted") from exc
        if len(wrap_nonce) != _GCM_NONCE_LEN or len(data_nonce) != _GCM_NONCE_LEN:
            raise KeyDecryptionError("sealed key is corrupted")
        try:
            dek = self._kek.decrypt(wrap_nonce, wrapped_dek, self._wrap_aad())
            if len(dek) != _AES_KEY_LEN:
                raise KeyDecryptionError("sealed key is corrupted")
            seed = AESGCM(dek).decrypt(data_nonce, ciphertext, self._data_aad(context))
        except InvalidTag as exc:
            # Same message for wrong KEK, wrong context and tampering.
            raise KeyDecryptionError("sealed key failed authentication") from exc
        if len(seed) != ED25519_KEY_LEN:
            raise KeyDecryptionError("sealed key has unexpected length")
        return Ed25519PrivateKey.from_private_bytes(seed)


# ---------------------------------------------------------------------------
# Compact JWS (EdDSA only)
# ---------------------------------------------------------------------------

JWS_REASONS = frozenset({"malformed", "bad_header", "unsupported_alg", "bad_signature"})

# Header parameters we understand well enough to honour in "crit".
_SUPPORTED_CRIT: frozenset[str] = frozenset()


class JWSError(Exception):
    """JWS parsing or verification failure with a machine-readable reason."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        if reason not in JWS_REASONS:
            raise ValueError(f"unknown JWS error reason {reason!r}")
        self.reason = reason
        super().__init__(message or reason)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Duplicate header names are a classic parser-differential trick.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate JSON member {key!r}")
        out[key] = value
    return out


def _encode_header(header: dict[str, Any]) -> bytes:
    return json.dumps(
        header, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def encode_protected_header(header: dict[str, Any] | None = None) -> str:
    """The base64url protected header, computed once when many payloads share it."""
    protected = dict(header or {})
    if protected.get("alg", "EdDSA") != "EdDSA":
        raise ValueError("only alg=EdDSA is supported")
    protected["alg"] = "EdDSA"
    return b64url_encode(_encode_header(protected))


def jws_sign_encoded(protected_b64: str, payload: bytes, private_key: Ed25519PrivateKey) -> str:
    """Compact JWS with an already encoded protected header (see `encode_protected_header`)."""
    signing_input = (protected_b64 + "." + b64url_encode(bytes(payload))).encode("ascii")
    return signing_input.decode("ascii") + "." + b64url_encode(private_key.sign(signing_input))


def jws_sign(payload: bytes, private_key: Ed25519PrivateKey, header: dict[str, Any] | None = None) -> str:
    """Produce a compact JWS over ``payload`` signed with EdDSA/Ed25519."""
    if not isinstance(private_key, Ed25519PrivateKey):
        raise TypeError("jws_sign requires an Ed25519 private key")
    if not isinstance(payload, (bytes, bytearray)):
        raise TypeError("payload must be bytes")
    protected = dict(header or {})
    if protected.get("alg", "EdDSA") != "EdDSA":
        # Silently overriding would hide a caller bug.
        raise ValueError("only alg=EdDSA is supported")
    protected["alg"] = "EdDSA"
    signing_input = (
        b64url_encode(_encode_header(protected)) + "." + b64url_encode(bytes(payload))
    ).encode("ascii")
    signature = private_key.sign(signing_input)
    return signing_input.decode("ascii") + "." + b64url_encode(signature)


def parse_protected_header(header_s: str) -> dict[str, Any]:
    """Decode and check a JWS protected header segment (as `jws_parse_unverified` does)."""
    if not header_s:
        raise JWSError("malformed", "empty header segment")
    try:
        header_bytes = b64url_decode(header_s)
    except ValueError as exc:
        raise JWSError("malformed", f"bad base64url segment: {exc}") from exc
    try:
        header = json.loads(header_bytes.decode("utf-8"), object_pairs_hook=_reject_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise JWSError("bad_header", f"header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise JWSError("bad_header", "header must be a JSON object")
    if not isinstance(header.get("alg"), str):
        raise JWSError("bad_header", "header lacks a string 'alg'")
    if "crit" in header:
        crit = header["crit"]
        if not isinstance(crit, list) or not crit or not all(isinstance(c, str) and c in header for c in crit):
            raise JWSError("bad_header", "malformed 'crit' header")
        unknown = [c for c in crit if c not in _SUPPORTED_CRIT]
        if unknown:
            # RFC 7515 section 4.1.11: must reject unknown critical extensions.
            raise JWSError("bad_header", f"unsupported critical header(s): {unknown}")
    return header


def jws_parse_unverified(token: str) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """Split a compact JWS without checking its signature.

    Returns ``(header, payload, signing_input, signature)``.  Useful for
    picking the verification key (``kid``/``x5c``) before verifying; the
    values must not be trusted until :func:`jws_verify` succeeds.
    """
    if not isinstance(token, str):
        raise JWSError("malformed", "token must be str")
    parts = token.split(".")
    if len(parts) != 3:
        raise JWSError("malformed", "compact JWS must have exactly three parts")
    header_s, payload_s, sig_s = parts
    # An empty signature segment is syntactically legal (unsecured JWS,
    # alg "none"); it is rejected later with the more precise reason.
    if not header_s:
        raise JWSError("malformed", "empty header segment")
    try:
        header_bytes = b64url_decode(header_s)
        payload = b64url_decode(payload_s)
        signature = b64url_decode(sig_s)
    except ValueError as exc:
        raise JWSError("malformed", f"bad base64url segment: {exc}") from exc
    try:
        header = json.loads(
            header_bytes.decode("utf-8"), object_pairs_hook=_reject_duplicate_keys
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise JWSError("bad_header", f"header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise JWSError("bad_header", "header must be a JSON object")
    if not isinstance(header.get("alg"), str):
        raise JWSError("bad_header", "header lacks a string 'alg'")
    if "crit" in header:
        crit = header["crit"]
        if (
            not isinstance(crit, list)
            or not crit
            or not all(isinstance(c, str) and c in header for c in crit)
        ):
            raise JWSError("bad_header", "malformed 'crit' header")
        unknown = [c for c in crit if c not in _SUPPORTED_CRIT]
        if unknown:
            # RFC 7515 section 4.1.11: must reject unknown critical extensions.
            raise JWSError("bad_header", f"unsupported critical header(s): {unknown}")
    signing_input = (header_s + "." + payload_s).encode("ascii")
    return header, payload, signing_input, signature


def jws_verify(token: str, public_key: Ed25519PublicKey) -> tuple[dict[str, Any], bytes]:
    """Verify a compact EdDSA JWS and return ``(header, payload)``.

    The algorithm is pinned to EdDSA regardless of what the header says,
    which rules out ``none`` and HMAC-confusion attacks.
    """
    if not isinstance(public_key, Ed25519PublicKey):
        raise TypeError("jws_verify requires an Ed25519 public key")
    header, payload, signing_input, signature = jws_parse_unverified(token)
    if header["alg"] != "EdDSA":
        raise JWSError("unsupported_alg", f"alg {header['alg']!r} is not accepted")
    if len(signature) != ED25519_SIG_LEN:
        raise JWSError("bad_signature", "signature has the wrong length")
    try:
        public_key.verify(signature, signing_input)
    except InvalidSignature as exc:
        raise JWSError("bad_signature", "signature does not verify") from exc
    return header, payload
