"""Merkle tree log primitives and signed checkpoints for produce traceability.

The traceability log is an append-only list of records (harvest, packing,
transport, sale ...).  Each record is committed to a Merkle tree built exactly
as RFC 6962 / RFC 9162 (Certificate Transparency) describe, so that:

* a buyer can check that one record is in the log (inclusion proof), and
* an auditor can check that a newer log still contains everything an older
  log contained (consistency proof), i.e. nothing was rewritten.

The log operator publishes the tree head as a C2SP ``tlog-checkpoint`` signed
with Ed25519 in the C2SP ``signed-note`` format.  Using these public formats
(rather than something home-grown) lets standard tooling and witnesses verify
our logs.

Only the standard library and ``cryptography`` are used; no storage is done
here -- callers pass leaf hashes in and get hashes/proofs/notes back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "HASH_SIZE",
    "leaf_hash",
    "node_hash",
    "empty_root",
    "CompactRange",
    "root_from_leaf_hashes",
    "inclusion_proof",
    "verify_inclusion",
    "consistency_proof",
    "verify_consistency",
    "Checkpoint",
    "CheckpointError",
    "format_checkpoint",
    "sign_note",
    "verifier_key_string",
    "open_checkpoint",
]

HASH_SIZE = 32

# Domain-separation prefixes from RFC 6962 §2.1: distinct prefixes for leaves
# and interior nodes prevent a second-preimage attack where an interior node
# is passed off as a leaf.
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


# ---------------------------------------------------------------------------
# Hashing
# ---------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """Hash of a leaf entry: SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def empty_root() -> bytes:
    """Root of the tree with no leaves: SHA-256 of the empty string."""
    return hashlib.sha256(b"").digest()


def _is_hash(value: object) -> bool:
    return isinstance(value, (bytes, bytearray)) and len(value) == HASH_SIZE


def _check_hash(value: object, what: str) -> bytes:
    if not _is_hash(value):
        raise ValueError(f"{what} must be a {HASH_SIZE}-byte hash")
    return bytes(value)  # type: ignore[arg-type]


def _split_point(size: int) -> int:
    """Largest power of two strictly smaller than ``size`` (size >= 2).

    RFC 9162 §2.1.1 always splits a tree so that the left part is a perfect
    tree of this size; every proof algorithm relies on that same split.
    """
    return 1 << ((size - 1).bit_length() - 1)


# ---------------------------------------------------------------------------
# Tree hash
# ---------------------------------------------------------------------------


class CompactRange:
    """Incrementally computed Merkle tree head for an append-only log.

    Only the roots of the perfect subtrees that make up the current tree
    are kept (one per set bit of the size), so appending is amortised O(1),
    memory is O(log n), and no recursion is involved -- a log with millions
    of entries never hits Python's recursion limit.

    Because the RFC 9162 split always puts the largest perfect subtree on the
    left, folding these peaks from right to left reproduces MTH exactly.
    """

    __slots__ = ("_size", "_peaks")

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._size = 0
        # Peaks from left (largest subtree) to right (smallest).
        self._peaks: list[bytes] = []
        self.extend(leaf_hashes)

    @classmethod
    def from_peaks(cls, size: int, peaks: Sequence[bytes]) -> "CompactRange":
        """Resume from a stored state (`size` and `peaks`), so a log of millions of entries can
        extend its head with only the new leaves."""
        if size < 0 or bin(size).count("1") != len(peaks):
            raise ValueError("peaks do not match the size")
        state = cls()
        state._size = size
        state._peaks = [_check_hash(p, "peak") for p in peaks]
        return state

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def peaks(self) -> list[bytes]:
        return list(self._peaks)

    def append(self, leaf: bytes) -> None:
        """Append one leaf *hash* (as returned by :func:`leaf_hash`)."""
        current = _check_hash(leaf, "leaf hash")
        self._size += 1
        # Each trailing zero bit of the new size means two equal-height
        # perfect subtrees now sit side by side and must be merged.
        carry = self._size
        while carry & 1 == 0:
            current = node_hash(self._peaks.pop(), current)
            carry >>= 1
        self._peaks.append(current)

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for leaf in leaf_hashes:
            self.append(leaf)

    def root(self) -> bytes:
        """MTH of all leaves appended so far."""
        if not self._peaks:
            return empty_root()
        acc = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            acc = node_hash(peak, acc)
        return acc


