"""The dead letters of the background side (the outbox's table is the kernel's: `kernel.outbox`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from kernel.timeutil import UTCDateTime, utcnow


class DeadLetterStatus:
    OPEN = "open"  # gave up; waiting for a person
    RETRIED = "retried"  # a person sent it again; not yet known to have worked
    RESOLVED = "resolved"  # the same work later succeeded, or a person closed it


class TaskFailure(SQLModel, table=True):
    """A task that failed for good: its retries ran out or its error cannot be retried.

    One row per piece of work (task name + arguments, hashed into `fingerprint`), so the same
    work failing again reopens its row instead of adding another.
    """

    __tablename__ = "task_failure"

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(max_length=64, unique=True)
    task_name: str = Field(max_length=120, index=True)
    task_id: str = Field(max_length=64)  # the last failed run
    kwargs: dict = Field(default_factory=dict, sa_type=JSON)
    attempts: int = Field(default=0)  # runs that failed, retries included
    last_error: str = Field(default="", max_length=1000)
    first_failed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_failed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status: str = Field(default=DeadLetterStatus.OPEN, max_length=10, index=True)
    retried_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
