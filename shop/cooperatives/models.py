"""Cooperatives (HTX), cooperative groups and unions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from kernel.timeutil import UTCDateTime, utcnow


class CooperativeStatus(StrEnum):
    # On the alliance's registry (imported or entered by staff) but has not applied to sell.
    REGISTERED = "registered"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"


class CooperativeKind(StrEnum):
    COOPERATIVE = "cooperative"  # hợp tác xã
    GROUP = "group"  # tổ hợp tác
    UNION = "union"  # liên hiệp hợp tác xã


class Cooperative(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=80, unique=True, index=True)
    name: str = Field(max_length=200)
    kind: str = Field(default=CooperativeKind.COOPERATIVE, max_length=20)
    registration_no: str = Field(max_length=40, unique=True)
    province_code: int
    ward_code: int
    address: str = Field(max_length=300)
    legal_representative: str = Field(default="", max_length=120)
    phone: str = Field(max_length=20)
    email: str | None = Field(default=None, max_length=254)
    description: str = Field(default="", max_length=2000)
    status: str = Field(default=CooperativeStatus.PENDING, max_length=20, index=True)
    # Cooperatives with their own GS1 company prefix number their GTINs themselves; the others
    # get GTINs under the alliance's prefix.
    gs1_company_prefix: str | None = Field(default=None, max_length=12)
    bank_bin: str | None = Field(default=None, max_length=6)
    bank_account: str | None = Field(default=None, max_length=19)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Onboarding: what the applicant says it sells, when it applied, and the alliance's last
    # decision (approve, reject, suspend, reinstate) with its reason, shown to the applicant.
    main_products: str = Field(default="", max_length=1000)
    applied_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decision_reason: str | None = Field(default=None, max_length=1000)