def _range_root(leaf_hashes: Sequence[bytes], start: int, end: int) -> bytes:
    """MTH of ``leaf_hashes[start:end]`` without copying the slice."""
    acc = CompactRange()
    for i in range(start, end):
        acc.append(leaf_hashes[i])
    return acc.root()


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash (RFC 9162 §2.1.1) of a list of leaf hashes.

    Iterative and O(n); safe for arbitrarily large logs.
    """
    return _range_root(leaf_hashes, 0, len(leaf_hashes))


# ---------------------------------------------------------------------------
# Inclusion proofs
# ---------------------------------------------------------------------------


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Audit path PATH(index, D[n]) from RFC 9162 §2.1.3.1.

    The path is ordered from the leaf's sibling up to the child of the
    root, which is the order :func:`verify_inclusion` consumes it in.
    """
    size = len(leaf_hashes)
    if not 0 <= index < size:
        raise IndexError(f"leaf index {index} outside tree of size {size}")
    # Walk down from the root, recording the sibling subtree at each level,
    # then reverse so the deepest sibling comes first.  Total hashing work is
    # n + n/2 + ... = O(n).
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + _split_point(end - start)
        if index < mid:
            path.append(_range_root(leaf_hashes, mid, end))
            end = mid
        else:
            path.append(_range_root(leaf_hashes, start, mid))
            start = mid
    path.reverse()
    return path


def verify_inclusion(
    leaf_hash: bytes,
    index: int,
    tree_size: int,
    proof: Sequence[bytes],
    root: bytes,
) -> bool:
    """Check an inclusion proof with the algorithm of RFC 9162 §2.1.3.2.

    Returns False (never raises) for any malformed or non-matching input, so
    callers can treat untrusted proofs uniformly.

    ``tree_size`` is not committed to by the root hash alone (trees of
    different sizes can share proof shapes), so it must be taken from the
    same signed checkpoint as ``root``.
    """
    if not (_is_hash(leaf_hash) and _is_hash(root)):
        return False
    if not all(_is_hash(p) for p in proof):
        return False
    if not (isinstance(index, int) and isinstance(tree_size, int)):
        return False
    if index < 0 or index >= tree_size:
        return False

    fn = index
    sn = tree_size - 1
    r = bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            # More proof elements than the tree has levels.
            return False
        if fn & 1 or fn == sn:
            r = node_hash(bytes(p), r)
            if not fn & 1:
                # We are the right-most node of a level whose sibling is
                # missing: skip the levels where this node is promoted as is.
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, bytes(p))
        fn >>= 1
        sn >>= 1
    # sn == 0 ensures the proof was not too short for this tree size.
    return sn == 0 and r == bytes(root)


