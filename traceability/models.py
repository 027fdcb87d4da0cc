"""Signing keys and the signed credentials of each batch.

The signed bytes (compact JWS) are stored verbatim; pages render from the verified payload, never
from editable columns. The other columns are indexes for finding credentials, not sources of truth.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from kernel.timeutil import UTCDateTime, utcnow


class KeyOwnerKind(StrEnum):
    ALLIANCE = "alliance"
    COOPERATIVE = "cooperative"
    PARTNER = "partner"


class KeyStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"  # no longer signs, still verifies what it signed
    REVOKED = "revoked"  # signatures made after `revoked_at` are refused


class SigningKey(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    kid: str = Field(max_length=200, unique=True, index=True)
    owner_kind: str = Field(max_length=20, index=True)
    owner_id: int | None = Field(default=None, index=True)
    owner_name: str = Field(max_length=200)
    public_key: str = Field(max_length=64)  # raw Ed25519 public key, base64url
    # Envelope-encrypted private key; the plaintext never reaches the database.
    sealed_private_key: str = Field(sa_type=Text)
    certificate_pem: str = Field(sa_type=Text)
    status: str = Field(default=KeyStatus.ACTIVE, max_length=10)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    not_after: datetime = Field(sa_type=UTCDateTime)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revocation_reason: str | None = Field(default=None, max_length=200)


class Credential(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    gtin: str = Field(max_length=14, index=True)
    lot: str = Field(max_length=20)
    seq: int  # position in the batch's hash chain, from 1
    event_type: str = Field(max_length=40)
    jws: str = Field(sa_type=Text)
    sha256: str = Field(max_length=64, unique=True)
    prev_sha256: str | None = Field(default=None, max_length=64)
    issuer_kid: str = Field(max_length=200, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (UniqueConstraint("gtin", "lot", "seq", name="uq_credential_batch_seq"),)


class LogEntry(SQLModel, table=True):
    """One leaf of the append-only transparency log: the SHA-256 of a signed document's bytes."""

    index: int = Field(primary_key=True)  # 0-based position in the log
    sha256: str = Field(max_length=64, unique=True)  # of the JWS text, as Credential.sha256
    kind: str = Field(max_length=20)  # event / passport
    leaf_hash: str = Field(max_length=64)  # RFC 6962 leaf hash (hex) of the JWS bytes
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Checkpoint(SQLModel, table=True):
    """A signed tree head (C2SP tlog-checkpoint note) published by the alliance."""

    id: int | None = Field(default=None, primary_key=True)
    tree_size: int = Field(index=True)
    root_hash: str = Field(max_length=64)
    # The compact range (roots of the perfect subtrees) so the next head needs only new leaves.
    peaks: str = Field(default="", sa_type=Text)
    note: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ChainHead(SQLModel, table=True):
    """The last link of a batch's hash chain: one row per batch, locked by whoever appends to it, so
    finding the head never reads the chain."""

    gtin: str = Field(max_length=14, primary_key=True)
    lot: str = Field(max_length=20, primary_key=True)
    seq: int = Field(default=0)
    sha256: str | None = Field(default=None, max_length=64)


class LogTile(SQLModel, table=True):
    """One tile of the log's Merkle tree (C2SP tlog-tiles, height 8), with its inner levels.

    A tile of level L holds the hashes of the tree's nodes at height 8·L, `width` (1–256) of them
    from position 256·`index`; `hashes` is that row (exactly the bytes a C2SP tile serves),
    followed by the tile's inner rows (heights 8·L+1 … 8·L+7, each half as long, whole nodes only)
    so that a proof reads stored hashes and never rehashes a tile. Complete subtrees never change:
    a new checkpoint only widens the right-most tile of each level, so the tree grows by appending.
    """

    level: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    index: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    width: int
    hashes: bytes = Field(sa_type=LargeBinary)


