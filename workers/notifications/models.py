"""A record of each notification sent, so a re-run task does not send it twice."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from kernel.timeutil import UTCDateTime, utcnow


class Notification(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=120, unique=True)  # e.g. "new_order:42"
    channel: str = Field(default="email", max_length=20)
    recipient: str = Field(max_length=254)
    subject: str = Field(max_length=300)
    status: str = Field(max_length=20)  # sent / failed
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
