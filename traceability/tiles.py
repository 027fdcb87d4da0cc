"""The log's Merkle tree as stored tiles (C2SP tlog-tiles, height 8), and proofs read from them.

No storage here: `TileSet` is the tiles a caller fetched, `grow` turns the right-most tiles plus
new leaf hashes into the tiles of the bigger tree, and the proof functions ask a `TileSet` for the
few stored node hashes they need (`needed_*` name the tiles beforehand, so a caller fetches them in
one query). Everything is iterative and reads O(log n) hashes per proof.

Terms: a *node* (h, k) is the root of the perfect subtree of height h over leaves
[k·2^h, (k+1)·2^h). Tile (L, N) holds the nodes of height 8·L numbered 256·N … 256·N + width − 1,
and inside it the nodes of heights 8·L + 1 … 8·L + 7 above them (`row_offsets`). The node (h, k)
lives in tile (h // 8, k >> (8 − h % 8)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from traceability.merkle import empty_root, node_hash

HEIGHT = 8
WIDTH = 1 << HEIGHT  # 256 hashes in a full tile
HASH = 32


def row_lengths(width: int) -> list[int]:
    """Number of whole nodes in each of a tile's eight rows."""
    return [width >> s for s in range(HEIGHT)]


def row_offsets(width: int) -> list[int]:
    """Byte offset of each row inside a stored tile."""
    offsets, at = [], 0
    for length in row_lengths(width):
        offsets.append(at)
        at += length * HASH
    return offsets


def tile_bytes(bottom: Sequence[bytes]) -> bytes:
    """A stored tile from its bottom row: the row, then each inner row built from the one below."""
    rows = [list(bottom)]
    for _ in range(1, HEIGHT):
        below = rows[-1]
        rows.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return b"".join(b"".join(row) for row in rows)


def tile_root(stored: bytes) -> bytes:
    """The node one level above a full tile (height 8·L + 8): its two top nodes hashed."""
    top = row_offsets(WIDTH)[HEIGHT - 1]
    return node_hash(stored[top:top + HASH], stored[top + HASH:top + 2 * HASH])


def bottom_row(stored: bytes, width: int) -> bytes:
    """The C2SP tile: the first `width` hashes."""
    return stored[: width * HASH]


def node_tile(height: int, index: int) -> tuple[int, int]:
    level, sub = divmod(height, HEIGHT)
    return level, index >> (HEIGHT - sub)


@dataclass
class TileSet:
    """Tiles fetched for one tree: {(level, index): (width, stored bytes)}."""

    tiles: dict[tuple[int, int], tuple[int, bytes]]

    def node(self, height: int, index: int) -> bytes:
        level, sub = divmod(height, HEIGHT)
        tile_index = index >> (HEIGHT - sub)
        found = self.tiles.get((level, tile_index))
        if found is None:
            raise LookupError(f"tile {level}/{tile_index} is not stored")
        width, stored = found
        position = index - (tile_index << (HEIGHT - sub))
        if position >= width >> sub:
            raise LookupError(f"node {height}/{index} is not in tile {level}/{tile_index} of width {width}")
        at = row_offsets(width)[sub] + position * HASH
        return stored[at:at + HASH]


# -- which nodes a proof needs ----------------------------------------------------------------------
def range_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """The perfect subtrees that make up leaves [start, end), left to right (largest first when
    `start` is aligned, as every range in an RFC 6962 proof is)."""
    nodes = []
    while start < end:
        height = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while start + (1 << height) > end:
            height -= 1
        nodes.append((height, start >> height))
        start += 1 << height
    return nodes


def range_hash(node: Callable[[int, int], bytes], start: int, end: int) -> bytes:
    """MTH of leaves [start, end) from stored nodes."""
    if start == end:
        return empty_root()
    parts = [node(h, k) for h, k in range_nodes(start, end)]
    acc = parts[-1]
    for part in reversed(parts[:-1]):
        acc = node_hash(part, acc)
    return acc


def _split(size: int) -> int:
    return 1 << ((size - 1).bit_length() - 1)


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots form PATH(index, size) of RFC 9162 §2.1.3.1, leaf side first."""
    if not 0 <= index < size:
        raise IndexError(f"leaf {index} outside a tree of {size}")
    ranges, start, end = [], 0, size
    while end - start > 1:
        mid = start + _split(end - start)
        if index < mid:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((start, mid))
            start = mid
    ranges.reverse()
    return ranges


def consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots form PROOF(old, new) of RFC 9162 §2.1.4.1."""
    if not 0 <= old <= new:
        raise ValueError("need 0 <= old <= new")
    if old == 0 or old == new:
        return []
    ranges: list[tuple[int, int]] = []
    start, end, m, complete = 0, new, old, True
    while True:
        width = end - start
        if m == width:
            if not complete:
                ranges.append((start, end))
            break
        k = _split(width)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
            complete = False
    ranges.reverse()
    return ranges


def tiles_for_ranges(ranges: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    return {node_tile(h, k) for start, end in ranges for h, k in range_nodes(start, end)}


def inclusion_proof(tiles: TileSet, index: int, size: int) -> list[bytes]:
    return [range_hash(tiles.node, start, end) for start, end in inclusion_ranges(index, size)]


def consistency_proof(tiles: TileSet, old: int, new: int) -> list[bytes]:
    return [range_hash(tiles.node, start, end) for start, end in consistency_ranges(old, new)]


def tree_root(tiles: TileSet, size: int) -> bytes:
    return range_hash(tiles.node, 0, size)


def edge_tiles(size: int) -> set[tuple[int, int]]:
    """The right-most (possibly partial) tile of every level of a tree: what `grow` starts from."""
    keys, level, count = set(), 0, size
    while count:
        if count % WIDTH:
            keys.add((level, count // WIDTH))
        level += 1
        count //= WIDTH
    return keys


def grow(edges: TileSet, size: int, leaves: Sequence[bytes]) -> dict[tuple[int, int], tuple[int, bytes]]:
    """The tiles that change when `leaves` (leaf hashes) are appended to a tree of `size` leaves:
    {(level, index): (width, stored bytes)}. `edges` holds the tree's partial right-most tiles
    (`edge_tiles(size)`); full tiles are never touched. Work: the new leaves and O(log n)."""
    changed: dict[tuple[int, int], tuple[int, bytes]] = {}
    level, first, row = 0, size, list(leaves)  # `row`: new nodes of height 8·level from position `first`
    while row:
        tile_index = first // WIDTH
        carried: list[bytes] = []
        if first % WIDTH:
            width, stored = edges.tiles[(level, tile_index)]
            if width != first % WIDTH:
                raise ValueError(f"tile {level}/{tile_index} has width {width}, the tree needs {first % WIDTH}")
            carried = [stored[i * HASH:(i + 1) * HASH] for i in range(width)]
        nodes = carried + row
        above: list[bytes] = []
        for offset in range(0, len(nodes), WIDTH):
            bottom = nodes[offset:offset + WIDTH]
            stored = tile_bytes(bottom)
            changed[(level, tile_index + offset // WIDTH)] = (len(bottom), stored)
            if len(bottom) == WIDTH:
                above.append(tile_root(stored))
        # Nodes of the next level that became complete: one per tile that filled up just now.
        first_above = first // WIDTH
        level, first, row = level + 1, first_above, above
    return changed