class VerifiedMark(SQLModel, table=True):
    """How far a batch's records were last found sound: records 1…`through_seq` carried valid
    signatures and were included in the tree of size `tree_size` (root `root_hash`). `mac` binds
    that to the exact stored bytes (the SHA-256 of each record and its log index) with a key derived
    from the server's secret, so a changed, removed or reordered record no longer matches and is
    verified from scratch; a database writer without the secret cannot vouch for anything."""

    gtin: str = Field(max_length=14, primary_key=True)
    lot: str = Field(max_length=20, primary_key=True)
    through_seq: int
    tree_size: int = Field(sa_type=BigInteger)
    root_hash: str = Field(max_length=64)
    mac: str = Field(max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Passport(SQLModel, table=True):
    """The batch's Digital Product Passport credential; re-issued when the batch's record grows."""

    id: int | None = Field(default=None, primary_key=True)
    gtin: str = Field(max_length=14, index=True)
    lot: str = Field(max_length=20)
    version: int
    jws: str = Field(sa_type=Text)
    sha256: str = Field(max_length=64, unique=True)
    issuer_kid: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (UniqueConstraint("gtin", "lot", "version", name="uq_passport_batch_version"),)


class Recall(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    gtin: str = Field(max_length=14)
    lot: str = Field(max_length=20)
    reason: str = Field(max_length=500)
    recalled_by: str = Field(max_length=120)  # "member:12" or "alliance:1"
    recalled_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (UniqueConstraint("gtin", "lot", name="uq_recall_batch"),)


class BatchLink(SQLModel, table=True):
    """One step of a transformation: input batch → output batch, from a signed processing event.
    An index for "one step back, one step forward"; the signed event stays the source of truth."""

    id: int | None = Field(default=None, primary_key=True)
    input_gtin: str = Field(max_length=14)
    input_lot: str = Field(max_length=20)
    output_gtin: str = Field(max_length=14)
    output_lot: str = Field(max_length=20)
    credential_sha256: str = Field(max_length=64, index=True)

    __table_args__ = (
        Index("ix_batchlink_input", "input_gtin", "input_lot"),
        Index("ix_batchlink_output", "output_gtin", "output_lot"),
    )


class UnitRange(SQLModel, table=True):
    """Serial numbers issued for a batch's units: `{prefix}{n:06d}` for n in [start, start + count).
    A scanned serial outside every issued range is not one of ours."""

    id: int | None = Field(default=None, primary_key=True)
    gtin: str = Field(max_length=14)
    lot: str = Field(max_length=20)
    prefix: str = Field(default="", max_length=8)
    start: int
    count: int
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (Index("ix_unitrange_batch", "gtin", "lot"),)


class LabelJob(SQLModel, table=True):
    """A label sheet being rendered by a worker; the page polls its progress."""

    id: str = Field(primary_key=True, max_length=36)
    owner_id: int = Field(index=True)  # the cooperative
    gtin: str = Field(max_length=14)
    lot: str = Field(max_length=20)
    preset: str = Field(max_length=30)
    serialised: bool = Field(default=False)
    count: int
    error_correction: str = Field(default="M", max_length=1)
    status: str = Field(default="queued", max_length=10)  # queued / running / done / failed
    done: int = Field(default=0)
    warning: str | None = Field(default=None, max_length=300)
    error: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ScanDay(SQLModel, table=True):
    """Scans per batch per day (Asia/Ho_Chi_Minh). Counts only: no addresses, no people."""

    id: int | None = Field(default=None, primary_key=True)
    gtin: str = Field(max_length=14)
    lot: str = Field(max_length=20)
    day: date
    count: int = Field(default=0)

    __table_args__ = (UniqueConstraint("gtin", "lot", "day", name="uq_scanday_batch_day"),)


class UnitScan(SQLModel, table=True):
    """What a genuine single item can produce: its first scan, how often and from how many coarse
    places it was scanned. Places are keyed hashes of a network prefix, never addresses."""

    id: int | None = Field(default=None, primary_key=True)
    gtin: str = Field(max_length=14)
    lot: str = Field(max_length=20)
    serial: str = Field(max_length=20)
    first_scan_at: datetime = Field(sa_type=UTCDateTime)
    last_scan_at: datetime = Field(sa_type=UTCDateTime)
    count: int = Field(default=0)
    places: str = Field(default="", max_length=400)  # comma-separated short place hashes
    flagged: str | None = Field(default=None, max_length=40)

    __table_args__ = (UniqueConstraint("gtin", "lot", "serial", name="uq_unitscan_unit"),)


class ScanAlert(SQLModel, table=True):
    """A pattern a genuine item cannot produce, for the cooperative to look into."""

    id: int | None = Field(default=None, primary_key=True)
    gtin: str = Field(max_length=14, index=True)
    lot: str = Field(max_length=20)
    serial: str | None = Field(default=None, max_length=20)
    rule: str = Field(max_length=40)  # unknown_serial / late_rescan / many_places / too_many_scans
    detail: str = Field(max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProblemReport(SQLModel, table=True):
    """A consumer's report about a batch (no account needed)."""

    id: int | None = Field(default=None, primary_key=True)
    gtin: str = Field(max_length=14, index=True)
    lot: str = Field(max_length=20)
    serial: str | None = Field(default=None, max_length=20)
    category: str = Field(max_length=30)
    message: str = Field(max_length=2000)
    contact: str | None = Field(default=None, max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
