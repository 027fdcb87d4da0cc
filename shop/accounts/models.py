"""Accounts: people who log in. Consumers buy without one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from kernel.permissions import Role  # noqa: F401 - the roles are the kernel's, users hold one
from kernel.timeutil import UTCDateTime, utcnow


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=80, unique=True, index=True)
    display_name: str = Field(max_length=120)
    email: str | None = Field(default=None, max_length=254)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=20)
    cooperative_id: int | None = Field(default=None, foreign_key="cooperative.id", index=True)
    partner_id: int | None = Field(default=None, foreign_key="postal_partner.id", index=True)
    is_active: bool = Field(default=True)
    # The cooperative's own administrator (the applicant's first user): may invite members.
    is_coop_admin: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiKey(SQLModel, table=True):
    """A key for software acting for a cooperative (EPCIS capture) or a postal partner (its API).

    Only a SHA-256 of the secret is stored: the keys are long random strings, so a fast hash is
    enough, and the clear key is shown to its owner once, at creation.
    """

    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(max_length=16, unique=True, index=True)  # public part, shown in lists
    secret_sha256: str = Field(max_length=64)
    name: str = Field(max_length=120)
    owner_kind: str = Field(max_length=20)  # cooperative / partner
    owner_id: int = Field(index=True)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"


class MemberInvitation(SQLModel, table=True):
    """An invitation to join a cooperative. Only the SHA-256 of the token is kept: whoever reads the
    database cannot accept an invitation; the clear token exists only in the link sent."""

    __tablename__ = "member_invitation"

    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(max_length=64, unique=True)
    cooperative_id: int = Field(foreign_key="cooperative.id", index=True)
    channel: str = Field(max_length=10)  # email / sms
    recipient: str = Field(max_length=254)
    status: str = Field(default=InvitationStatus.PENDING, max_length=20)
    invited_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    accepted_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
