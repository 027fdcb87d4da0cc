"""The stored tiles give the same tree, proofs and roots as the RFC 6962 definitions, however the
log grew (one leaf at a time, in bursts, across tile edges), and a tree only ever widens."""

import hashlib
import random

import pytest

from traceability import merkle, tiles


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(n)]


def _grow_in_steps(leaves: list[bytes], steps: list[int]):
    stored: dict = {}
    size = 0
    snapshots = []
    for step in steps:
        edges = tiles.TileSet({k: stored[k] for k in tiles.edge_tiles(size)})
        changed = tiles.grow(edges, size, leaves[size:size + step])
        for key, (width, data) in changed.items():
            if key in stored:  # only the right-most tile of a level changes, and only by widening
                old_width, old = stored[key]
                assert width > old_width and data[:old_width * 32] == old[:old_width * 32]
            stored[key] = (width, data)
        size += step
        snapshots.append((size, dict(stored)))
    return snapshots


@pytest.mark.parametrize("steps", [[1] * 300, [255, 1, 1, 256, 300], [70000], [65535, 1, 2, 511]])
def test_tiles_grown_in_any_steps_give_the_rfc_roots_and_proofs(steps):
    leaves = _leaves(sum(steps))
    rng = random.Random(6962)
    for size, stored in _grow_in_steps(leaves, steps):
        view = tiles.TileSet(stored)
        assert tiles.tree_root(view, size) == merkle.root_from_leaf_hashes(leaves[:size])
        for index in {0, size - 1, rng.randrange(size)}:
            assert tiles.inclusion_proof(view, index, size) == merkle.inclusion_proof(leaves[:size], index)
        for old in {1, size // 2, rng.randrange(size + 1), size}:
            if size <= 5000:  # the reference rebuilds subtrees from leaves: keep it quick
                assert tiles.consistency_proof(view, old, size) == merkle.consistency_proof(leaves[:size], old)
            else:
                proof = tiles.consistency_proof(view, old, size)
                assert merkle.verify_consistency(old, size, tiles.tree_root(view, old), tiles.tree_root(view, size), proof)


def test_every_proof_of_small_trees_matches_the_reference():
    leaves = _leaves(40)
    for size, stored in _grow_in_steps(leaves, [1] * 40):
        view = tiles.TileSet(stored)
        for index in range(size):
            assert tiles.inclusion_proof(view, index, size) == merkle.inclusion_proof(leaves[:size], index)
        for old in range(size + 1):
            assert tiles.consistency_proof(view, old, size) == merkle.consistency_proof(leaves[:size], old)


def test_a_proof_reads_a_logarithmic_number_of_tiles():
    size = 70000
    for index in (0, 12345, size - 1):
        needed = tiles.tiles_for_ranges(tiles.inclusion_ranges(index, size))
        assert len(needed) <= 2 * 3  # three tile levels for 70,000 leaves, at most two tiles each
    assert len(tiles.tiles_for_ranges(tiles.consistency_ranges(1234, size))) <= 2 * 3


def test_the_bottom_row_is_the_c2sp_tile():
    leaves = _leaves(300)
    (size, stored), = _grow_in_steps(leaves, [300])
    assert tiles.bottom_row(stored[(0, 0)][1], 256) == b"".join(leaves[:256])
    assert stored[(0, 1)][0] == 44 and tiles.bottom_row(stored[(0, 1)][1], 44) == b"".join(leaves[256:])
    assert stored[(1, 0)][0] == 1 and stored[(1, 0)][1][:32] == merkle.root_from_leaf_hashes(leaves[:256])
