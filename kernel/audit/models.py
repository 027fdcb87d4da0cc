"""One row per administrative action."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from kernel.timeutil import UTCDateTime, utcnow


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # Who: the user when a person acted, else a label such as "system" or "cli".
    actor_user_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    actor_label: str = Field(max_length=120)
    action: str = Field(max_length=80, index=True)  # e.g. "cooperative.approve", "key.revoke"
    object_type: str = Field(max_length=40)
    object_id: str = Field(max_length=80)
    # The cooperative the action concerns, so a cooperative can be shown its own entries.
    cooperative_id: int | None = Field(default=None, index=True)
    before: dict | None = Field(default=None, sa_type=JSON)
    after: dict | None = Field(default=None, sa_type=JSON)
