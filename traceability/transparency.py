"""The transparency log: every signed document is appended as a leaf of an RFC 6962 Merkle tree,
and the alliance signs checkpoints (C2SP tlog-checkpoint notes) of the tree.

Anyone holding a checkpoint can check that a credential is in the log (inclusion proof) and that a
later checkpoint extends an earlier one (consistency proof). Rewriting history then needs the
alliance's key *and* every mirror of its old checkpoints to play along.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, text
from sqlmodel import Session, select

from traceability import crypto, merkle
from traceability.models import Checkpoint, LogEntry

# Tree levels of recent checkpoints, keyed by (size, root): proofs then cost O(log n).
_LEVEL_CACHE: OrderedDict[tuple[int, bytes], list[list[bytes]]] = OrderedDict()
_LEVEL_CACHE_SIZE = 4


def build_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """All levels of the RFC 6962 tree. A lone right node moves up unchanged, which gives exactly
    the left-balanced tree of the RFC's recursive definition."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [merkle.node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])
        levels.append(above)
    return levels


def proof_from_levels(levels: list[list[bytes]], index: int) -> list[bytes]:
    proof = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        index //= 2
    return proof


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


class TransparencyLog:
    def __init__(self, session: Session, *, origin: str, signing_key=None, public_key_raw: bytes | None = None) -> None:
        self.session = session
        self.origin = origin
        self.signing_key = signing_key  # the alliance key; only needed to publish checkpoints
        self.public_key_raw = public_key_raw

    def _lock(self) -> None:
        # Appends must get consecutive indexes; PostgreSQL serialises them with an advisory lock,
        # SQLite already has one writer at a time.
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.exec(text("SELECT pg_advisory_xact_lock(6962)"))

    def size(self) -> int:
        return self.session.exec(select(func.count()).select_from(LogEntry)).one()

    def append(self, document: bytes, kind: str) -> LogEntry:
        self._lock()
        last = self.session.exec(select(func.max(LogEntry.index))).one()
        entry = LogEntry(
            index=0 if last is None else last + 1,
            sha256=crypto.sha256_hex(document),
            kind=kind,
            leaf_hash=merkle.leaf_hash(document).hex(),
        )
        self.session.add(entry)
        self.session.flush()
        return entry

    def leaves(self, size: int | None = None) -> list[bytes]:
        query = select(LogEntry.leaf_hash).order_by(LogEntry.index)
        if size is not None:
            query = query.where(LogEntry.index < size)
        return [bytes.fromhex(h) for h in self.session.exec(query)]

    def latest_checkpoint(self) -> Checkpoint | None:
        return self.session.exec(select(Checkpoint).order_by(Checkpoint.tree_size.desc(), Checkpoint.id.desc())).first()  # type: ignore[union-attr]

    def publish_checkpoint(self) -> Checkpoint | None:
        """Sign the current tree head, unless the latest checkpoint already covers it."""
        if self.signing_key is None:
            raise RuntimeError("publishing needs the alliance signing key")
        latest = self.latest_checkpoint()
        size = self.size()
        if latest is not None and latest.tree_size == size:
            return None
        if latest is not None and latest.peaks:
            state = merkle.CompactRange.from_peaks(latest.tree_size, [bytes.fromhex(p) for p in latest.peaks.split(",")])
            new_leaves = self.session.exec(
                select(LogEntry.leaf_hash).where(LogEntry.index >= latest.tree_size).order_by(LogEntry.index)
            )
            state.extend(bytes.fromhex(h) for h in new_leaves)
        else:
            state = merkle.CompactRange(self.leaves())
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

    def _levels_for(self, checkpoint: Checkpoint) -> list[list[bytes]] | None:
        key = (checkpoint.tree_size, bytes.fromhex(checkpoint.root_hash))
        levels = _LEVEL_CACHE.get(key)
        if levels is None:
            leaves = self.leaves(checkpoint.tree_size)
            if len(leaves) != checkpoint.tree_size:
                return None
            levels = build_levels(leaves) if leaves else [[merkle.empty_root()]]
            if levels[-1][0] != key[1]:
                return None  # the stored leaves no longer produce the signed root
            _LEVEL_CACHE[key] = levels
            while len(_LEVEL_CACHE) > _LEVEL_CACHE_SIZE:
                _LEVEL_CACHE.popitem(last=False)
        _LEVEL_CACHE.move_to_end(key)
        return levels

    def entry_for(self, sha256: str) -> LogEntry | None:
        return self.session.exec(select(LogEntry).where(LogEntry.sha256 == sha256)).first()

    def inclusion_proofs(self, sha256s: list[str], checkpoint: Checkpoint | None = None) -> dict[str, InclusionProof]:
        """Proofs against `checkpoint` (the latest by default) for the documents it covers."""
        checkpoint = checkpoint or self.latest_checkpoint()
        if checkpoint is None or not sha256s:
            return {}
        entries = self.session.exec(select(LogEntry).where(LogEntry.sha256.in_(sha256s))).all()  # type: ignore[attr-defined]
        levels = self._levels_for(checkpoint)
        if levels is None:
            return {}
        return {
            e.sha256: InclusionProof(e.index, checkpoint.tree_size, proof_from_levels(levels, e.index))
            for e in entries
            if e.index < checkpoint.tree_size
        }

    def dated_proof(self, sha256: str) -> tuple[Checkpoint, InclusionProof] | None:
        """Inclusion in the *first* checkpoint that covered the document: proof of when it existed."""
        entry = self.entry_for(sha256)
        if entry is None:
            return None
        checkpoint = self.session.exec(
            select(Checkpoint).where(Checkpoint.tree_size > entry.index).order_by(Checkpoint.tree_size, Checkpoint.id)
        ).first()
        if checkpoint is None:
            return None
        proof = self.inclusion_proofs([sha256], checkpoint).get(sha256)
        return (checkpoint, proof) if proof else None

    def consistency(self, first: int, second: int) -> list[bytes]:
        if not 0 <= first <= second:
            raise ValueError("need 0 <= first <= second")
        leaves = self.leaves(second)
        if len(leaves) < second:
            raise ValueError("the log is not that large")
        return merkle.consistency_proof(leaves, first)

    def audit(self) -> list[str]:
        """Recompute the tree from the stored leaves and compare with every signed checkpoint.

        Returns findings that name what is wrong: a gap in the indexes (a deleted entry), a leaf that
        no longer matches its document, a checkpoint whose root the stored leaves cannot produce.
        """
        from traceability.models import Credential, Passport

        findings: list[str] = []
        entries = list(self.session.exec(select(LogEntry).order_by(LogEntry.index)))
        for position, entry in enumerate(entries):
            if entry.index != position:
                findings.append(f"missing log entry at index {position}")
                break
        documents = {c.sha256: c.jws for c in self.session.exec(select(Credential))}
        documents.update({p.sha256: p.jws for p in self.session.exec(select(Passport))})
        for entry in entries:
            document = documents.get(entry.sha256)
            if document is None:
                findings.append(f"log entry {entry.index} points at a document that is gone")
            elif merkle.leaf_hash(document.encode("ascii")).hex() != entry.leaf_hash or crypto.sha256_hex(document.encode("ascii")) != entry.sha256:
                findings.append(f"log entry {entry.index} does not match its document")
        logged = {e.sha256 for e in entries}
        for sha in documents:
            if sha not in logged:
                findings.append(f"document {sha[:16]}… is not in the log")
        leaves = [bytes.fromhex(e.leaf_hash) for e in entries]
        for checkpoint in self.session.exec(select(Checkpoint).order_by(Checkpoint.tree_size)):
            if checkpoint.tree_size > len(leaves):
                findings.append(f"checkpoint of size {checkpoint.tree_size} is larger than the log ({len(leaves)})")
                continue
            root = merkle.root_from_leaf_hashes(leaves[: checkpoint.tree_size])
            if root.hex() != checkpoint.root_hash:
                findings.append(f"checkpoint of size {checkpoint.tree_size} does not match the stored entries")
            if self.public_key_raw is not None:
                try:
                    opened = merkle.open_checkpoint(checkpoint.note, self.origin, self.public_key_raw)
                    if opened.size != checkpoint.tree_size or opened.root.hex() != checkpoint.root_hash:
                        findings.append(f"checkpoint row {checkpoint.id} differs from its signed note")
                except merkle.CheckpointError as error:
                    findings.append(f"checkpoint row {checkpoint.id} has a bad signature ({error.reason})")
        return findings
