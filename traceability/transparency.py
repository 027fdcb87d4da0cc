"""The transparency log: every signed document is appended as a leaf of an RFC 6962 Merkle tree,
and the alliance signs checkpoints (C2SP tlog-checkpoint notes) of the tree.

Anyone holding a checkpoint can check that a credential is in the log (inclusion proof) and that a
later checkpoint extends an earlier one (consistency proof). Rewriting history then needs the
alliance's key *and* every mirror of its old checkpoints to play along.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable
from urllib.parse import urlsplit

from sqlalchemy import func, text, tuple_
from sqlmodel import Session, select

from traceability import crypto, merkle, tiles
from traceability.models import Checkpoint, LogEntry, LogTile

TIME_EXTENSION = "nongsan-time"


def checkpoint_time(checkpoint: merkle.Checkpoint) -> datetime | None:
    """The signed publication time carried in the checkpoint's extension line."""
    for line in checkpoint.extensions:
        name, _, value = line.partition(" ")
        if name == TIME_EXTENSION:
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                return None
    return None


def log_origin(base_url: str) -> str:
    return f"{urlsplit(base_url).netloc}/log"


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    proof: list[bytes]

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "tree_size": self.tree_size, "proof": [crypto.b64url_encode(p) for p in self.proof]}


@dataclass(frozen=True)
class Cadence:
    """When a checkpoint is due: once `entries` wait, or once the oldest waits `seconds`."""

    entries: int = 1000
    seconds: float = 60.0