# ---------------------------------------------------------------------------
# Consistency proofs
# ---------------------------------------------------------------------------


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Consistency proof PROOF(old_size, D[n]) from RFC 9162 §2.1.4.1.

    The RFC defines proofs for 0 < old_size < n.  For old_size == 0 (every
    tree extends the empty tree) and old_size == n (identical trees) there is
    nothing to prove, so the proof is empty.
    """
    size = len(leaf_hashes)
    if not 0 <= old_size <= size:
        raise ValueError(f"old size {old_size} outside 0..{size}")
    if old_size == 0 or old_size == size:
        return []

    # Iterative form of SUBPROOF(m, D[start:end], complete).  Every recursive
    # step appends one hash *after* the sub-result, so we collect them while
    # descending and reverse at the end.
    proof: list[bytes] = []
    start, end, m = 0, size, old_size
    complete = True  # True while the old tree is a prefix aligned to ``start == 0``
    while True:
        width = end - start
        if m == width:
            # The old tree's subtree coincides with this node.  If it is the
            # whole old tree the verifier already knows its hash.
            if not complete:
                proof.append(_range_root(leaf_hashes, start, end))
            break
        k = _split_point(width)
        if m <= k:
            proof.append(_range_root(leaf_hashes, start + k, end))
            end = start + k
        else:
            proof.append(_range_root(leaf_hashes, start, start + k))
            start += k
            m -= k
            complete = False
    proof.reverse()
    return proof


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> bool:
    """Check a consistency proof with the algorithm of RFC 9162 §2.1.4.2.

    Edge cases outside the RFC's 0 < old_size < new_size:

    * old_size == new_size: the proof must be empty and the roots equal.
    * old_size == 0: the proof must be empty and ``old_root`` must be the
      empty-tree root (any tree is an extension of the empty tree).
    """
    if not (_is_hash(old_root) and _is_hash(new_root)):
        return False
    if not all(_is_hash(p) for p in proof):
        return False
    if not (isinstance(old_size, int) and isinstance(new_size, int)):
        return False
    if old_size < 0 or new_size < old_size:
        return False
    old_root = bytes(old_root)
    new_root = bytes(new_root)
    if old_size == new_size:
        return len(proof) == 0 and old_root == new_root
    if old_size == 0:
        return len(proof) == 0 and old_root == empty_root()

    # Step 1: a non-trivial proof is never empty.
    if len(proof) == 0:
        return False
    path = [bytes(p) for p in proof]
    # Step 2: when the old tree is perfect its root is a node of the new
    # tree and is omitted from the proof; the verifier supplies it.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # Steps 3-4.
    fn = old_size - 1
    sn = new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5: fr rebuilds the old root, sr the new root, from the same seed.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7.
    return sn == 0 and fr == old_root and sr == new_root


# ---------------------------------------------------------------------------
# Checkpoints (C2SP tlog-checkpoint) signed as C2SP signed-notes
# ---------------------------------------------------------------------------

# Signature type byte for Ed25519 in the signed-note key hash and vkey.
_ED25519_TYPE = b"\x01"
# Every signature line starts with an em dash (U+2014) and a space.
_SIG_PREFIX = "\u2014 "
_ED25519_SIG_SIZE = 64
_KEY_HASH_SIZE = 4
# Same cap as the Go reference implementation, to bound work on hostile input.
_MAX_SIGNATURES = 100
_DECIMAL = re.compile(r"(?:0|[1-9][0-9]*)\Z")


@dataclass(frozen=True)
class Checkpoint:
    """A verified tree head.

    ``origin`` identifies the log; callers must still check it is the log
    they expect, since the signature only proves who signed it.
    """

    origin: str
    size: int
    root: bytes
    # Optional extension lines after the root, kept verbatim (C2SP allows
    # them; they are covered by the signature).
    extensions: tuple[str, ...] = ()


class CheckpointError(Exception):
    """A checkpoint or signed note was refused.

    ``reason`` is a stable machine-readable code: one of ``"malformed"``,
    ``"unknown_key"`` (no signature by the expected key) or
    ``"bad_signature"`` (a signature claiming the expected key is invalid).
    """

    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def _valid_key_name(name: object) -> bool:
    # signed-note key names: non-empty, no whitespace, no '+' (the vkey
    # separator); control characters are never allowed in a note either.
    return (
        isinstance(name, str)
        and name != ""
        and "+" not in name
        and not any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name)
    )


def _valid_note_chars(text: str) -> bool:
    # Notes are UTF-8 text with no ASCII control characters except newline.
    return not any((ord(ch) < 0x20 and ch != "\n") for ch in text) and _is_utf8(text)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")  # fails on lone surrogates
    except UnicodeEncodeError:
        return False
    return True


def _public_key_bytes(public_key: Ed25519PublicKey | bytes) -> bytes:
    if isinstance(public_key, Ed25519PublicKey):
        return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    raw = bytes(public_key)
    if len(raw) != 32:
        raise ValueError("Ed25519 public key must be 32 bytes")
    return raw


def _key_hash(key_name: str, public_key_raw: bytes) -> bytes:
    # The key hash binds the name to the key so a signature line cannot be
    # relabelled with another name (signed-note spec).
    return hashlib.sha256(
        key_name.encode("utf-8") + b"\n" + _ED25519_TYPE + public_key_raw
    ).digest()[:_KEY_HASH_SIZE]


def _b64decode_strict(text: str) -> bytes | None:
    """Standard padded base64, rejecting anything that is not canonical.

    Canonical-only decoding keeps encodings unique, so two different strings
    can never stand for the same signed value.
    """
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    if base64.b64encode(raw).decode("ascii") != text:
        return None
    return raw


def format_checkpoint(origin: str, size: int, root: bytes) -> str:
    """Checkpoint body: ``origin\\n{size}\\n{base64(root)}\\n``."""
    if not origin or "\n" in origin or not _valid_note_chars(origin):
        raise ValueError("origin must be a non-empty single line of text")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError("size must be a non-negative integer")
    root = _check_hash(root, "root")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode('ascii')}\n"


def sign_note(text: str, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign ``text`` as a C2SP signed-note and return the full note.

    The signed message is exactly ``text`` (UTF-8), which must end in a
    newline.  The result is ``text + "\\n" + "— name base64(keyhash||sig)\\n"``.
    """
    if not _valid_key_name(key_name):
        raise ValueError("invalid key name")
    if not text.endswith("\n") or not _valid_note_chars(text):
        raise ValueError("note text must be newline-terminated text without control characters")
    public_raw = _public_key_bytes(private_key.public_key())
    signature = private_key.sign(text.encode("utf-8"))
    blob = _key_hash(key_name, public_raw) + signature
    return f"{text}\n{_SIG_PREFIX}{key_name} {base64.b64encode(blob).decode('ascii')}\n"


