"""What the alliance knows about each organisation on its registry, beside the cooperative row itself.

The `cooperative` table holds the identity every part of the service uses (name, registration
number, address, status); these tables add the survey data the alliance keeps: sector, size,
capital, union membership, certifications and OCOP products. An import waiting for confirmation is
kept here too, so that any web process can confirm what another one previewed.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, LargeBinary
from sqlmodel import Field, SQLModel

from kernel.timeutil import UTCDateTime, utcnow


class RegistryProfile(SQLModel, table=True):
    __tablename__ = "registry_profile"

    cooperative_id: int = Field(foreign_key="cooperative.id", primary_key=True)
    sector: str = Field(default="", max_length=30, index=True)  # a code of shop.registry.schemas.SECTORS
    founded_on: date | None = None
    member_count: int | None = None
    charter_capital_vnd: int | None = Field(default=None, sa_type=BigInteger)  # whole dong; billions overflow int32
    # The union (liên hiệp HTX) this cooperative or group belongs to.
    union_id: int | None = Field(default=None, foreign_key="cooperative.id", index=True)
    certifications: str = Field(default="", max_length=500)
    survey_notes: str = Field(default="", max_length=2000)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (
        CheckConstraint("member_count IS NULL OR member_count >= 0", name="members_not_negative"),
        CheckConstraint("charter_capital_vnd IS NULL OR charter_capital_vnd >= 0", name="capital_not_negative"),
    )


class RegistryOcopProduct(SQLModel, table=True):
    """A product of the cooperative rated in the One Commune One Product programme."""

    __tablename__ = "registry_ocop_product"

    id: int | None = Field(default=None, primary_key=True)
    cooperative_id: int = Field(foreign_key="cooperative.id", index=True)
    name: str = Field(max_length=200)
    stars: int

    __table_args__ = (CheckConstraint("stars BETWEEN 3 AND 5", name="stars_range"),)


class PendingImport(SQLModel, table=True):
    """An uploaded spreadsheet between its preview and its confirmation (or expiry)."""

    __tablename__ = "registry_pending_import"

    id: str = Field(primary_key=True, max_length=43)  # random URL-safe token
    user_id: int = Field(foreign_key="user_account.id", index=True)
    filename: str = Field(max_length=200)
    content: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
