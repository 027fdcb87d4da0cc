"""Writing to the audit log happens inside the caller's transaction: an action that rolls back
leaves no entry, and an action that commits cannot lose its entry."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from kernel.audit.models import AuditEntry


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


class AuditTrail:
    """Reading the log: filtered, newest first, optionally limited to one cooperative's entries."""

    def __init__(self, session: Session, *, cooperative_id: int | None = None) -> None:
        self.session = session
        # When set, the reader is that cooperative: it sees its own entries whatever it asks for.
        self.scope = cooperative_id

    def _query(self, *, action: str | None = None, cooperative_id: int | None = None,
               since: datetime | None = None, until: datetime | None = None):
        from sqlmodel import select

        query = select(AuditEntry)
        if self.scope is not None:
            query = query.where(AuditEntry.cooperative_id == self.scope)
        elif cooperative_id is not None:
            query = query.where(AuditEntry.cooperative_id == cooperative_id)
        if action:
            query = query.where(AuditEntry.action == action)
        if since is not None:
            query = query.where(AuditEntry.at >= since)
        if until is not None:
            query = query.where(AuditEntry.at < until)
        return query

    def page(self, page: int = 1, per_page: int = 50, **filters) -> tuple[list[AuditEntry], int]:
        from sqlalchemy import func
        from sqlmodel import select

        query = self._query(**filters)
        total = self.session.exec(select(func.count()).select_from(query.subquery())).one()
        rows = self.session.exec(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())  # type: ignore[attr-defined]
                                 .offset((max(1, page) - 1) * per_page).limit(per_page))
        return list(rows), total

    def all(self, limit: int = 100_000, **filters) -> list[AuditEntry]:
        query = self._query(**filters).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())  # type: ignore[attr-defined]
        return list(self.session.exec(query.limit(limit)))

    def actions(self) -> list[str]:
        from sqlmodel import select

        query = select(AuditEntry.action).distinct()
        if self.scope is not None:
            query = query.where(AuditEntry.cooperative_id == self.scope)
        return sorted(self.session.exec(query))


def changes(before: dict | None, after: dict | None) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for each field that differs, in a stable order: the readable diff."""
    before, after = before or {}, after or {}
    keys = list(dict.fromkeys([*before.keys(), *after.keys()]))
    return [(key, before.get(key), after.get(key)) for key in keys if before.get(key) != after.get(key)]