class TransparencyLog:
    def __init__(self, session: Session, *, origin: str, signing_key=None, public_key_raw: bytes | None = None,
                 cadence: Cadence | None = None) -> None:
        self.session = session
        self.origin = origin
        self.signing_key = signing_key  # the alliance key; only needed to publish checkpoints
        self.public_key_raw = public_key_raw
        self.cadence = cadence or Cadence()
        self._locked = False

    def _lock(self) -> None:
        # Appends must get consecutive indexes; PostgreSQL serialises them with an advisory lock
        # held to the end of the transaction, SQLite already has one writer at a time.
        if self._locked:
            return
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.exec(text("SELECT pg_advisory_xact_lock(6962)"))
        self._locked = True

    def next_index(self) -> int:
        """One step down the primary key's index: the log's length, whatever its size."""
        last = self.session.exec(select(LogEntry.index).order_by(LogEntry.index.desc()).limit(1)).first()  # type: ignore[union-attr]
        return 0 if last is None else last + 1

    def size(self) -> int:
        return self.next_index()

    def append(self, document: bytes, kind: str) -> LogEntry:
        self._lock()
        entry = LogEntry(index=self.next_index(), sha256=crypto.sha256_hex(document), kind=kind,
                         leaf_hash=merkle.leaf_hash(document).hex())
        self.session.add(entry)
        self.session.flush()
        return entry

    def latest_checkpoint(self) -> Checkpoint | None:
        return self.session.exec(
            select(Checkpoint).order_by(Checkpoint.tree_size.desc(), Checkpoint.id.desc()).limit(1)  # type: ignore[union-attr]
        ).first()

    # -- publishing ---------------------------------------------------------------------------------
    def checkpoint_due(self, *, now: datetime | None = None, entries_only: bool = False) -> bool:
        """Whether the cadence asks for a new checkpoint now (two index look-ups)."""
        latest = self.latest_checkpoint()
        waiting = self.size() - (latest.tree_size if latest else 0)
        if waiting <= 0:
            return False
        if waiting >= self.cadence.entries or latest is None:
            return True
        if entries_only:
            return False
        now = now or datetime.now(timezone.utc)
        return (now - latest.created_at).total_seconds() >= self.cadence.seconds

    def publish_if_due(self, *, entries_only: bool = False) -> Checkpoint | None:
        return self.publish_checkpoint() if self.checkpoint_due(entries_only=entries_only) else None

    def publish_checkpoint(self) -> Checkpoint | None:
        """Sign the current tree head, unless the latest checkpoint already covers it.

        Costs the new entries and O(log n): the leaves since the last checkpoint are folded into
        its compact range for the root, and into the right-most stored tiles."""
        if self.signing_key is None:
            raise RuntimeError("publishing needs the alliance signing key")
        self._lock()
        latest = self.latest_checkpoint()
        old = latest.tree_size if latest else 0
        size = self.size()
        if size == old:
            return None
        leaves = [bytes.fromhex(h) for h in self.session.exec(
            select(LogEntry.leaf_hash).where(LogEntry.index >= old).order_by(LogEntry.index))]  # type: ignore[arg-type]
        if len(leaves) != size - old:
            raise RuntimeError(f"the log has a gap after index {old}: {len(leaves)} entries for {size - old} places")
        edges = self.tile_set(tiles.edge_tiles(old))
        if latest is not None and latest.peaks:
            state = merkle.CompactRange.from_peaks(old, [bytes.fromhex(p) for p in latest.peaks.split(",")])
        else:
            peaks = [self.tile_set(tiles.tiles_for_ranges([(0, old)])).node(h, k) for h, k in tiles.range_nodes(0, old)]
            state = merkle.CompactRange.from_peaks(old, peaks)
        state.extend(leaves)
        self._store_tiles(tiles.grow(edges, old, leaves), edges)
        root = state.root()
        now = datetime.now(timezone.utc)
        # The signed time is what lets a signature made before a key's revocation stay valid.
        body = merkle.format_checkpoint(self.origin, state.size, root) + f"{TIME_EXTENSION} {now.isoformat()}\n"
        note = merkle.sign_note(body, self.origin, self.signing_key)
        checkpoint = Checkpoint(tree_size=state.size, root_hash=root.hex(), note=note,
                                peaks=",".join(p.hex() for p in state.peaks), created_at=now)
        self.session.add(checkpoint)
        self.session.flush()
        return checkpoint

    def _store_tiles(self, changed: dict[tuple[int, int], tuple[int, bytes]], existing: tiles.TileSet) -> None:
        table = LogTile.__table__
        updates = [{"l": level, "i": index, "w": width, "h": stored}
                   for (level, index), (width, stored) in changed.items() if (level, index) in existing.tiles]
        inserts = [{"level": level, "index": index, "width": width, "hashes": stored}
                   for (level, index), (width, stored) in changed.items() if (level, index) not in existing.tiles]
        if updates:
            from sqlalchemy import bindparam, update

            self.session.execute(
                update(table).where(table.c.level == bindparam("l"), table.c.index == bindparam("i"))
                .values(width=bindparam("w"), hashes=bindparam("h")), updates)
        if inserts:
            from sqlalchemy import insert

            self.session.execute(insert(table), inserts)

    # -- reading the tree -----------------------------------------------------------------------------
    def tile_set(self, keys: Iterable[tuple[int, int]]) -> tiles.TileSet:
        keys = list(set(keys))
        found: dict[tuple[int, int], tuple[int, bytes]] = {}
        for chunk in range(0, len(keys), 500):
            part = keys[chunk:chunk + 500]
            rows = self.session.exec(
                select(LogTile.level, LogTile.index, LogTile.width, LogTile.hashes)
                .where(tuple_(LogTile.level, LogTile.index).in_(part))  # type: ignore[arg-type]
            )
            found.update({(r[0], r[1]): (r[2], bytes(r[3])) for r in rows})
        return tiles.TileSet(found)

    def tile(self, level: int, index: int) -> tuple[int, bytes] | None:
        """A stored tile (width, stored bytes), for serving C2SP tiles."""
        return self.tile_set([(level, index)]).tiles.get((level, index))

    def positions(self, sha256s: Iterable[str]) -> dict[str, int]:
        """Log index of each document, by its SHA-256 (one indexed look-up each)."""
        sha256s = list(sha256s)
        found: dict[str, int] = {}
        for chunk in range(0, len(sha256s), 1000):
            rows = self.session.exec(
                select(LogEntry.sha256, LogEntry.index).where(LogEntry.sha256.in_(sha256s[chunk:chunk + 1000])))  # type: ignore[attr-defined]
            found.update({sha: index for sha, index in rows})
        return found

    def entry_for(self, sha256: str) -> LogEntry | None:
        return self.session.exec(select(LogEntry).where(LogEntry.sha256 == sha256)).first()

    def proofs_for_positions(self, positions: dict[str, int], tree_size: int) -> dict[str, InclusionProof]:
        """Inclusion proofs in the tree of `tree_size` leaves, from stored tiles in one query."""
        wanted = {sha: index for sha, index in positions.items() if index < tree_size}
        if not wanted:
            return {}
        ranges = [r for index in wanted.values() for r in tiles.inclusion_ranges(index, tree_size)]
        stored = self.tile_set(tiles.tiles_for_ranges(ranges))
        proofs = {}
        for sha, index in wanted.items():
            try:
                proofs[sha] = InclusionProof(index, tree_size, tiles.inclusion_proof(stored, index, tree_size))
            except LookupError:
                continue  # a tile is missing: the proof cannot be given, the record shows as not logged
        return proofs

    def inclusion_proofs(self, sha256s: list[str], checkpoint: Checkpoint | None = None) -> dict[str, InclusionProof]:
        """Proofs against `checkpoint` (the latest by default) for the documents it covers."""
        checkpoint = checkpoint or self.latest_checkpoint()
        if checkpoint is None or not sha256s:
            return {}
        return self.proofs_for_positions(self.positions(sha256s), checkpoint.tree_size)

    def first_checkpoint_covering(self, index: int) -> Checkpoint | None:
        return self.session.exec(
            select(Checkpoint).where(Checkpoint.tree_size > index).order_by(Checkpoint.tree_size, Checkpoint.id).limit(1)  # type: ignore[arg-type]
        ).first()

    def dated_proof(self, sha256: str) -> tuple[Checkpoint, InclusionProof] | None:
        """Inclusion in the *first* checkpoint that covered the document: proof of when it existed."""
        entry = self.entry_for(sha256)
        if entry is None:
            return None
        checkpoint = self.first_checkpoint_covering(entry.index)
        if checkpoint is None:
            return None
        proof = self.proofs_for_positions({sha256: entry.index}, checkpoint.tree_size).get(sha256)
        return (checkpoint, proof) if proof else None

    def consistency(self, first: int, second: int) -> list[bytes]:
        """PROOF(first, second) from stored tiles; both sizes at most the latest checkpoint's."""
        if not 0 <= first <= second:
            raise ValueError("need 0 <= first <= second")
        latest = self.latest_checkpoint()
        if second > (latest.tree_size if latest else 0):
            raise ValueError("no checkpoint covers that many entries yet")
        ranges = tiles.consistency_ranges(first, second)
        stored = self.tile_set(tiles.tiles_for_ranges(ranges))
        try:
            return tiles.consistency_proof(stored, first, second)
        except LookupError as error:
            raise ValueError(f"the stored tree is incomplete ({error})") from error

    def audit(self, chunk: int = 5000) -> list[str]:
        """Recompute the tree from the stored leaves and compare with every signed checkpoint and
        every stored tile, streaming the log in index order (memory O(chunk), not O(n)).

        Returns findings that name what is wrong: a gap in the indexes (a deleted entry), a leaf that
        no longer matches its document, a checkpoint whose root the stored leaves cannot produce, a
        tile that differs from the leaves.
        """
        from traceability.models import Credential, Passport

        findings: list[str] = []
        checkpoints = list(self.session.exec(
            select(Checkpoint.id, Checkpoint.tree_size, Checkpoint.root_hash, Checkpoint.note).order_by(Checkpoint.tree_size, Checkpoint.id)))
        pending_checkpoints = iter(checkpoints)
        next_checkpoint = next(pending_checkpoints, None)
        state = merkle.CompactRange()
        position = 0
        gap_reported = False
        tile_rows: list[bytes] = []  # the level-0 row being rebuilt
        logged = 0
        last = -1
        while True:
            rows = list(self.session.exec(
                select(LogEntry.index, LogEntry.sha256, LogEntry.leaf_hash, Credential.jws, Passport.jws)
                .outerjoin(Credential, Credential.sha256 == LogEntry.sha256)
                .outerjoin(Passport, Passport.sha256 == LogEntry.sha256)
                .where(LogEntry.index > last).order_by(LogEntry.index).limit(chunk)))  # type: ignore[arg-type]
            if not rows:
                break
            for index, sha, leaf_hex, credential_jws, passport_jws in rows:
                last = index
                logged += 1
                if index != position and not gap_reported:
                    findings.append(f"missing log entry at index {position}")
                    gap_reported = True
                position = index + 1
                document = credential_jws if credential_jws is not None else passport_jws
                if document is None:
                    findings.append(f"log entry {index} points at a document that is gone")
                else:
                    raw = document.encode("ascii")
                    if merkle.leaf_hash(raw).hex() != leaf_hex or crypto.sha256_hex(raw) != sha:
                        findings.append(f"log entry {index} does not match its document")
                leaf = bytes.fromhex(leaf_hex)
                state.append(leaf)
                tile_rows.append(leaf)
                while next_checkpoint is not None and next_checkpoint[1] == state.size:
                    findings += self._audit_checkpoint(next_checkpoint, state.root())
                    next_checkpoint = next(pending_checkpoints, None)
        while next_checkpoint is not None:
            if next_checkpoint[1] == 0:
                findings += self._audit_checkpoint(next_checkpoint, merkle.empty_root())
            else:
                findings.append(f"checkpoint of size {next_checkpoint[1]} is larger than the log ({state.size})")
            next_checkpoint = next(pending_checkpoints, None)
        documents = self.session.exec(select(func.count()).select_from(Credential)).one() + \
            self.session.exec(select(func.count()).select_from(Passport)).one()
        if documents > logged:
            unlogged = self.session.exec(
                select(Credential.sha256).outerjoin(LogEntry, LogEntry.sha256 == Credential.sha256)
                .where(LogEntry.index.is_(None)).limit(20)).all()  # type: ignore[union-attr]
            unlogged += self.session.exec(
                select(Passport.sha256).outerjoin(LogEntry, LogEntry.sha256 == Passport.sha256)
                .where(LogEntry.index.is_(None)).limit(20)).all()  # type: ignore[union-attr]
            findings += [f"document {sha[:16]}… is not in the log" for sha in unlogged]
        findings += self._audit_tiles(checkpoints[-1][1] if checkpoints else 0)
        return findings

    def _audit_checkpoint(self, row, root: bytes) -> list[str]:
        checkpoint_id, size, root_hex, note = row
        findings = []
        if root.hex() != root_hex:
            findings.append(f"checkpoint of size {size} does not match the stored entries")
        if self.public_key_raw is not None:
            try:
                opened = merkle.open_checkpoint(note, self.origin, self.public_key_raw)
                if opened.size != size or opened.root.hex() != root_hex:
                    findings.append(f"checkpoint row {checkpoint_id} differs from its signed note")
            except merkle.CheckpointError as error:
                findings.append(f"checkpoint row {checkpoint_id} has a bad signature ({error.reason})")
        return findings

    def _audit_tiles(self, size: int) -> list[str]:
        """Every stored tile against the tiles the stored leaves make, a level at a time."""
        findings: list[str] = []
        level, count = 0, size
        below: list[bytes] | None = None
        while count:
            expected_rows: list[bytes] = []
            tile_count = -(-count // tiles.WIDTH)
            for tile_index in range(tile_count):
                width = min(tiles.WIDTH, count - tile_index * tiles.WIDTH)
                if level == 0:
                    start = tile_index * tiles.WIDTH
                    bottom = [bytes.fromhex(h) for h in self.session.exec(
                        select(LogEntry.leaf_hash).where(LogEntry.index >= start, LogEntry.index < start + width)
                        .order_by(LogEntry.index))]  # type: ignore[arg-type]
                else:
                    assert below is not None
                    bottom = below[tile_index * tiles.WIDTH:tile_index * tiles.WIDTH + width]
                stored = self.tile(level, tile_index)
                expected = tiles.tile_bytes(bottom)
                if stored is None or stored[0] != width or stored[1] != expected:
                    findings.append(f"tile {level}/{tile_index} does not match the log's entries")
                if width == tiles.WIDTH:
                    expected_rows.append(tiles.tile_root(expected))
            below = expected_rows
            level += 1
            count //= tiles.WIDTH
        return findings
