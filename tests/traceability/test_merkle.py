"""Tests for traceability.merkle.

The optimised, iterative code is checked against a deliberately naive
recursive implementation transcribed straight from RFC 9162 §2.1, plus
published known-answer vectors.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from traceability.merkle import (
    Checkpoint,
    CheckpointError,
    CompactRange,
    consistency_proof,
    empty_root,
    format_checkpoint,
    inclusion_proof,
    leaf_hash,
    node_hash,
    open_checkpoint,
    root_from_leaf_hashes,
    sign_note,
    verifier_key_string,
    verify_consistency,
    verify_inclusion,
)

# ---------------------------------------------------------------------------
# Naive reference implementation (RFC 9162 §2.1, recursive, slicing)
# ---------------------------------------------------------------------------


def _ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(hashes: list[bytes]) -> bytes:
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = _ref_k(n)
    return hashlib.sha256(b"\x01" + ref_mth(hashes[:k]) + ref_mth(hashes[k:])).digest()


def ref_path(m: int, hashes: list[bytes]) -> list[bytes]:
    n = len(hashes)
    if n == 1:
        return []
    k = _ref_k(n)
    if m < k:
        return ref_path(m, hashes[:k]) + [ref_mth(hashes[k:])]
    return ref_path(m - k, hashes[k:]) + [ref_mth(hashes[:k])]


def ref_subproof(m: int, hashes: list[bytes], complete: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if complete else [ref_mth(hashes)]
    k = _ref_k(n)
    if m <= k:
        return ref_subproof(m, hashes[:k], complete) + [ref_mth(hashes[k:])]
    return ref_subproof(m - k, hashes[k:], False) + [ref_mth(hashes[:k])]


def ref_proof(m: int, hashes: list[bytes]) -> list[bytes]:
    return ref_subproof(m, hashes, True)


def make_leaves(n: int) -> list[bytes]:
    # Distinct leaf contents so that no two leaf hashes coincide.
    return [leaf_hash(b"lot-%d" % i) for i in range(n)]


def flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 0x01]) + h[1:]


MAX_EXHAUSTIVE = 70


# ---------------------------------------------------------------------------
# Hashing and known answers
# ---------------------------------------------------------------------------


def test_hash_domain_separation() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert node_hash(a, b) != node_hash(b, a)


def test_empty_root_known_answer() -> None:
    expected = bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert empty_root() == expected
    assert root_from_leaf_hashes([]) == expected
    assert CompactRange().root() == expected


# Test data from certificate-transparency's merkle_tree_test (also used by
# transparency-dev/merkle).  Every value below was checked against this
# implementation before being written down.
CT_LEAF_INPUTS = [
    bytes.fromhex(x)
    for x in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_LEAVES = [leaf_hash(d) for d in CT_LEAF_INPUTS]
_H = bytes.fromhex
CT_INCLUSION_0_OF_8 = [
    _H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
    _H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
    _H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
]
CT_CONSISTENCY = {
    (1, 8): CT_INCLUSION_0_OF_8,
    (6, 8): [
        _H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        _H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        _H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    ],
    (2, 5): [
        _H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        _H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    ],
}


@pytest.mark.parametrize("size", range(1, 9))
def test_ct_reference_roots(size: int) -> None:
    expected = bytes.fromhex(CT_ROOTS[size - 1])
    assert root_from_leaf_hashes(CT_LEAVES[:size]) == expected
    assert ref_mth(CT_LEAVES[:size]) == expected


def test_ct_reference_inclusion_proof() -> None:
    proof = inclusion_proof(CT_LEAVES, 0)
    assert proof == CT_INCLUSION_0_OF_8
    assert verify_inclusion(CT_LEAVES[0], 0, 8, proof, _H(CT_ROOTS[7]))


@pytest.mark.parametrize("old,new", sorted(CT_CONSISTENCY))
def test_ct_reference_consistency_proofs(old: int, new: int) -> None:
    proof = consistency_proof(CT_LEAVES[:new], old)
    assert proof == CT_CONSISTENCY[(old, new)]
    assert verify_consistency(old, new, _H(CT_ROOTS[old - 1]), _H(CT_ROOTS[new - 1]), proof)


def test_rfc9162_example_proof_shapes() -> None:
    # The 7-leaf example tree of RFC 9162 §2.1.5, with the proofs it lists.
    d = make_leaves(7)
    a, b, c, dd, e, f, j = d
    g, h, i = node_hash(a, b), node_hash(c, dd), node_hash(e, f)
    k, l = node_hash(g, h), node_hash(i, j)
    assert root_from_leaf_hashes(d) == node_hash(k, l)
    assert inclusion_proof(d, 0) == [b, h, l]
    assert inclusion_proof(d, 3) == [c, g, l]
    assert inclusion_proof(d, 4) == [f, j, k]
    assert inclusion_proof(d, 6) == [i, k]
    assert consistency_proof(d, 3) == [c, dd, g, l]
    assert consistency_proof(d, 4) == [l]
    assert consistency_proof(d, 6) == [i, j, k]


# ---------------------------------------------------------------------------
# Exhaustive comparison with the reference for small trees
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(0, MAX_EXHAUSTIVE + 1))
def test_roots_match_reference(size: int) -> None:
    leaves = make_leaves(size)
    expected = ref_mth(leaves)
    assert root_from_leaf_hashes(leaves) == expected
    assert CompactRange(leaves).root() == expected


def test_compact_range_every_prefix() -> None:
    leaves = make_leaves(MAX_EXHAUSTIVE)
    cr = CompactRange()
    for n, leaf in enumerate(leaves, start=1):
        cr.append(leaf)
        assert cr.size == n
        assert cr.root() == ref_mth(leaves[:n])


def test_compact_range_rejects_non_hash() -> None:
    with pytest.raises(ValueError):
        CompactRange().append(b"short")
    with pytest.raises(ValueError):
        root_from_leaf_hashes([b"x" * 31])


@pytest.mark.parametrize("size", range(1, MAX_EXHAUSTIVE + 1))
def test_inclusion_proofs_exhaustive(size: int) -> None:
    leaves = make_leaves(size)
    root = ref_mth(leaves)
    for index in range(size):
        proof = inclusion_proof(leaves, index)
        assert proof == ref_path(index, leaves)
        assert verify_inclusion(leaves[index], index, size, proof, root)

        # Any altered proof element must be caught.
        for pos in range(len(proof)):
            bad = list(proof)
            bad[pos] = flip(bad[pos])
            assert not verify_inclusion(leaves[index], index, size, bad, root)
        # Wrong leaf, wrong root.
        assert not verify_inclusion(flip(leaves[index]), index, size, proof, root)
        assert not verify_inclusion(leaves[index], index, size, proof, flip(root))
        # Wrong index: every other position must fail.
        for other in range(size + 1):
            if other != index:
                assert not verify_inclusion(leaves[index], other, size, proof, root)
        # Truncated or padded proofs.
        if proof:
            assert not verify_inclusion(leaves[index], index, size, proof[:-1], root)
        assert not verify_inclusion(leaves[index], index, size, proof + [root], root)


@pytest.mark.parametrize("size", range(2, MAX_EXHAUSTIVE + 1))
def test_inclusion_proof_for_other_tree_fails(size: int) -> None:
    # A proof from the previous tree does not verify against the new root.
    # (The tree size itself is not hashed into the root, so callers must take
    # it from a signed checkpoint together with the root.)
    leaves = make_leaves(size)
    root = ref_mth(leaves)
    for index in range(size - 1):
        stale = inclusion_proof(leaves[:-1], index)
        if stale != inclusion_proof(leaves, index):
            assert not verify_inclusion(leaves[index], index, size, stale, root)


def test_inclusion_proof_index_out_of_range() -> None:
    leaves = make_leaves(5)
    with pytest.raises(IndexError):
        inclusion_proof(leaves, 5)
    with pytest.raises(IndexError):
        inclusion_proof(leaves, -1)
    with pytest.raises(IndexError):
        inclusion_proof([], 0)
    root = root_from_leaf_hashes(leaves)
    assert not verify_inclusion(leaves[0], -1, 5, [], root)
    assert not verify_inclusion(leaves[0], 0, 0, [], empty_root())


def test_inclusion_rejects_malformed_hashes() -> None:
    leaves = make_leaves(4)
    root = root_from_leaf_hashes(leaves)
    proof = inclusion_proof(leaves, 1)
    assert not verify_inclusion(leaves[1], 1, 4, [p[:-1] for p in proof], root)
    assert not verify_inclusion(leaves[1][:-1], 1, 4, proof, root)
    assert not verify_inclusion(leaves[1], 1, 4, proof, root + b"\x00")


@pytest.mark.parametrize("new_size", range(0, MAX_EXHAUSTIVE + 1))
def test_consistency_proofs_exhaustive(new_size: int) -> None:
    leaves = make_leaves(new_size)
    new_root = ref_mth(leaves)
    for old_size in range(0, new_size + 1):
        old_root = ref_mth(leaves[:old_size])
        proof = consistency_proof(leaves, old_size)
        if 0 < old_size < new_size:
            assert proof == ref_proof(old_size, leaves)
            assert proof  # non-trivial proofs are never empty
        else:
            assert proof == []
        assert verify_consistency(old_size, new_size, old_root, new_root, proof)

        for pos in range(len(proof)):
            bad = list(proof)
            bad[pos] = flip(bad[pos])
            assert not verify_consistency(old_size, new_size, old_root, new_root, bad)
        if proof:
            assert not verify_consistency(old_size, new_size, old_root, new_root, proof[:-1])
            assert not verify_consistency(old_size, new_size, old_root, new_root, proof[1:])
        assert not verify_consistency(
            old_size, new_size, old_root, new_root, proof + [new_root]
        )
        assert not verify_consistency(old_size, new_size, flip(old_root), new_root, proof)
        if old_size > 0:
            assert not verify_consistency(old_size, new_size, old_root, flip(new_root), proof)
        elif new_size > 0:
            # Every tree extends the empty tree; there is nothing to bind.
            assert verify_consistency(0, new_size, old_root, flip(new_root), proof)
        # Claiming a different old size with the same proof must fail.  (A
        # different *new* size can legitimately give the same proof shape:
        # sizes are authenticated by the signed checkpoint, not the hashes.)
        if 0 < old_size < new_size:
            for other_old in range(1, new_size):
                if other_old != old_size:
                    assert not verify_consistency(
                        other_old, new_size, old_root, new_root, proof
                    )


def test_consistency_edge_cases() -> None:
    leaves = make_leaves(5)
    root5 = root_from_leaf_hashes(leaves)
    root3 = root_from_leaf_hashes(leaves[:3])
    # Equal sizes: empty proof, equal roots only.
    assert verify_consistency(5, 5, root5, root5, [])
    assert not verify_consistency(5, 5, root5, root3, [])
    assert not verify_consistency(5, 5, root5, root5, [root5])
    # Old size zero: only the empty root, only an empty proof.
    assert verify_consistency(0, 5, empty_root(), root5, [])
    assert not verify_consistency(0, 5, root3, root5, [])
    assert not verify_consistency(0, 5, empty_root(), root5, [root5])
    assert verify_consistency(0, 0, empty_root(), empty_root(), [])
    # Shrinking trees and negative sizes are never consistent.
    assert not verify_consistency(5, 3, root5, root3, consistency_proof(leaves, 3))
    assert not verify_consistency(-1, 5, root3, root5, [])
    # Non-trivial sizes with an empty proof.
    assert not verify_consistency(3, 5, root3, root5, [])
    with pytest.raises(ValueError):
        consistency_proof(leaves, 6)
    with pytest.raises(ValueError):
        consistency_proof(leaves, -1)


# ---------------------------------------------------------------------------
# Property-based checks on larger random trees
# ---------------------------------------------------------------------------


@st.composite
def tree_and_index(draw: st.DrawFn) -> tuple[list[bytes], int]:
    size = draw(st.integers(min_value=1, max_value=300))
    contents = draw(
        st.lists(st.binary(max_size=16), min_size=size, max_size=size, unique=True)
    )
    index = draw(st.integers(min_value=0, max_value=size - 1))
    return [leaf_hash(c) for c in contents], index


@settings(max_examples=150, deadline=None)
@given(tree_and_index())
def test_property_inclusion(case: tuple[list[bytes], int]) -> None:
    leaves, index = case
    root = ref_mth(leaves)
    assert root_from_leaf_hashes(leaves) == root
    proof = inclusion_proof(leaves, index)
    assert proof == ref_path(index, leaves)
    assert verify_inclusion(leaves[index], index, len(leaves), proof, root)
    if proof:
        bad = list(proof)
        bad[-1] = flip(bad[-1])
        assert not verify_inclusion(leaves[index], index, len(leaves), bad, root)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=300), st.data())
def test_property_consistency(new_size: int, data: st.DataObject) -> None:
    old_size = data.draw(st.integers(min_value=0, max_value=new_size))
    leaves = make_leaves(new_size)
    old_root, new_root = ref_mth(leaves[:old_size]), ref_mth(leaves)
    proof = consistency_proof(leaves, old_size)
    if 0 < old_size < new_size:
        assert proof == ref_proof(old_size, leaves)
    assert verify_consistency(old_size, new_size, old_root, new_root, proof)
    if proof:
        pos = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bad = list(proof)
        bad[pos] = flip(bad[pos])
        assert not verify_consistency(old_size, new_size, old_root, new_root, bad)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=6))
def test_property_compact_range_incremental(batches: list[int]) -> None:
    total = sum(batches)
    leaves = make_leaves(total)
    cr = CompactRange()
    done = 0
    for batch in batches:
        cr.extend(leaves[done : done + batch])
        done += batch
        assert cr.root() == ref_mth(leaves[:done])


def test_large_tree_no_recursion_limit() -> None:
    n = 100_000
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    root = root_from_leaf_hashes(leaves)
    assert len(root) == 32
    assert CompactRange(leaves).root() == root
    # Cross-check with the reference on the same data by splitting at the
    # RFC split point (65536) so the reference only sees modest trees.
    assert root == node_hash(
        ref_mth(leaves[:65536]), ref_mth(leaves[65536:])
    )
    index = 77_777
    proof = inclusion_proof(leaves, index)
    assert verify_inclusion(leaves[index], index, n, proof, root)
    old = 54_321
    cproof = consistency_proof(leaves, old)
    assert verify_consistency(old, n, root_from_leaf_hashes(leaves[:old]), root, cproof)


# ---------------------------------------------------------------------------
# Checkpoints and signed notes
# ---------------------------------------------------------------------------

ORIGIN = "nongsan.example/log/v1"
KEY_NAME = "nongsan.example/log"


@pytest.fixture(scope="module")
def private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def _signed_checkpoint(key: Ed25519PrivateKey, size: int = 8) -> tuple[str, bytes]:
    root = root_from_leaf_hashes(CT_LEAVES[:size])
    return sign_note(format_checkpoint(ORIGIN, size, root), KEY_NAME, key), root


def _sig_line(note: str) -> str:
    return note.split("\n\n")[1]


def test_signed_note_known_answer() -> None:
    # Example key and signature from the Go reference implementation
    # (golang.org/x/mod/sumdb/note); Ed25519 is deterministic so the output
    # must be byte-identical.
    seed = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
    key = Ed25519PrivateKey.from_private_bytes(seed)
    assert (
        verifier_key_string("PeterNeumann", key.public_key())
        == "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    )
    text = (
        "If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n"
    )
    assert sign_note(text, "PeterNeumann", key) == (
        text + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNI"
        "uGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    )


def test_format_checkpoint() -> None:
    root = bytes(32)
    body = format_checkpoint(ORIGIN, 42, root)
    assert body == f"{ORIGIN}\n42\n{base64.b64encode(root).decode()}\n"
    with pytest.raises(ValueError):
        format_checkpoint("", 1, root)
    with pytest.raises(ValueError):
        format_checkpoint("a\nb", 1, root)
    with pytest.raises(ValueError):
        format_checkpoint(ORIGIN, -1, root)
    with pytest.raises(ValueError):
        format_checkpoint(ORIGIN, 1, b"short")


def test_note_layout_and_key_hash(private_key: Ed25519PrivateKey) -> None:
    note, _ = _signed_checkpoint(private_key)
    body, sigs = note.split("\n\n")
    assert sigs.startswith(f"\u2014 {KEY_NAME} ") and sigs.endswith("\n")
    blob = base64.b64decode(sigs.rstrip("\n").split(" ")[2])
    assert len(blob) == 4 + 64
    pub = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_hash = hashlib.sha256(KEY_NAME.encode() + b"\n\x01" + pub).digest()[:4]
    assert blob[:4] == key_hash
    private_key.public_key().verify(blob[4:], (body + "\n").encode())
    vkey_b64 = base64.b64encode(b"\x01" + pub).decode()
    assert verifier_key_string(KEY_NAME, private_key.public_key()) == (
        f"{KEY_NAME}+{key_hash.hex()}+{vkey_b64}"
    )


def test_checkpoint_round_trip(private_key: Ed25519PrivateKey) -> None:
    note, root = _signed_checkpoint(private_key)
    cp = open_checkpoint(note, KEY_NAME, private_key.public_key())
    assert cp == Checkpoint(origin=ORIGIN, size=8, root=root)
    assert cp.root == bytes.fromhex(CT_ROOTS[7])
    # Raw public key bytes are accepted too.
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert open_checkpoint(note, KEY_NAME, raw) == cp


def test_checkpoint_empty_tree(private_key: Ed25519PrivateKey) -> None:
    note = sign_note(format_checkpoint(ORIGIN, 0, empty_root()), KEY_NAME, private_key)
    cp = open_checkpoint(note, KEY_NAME, private_key.public_key())
    assert cp.size == 0 and cp.root == empty_root()


def _reason(note: str, key_name: str, public_key: object) -> str:
    with pytest.raises(CheckpointError) as info:
        open_checkpoint(note, key_name, public_key)  # type: ignore[arg-type]
    return info.value.reason


def test_modified_size_refused(private_key: Ed25519PrivateKey) -> None:
    note, _ = _signed_checkpoint(private_key)
    tampered = note.replace(f"{ORIGIN}\n8\n", f"{ORIGIN}\n9\n", 1)
    assert tampered != note
    assert _reason(tampered, KEY_NAME, private_key.public_key()) == "bad_signature"


def test_modified_root_refused(private_key: Ed25519PrivateKey) -> None:
    note, root = _signed_checkpoint(private_key)
    old = base64.b64encode(root).decode()
    new = base64.b64encode(flip(root)).decode()
    tampered = note.replace(old, new, 1)
    assert tampered != note
    assert _reason(tampered, KEY_NAME, private_key.public_key()) == "bad_signature"


def test_modified_origin_refused(private_key: Ed25519PrivateKey) -> None:
    note, _ = _signed_checkpoint(private_key)
    tampered = note.replace(ORIGIN, ORIGIN + "x", 1)
    assert _reason(tampered, KEY_NAME, private_key.public_key()) == "bad_signature"


def test_modified_signature_refused(private_key: Ed25519PrivateKey) -> None:
    note, _ = _signed_checkpoint(private_key)
    line = _sig_line(note).rstrip("\n")
    prefix, encoded = line.rsplit(" ", 1)
    blob = bytearray(base64.b64decode(encoded))
    blob[10] ^= 0x01  # inside the Ed25519 signature, key hash untouched
    tampered = note.replace(line, f"{prefix} {base64.b64encode(bytes(blob)).decode()}")
    assert _reason(tampered, KEY_NAME, private_key.public_key()) == "bad_signature"
    # A truncated signature with the right key hash is also a bad signature.
    short = note.replace(line, f"{prefix} {base64.b64encode(bytes(blob[:40])).decode()}")
    assert _reason(short, KEY_NAME, private_key.public_key()) == "bad_signature"


def test_wrong_key_refused(private_key: Ed25519PrivateKey) -> None:
    note, _ = _signed_checkpoint(private_key)
    other = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))).public_key()
    # A different public key changes the key hash, so no signature matches.
    assert _reason(note, KEY_NAME, other) in ("unknown_key", "bad_signature")
    assert _reason(note, KEY_NAME, other) == "unknown_key"
    # A different key name likewise.
    assert _reason(note, "someone-else", private_key.public_key()) == "unknown_key"


def test_forged_signature_with_copied_key_hash(private_key: Ed25519PrivateKey) -> None:
    # An attacker labels their own signature with our name and key hash.
    note, _ = _signed_checkpoint(private_key)
    attacker = Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34)))
    body = note.split("\n\n")[0] + "\n"
    our_blob = base64.b64decode(_sig_line(note).rstrip("\n").split(" ")[2])
    forged_blob = our_blob[:4] + attacker.sign(body.encode())
    forged = f"{body}\n\u2014 {KEY_NAME} {base64.b64encode(forged_blob).decode()}\n"
    assert _reason(forged, KEY_NAME, private_key.public_key()) == "bad_signature"
    # A good signature does not excuse a bad one claiming the same key.
    both = note + f"\u2014 {KEY_NAME} {base64.b64encode(forged_blob).decode()}\n"
    assert _reason(both, KEY_NAME, private_key.public_key()) == "bad_signature"


def test_other_signers_are_ignored(private_key: Ed25519PrivateKey) -> None:
    # Cosignatures by witnesses are appended as extra lines; they must not
    # stop us from verifying our own signature.
    note, root = _signed_checkpoint(private_key)
    witness = Ed25519PrivateKey.from_private_bytes(bytes(range(3, 35)))
    body = note.split("\n\n")[0] + "\n"
    witness_line = _sig_line(sign_note(body, "witness.example", witness))
    cp = open_checkpoint(
        body + "\n" + witness_line + _sig_line(note), KEY_NAME, private_key.public_key()
    )
    assert cp.root == root
    assert (
        _reason(body + "\n" + witness_line, KEY_NAME, private_key.public_key())
        == "unknown_key"
    )


def test_extension_lines_kept(private_key: Ed25519PrivateKey) -> None:
    body = format_checkpoint(ORIGIN, 8, bytes.fromhex(CT_ROOTS[7])) + "ext line\n"
    cp = open_checkpoint(sign_note(body, KEY_NAME, private_key), KEY_NAME, private_key.public_key())
    assert cp.extensions == ("ext line",)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n.replace("\n\n", "\n", 1),  # no blank line before signatures
        lambda n: n.rstrip("\n"),  # signature block not newline-terminated
        lambda n: n.replace("\u2014", "-", 1),  # ASCII hyphen instead of em dash
        lambda n: n.replace("\u2014 ", "\u2014", 1),  # missing space after dash
        lambda n: n + "junk\n",  # trailing non-signature line
        lambda n: n[:-2] + "\n",  # signature base64 loses its padding
        lambda n: n.replace(KEY_NAME + " ", KEY_NAME + "  ", 1),  # bad separator
        lambda n: n.replace("\n8\n", "\n\t8\n", 1),  # control character
        lambda n: n.split("\n\n")[0] + "\n\n",  # empty signature block
    ],
)
def test_malformed_notes(private_key: Ed25519PrivateKey, mangle) -> None:
    note, _ = _signed_checkpoint(private_key)
    assert _reason(mangle(note), KEY_NAME, private_key.public_key()) == "malformed"


@pytest.mark.parametrize(
    "body",
    [
        f"{ORIGIN}\n8\n",  # missing root line
        f"\n8\n{base64.b64encode(bytes(32)).decode()}\n",  # empty origin
        f"{ORIGIN}\n08\n{base64.b64encode(bytes(32)).decode()}\n",  # leading zero
        f"{ORIGIN}\n+8\n{base64.b64encode(bytes(32)).decode()}\n",  # sign
        f"{ORIGIN}\n-1\n{base64.b64encode(bytes(32)).decode()}\n",  # negative
        f"{ORIGIN}\n8\n{base64.b64encode(bytes(31)).decode()}\n",  # short root
        f"{ORIGIN}\n8\nnot base64!\n",
        f"{ORIGIN}\n8\n{base64.b64encode(bytes(32)).decode()}\n\n",  # empty extension
    ],
)
def test_signed_but_malformed_checkpoint(private_key: Ed25519PrivateKey, body: str) -> None:
    # A valid signature over something that is not a checkpoint is still refused.
    note = sign_note(body, KEY_NAME, private_key)
    assert _reason(note, KEY_NAME, private_key.public_key()) == "malformed"


def test_sign_note_rejects_bad_input(private_key: Ed25519PrivateKey) -> None:
    with pytest.raises(ValueError):
        sign_note("no trailing newline", KEY_NAME, private_key)
    with pytest.raises(ValueError):
        sign_note("text\n", "bad name", private_key)
    with pytest.raises(ValueError):
        sign_note("text\n", "bad+name", private_key)
    with pytest.raises(ValueError):
        verifier_key_string("", private_key.public_key())
