"""The transactional outbox: work that must happen after a commit, stored in that commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from shop.timeutil import UTCDateTime, utcnow


class OutboxMessage(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=36)  # also the Celery task id
    task_name: str = Field(max_length=120, index=True)
    kwargs: dict = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    send_attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)