def verifier_key_string(key_name: str, public_key: Ed25519PublicKey | bytes) -> str:
    """Verifier key in signed-note form: ``name+hexkeyhash+base64(0x01||pubkey)``."""
    if not _valid_key_name(key_name):
        raise ValueError("invalid key name")
    raw = _public_key_bytes(public_key)
    return (
        f"{key_name}+{_key_hash(key_name, raw).hex()}+"
        f"{base64.b64encode(_ED25519_TYPE + raw).decode('ascii')}"
    )


def _open_note(note: str, key_name: str, public_key: Ed25519PublicKey | bytes) -> str:
    """Verify a signed note against one key and return its text."""
    malformed = CheckpointError.MALFORMED
    if not isinstance(note, str) or not _valid_note_chars(note):
        raise CheckpointError(malformed, "note contains invalid characters")
    # The text ends at the last blank line; signature lines are never empty,
    # so this split is unambiguous even if the text itself had blank lines.
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError(malformed, "no signature block")
    text, sig_block = note[: split + 1], note[split + 2 :]
    if not sig_block or not sig_block.endswith("\n"):
        raise CheckpointError(malformed, "signature block must end with a newline")

    public_raw = _public_key_bytes(public_key)
    verifier = Ed25519PublicKey.from_public_bytes(public_raw)
    expected_hash = _key_hash(key_name, public_raw)
    message = text.encode("utf-8")

    lines = sig_block[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise CheckpointError(malformed, "too many signatures")
    verified = False
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise CheckpointError(malformed, "signature line lacks em dash prefix")
        name, sep, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        if not sep or not _valid_key_name(name) or not encoded:
            raise CheckpointError(malformed, "bad signature line")
        blob = _b64decode_strict(encoded)
        if blob is None or len(blob) <= _KEY_HASH_SIZE:
            raise CheckpointError(malformed, "bad signature encoding")
        if name != key_name or blob[:_KEY_HASH_SIZE] != expected_hash:
            # Signatures by other keys (e.g. witness cosignatures) are
            # legitimate and simply not ours to check.
            continue
        # Every line that claims to be from our key must verify; we never
        # let one good signature excuse a forged one next to it.
        signature = blob[_KEY_HASH_SIZE:]
        if len(signature) != _ED25519_SIG_SIZE:
            raise CheckpointError(CheckpointError.BAD_SIGNATURE, "wrong signature length")
        try:
            verifier.verify(signature, message)
        except InvalidSignature:
            raise CheckpointError(
                CheckpointError.BAD_SIGNATURE, "signature does not verify"
            ) from None
        verified = True
    if not verified:
        raise CheckpointError(CheckpointError.UNKNOWN_KEY, f"no signature by key {key_name!r}")
    return text


def open_checkpoint(
    note: str, key_name: str, public_key: Ed25519PublicKey | bytes
) -> Checkpoint:
    """Verify a signed checkpoint note and parse it.

    The signature is checked before the body is interpreted, so tampering
    with the size or root shows up as ``bad_signature``; ``malformed`` is for
    notes that are structurally invalid (or validly signed nonsense).
    The caller must still compare ``origin`` with the log it expects.
    """
    if not _valid_key_name(key_name):
        raise ValueError("invalid key name")
    try:
        text = _open_note(note, key_name, public_key)
    except ValueError as exc:  # e.g. public key bytes of the wrong length
        raise CheckpointError(CheckpointError.MALFORMED, str(exc)) from None

    malformed = CheckpointError.MALFORMED
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError(malformed, "checkpoint needs origin, size and root lines")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise CheckpointError(malformed, "empty origin")
    if not _DECIMAL.match(size_text):
        raise CheckpointError(malformed, "size is not a canonical decimal number")
    root = _b64decode_strict(root_text)
    if root is None or len(root) != HASH_SIZE:
        raise CheckpointError(malformed, "root is not a base64 32-byte hash")
    if any(not ext for ext in extensions):
        raise CheckpointError(malformed, "empty extension line")
    return Checkpoint(origin=origin, size=int(size_text), root=root, extensions=tuple(extensions))
