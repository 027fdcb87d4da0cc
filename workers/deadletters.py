"""Work that gave up after its retries: listed in the alliance console with a retry button.

`open_count` is what the dashboard shows; it grows to cover every task kind that can dead-letter.
"""

from __future__ import annotations

from sqlmodel import Session, func, select


def open_count(session: Session) -> int:
    from workers.postal.models import WebhookDelivery

    return int(session.exec(select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "failed")).one())
