"""Writing to the audit log happens inside the caller's transaction: an action that rolls back
leaves no entry, and an action that commits cannot lose its entry."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from shop.audit.models import AuditEntry


def _plain(value: Any) -> Any:
    """JSON-safe copy of a before/after value (dates as ISO text, enums as their value)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(item) for item in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def current_actor() -> tuple[int | None, str]:
    """The logged-in user when there is a request, else the process (a task or the CLI)."""
    try:
        from flask import has_request_context
        from flask_login import current_user

        if has_request_context() and current_user.is_authenticated:
            return current_user.id, current_user.username
    except Exception:  # noqa: BLE001 - outside Flask there is simply no user
        pass
    return None, "system"


class AuditLog:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(
        self,
        action: str,
        object_type: str,
        object_id: Any,
        *,
        before: dict | None = None,
        after: dict | None = None,
        cooperative_id: int | None = None,
        actor_user_id: int | None = None,
        actor_label: str | None = None,
    ) -> AuditEntry:
        if actor_user_id is None and actor_label is None:
            actor_user_id, actor_label = current_actor()
        entry = AuditEntry(
            actor_user_id=actor_user_id,
            actor_label=(actor_label or "system")[:120],
            action=action,
            object_type=object_type,
            object_id=str(object_id)[:80],
            cooperative_id=cooperative_id,
            before=_plain(before) if before is not None else None,
            after=_plain(after) if after is not None else None,
        )
        self.session.add(entry)
        self.session.flush()
        return entry
