"""Sending tasks only after the transaction that needs them has committed.

`enqueue()` writes an OutboxMessage in the caller's transaction and, once that commits, hands the
message to the broker. If the broker is down or the process dies first, the row stays unsent and
the beat task `nongsan.outbox.sweep` sends it later. Tasks are idempotent and keyed by business ids,
so the rare double send (sent, but crashed before marking) does no harm.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import update
from sqlmodel import Session, select

from shop.db import after_commit, db
from shop.timeutil import utcnow
from workers.models import OutboxMessage

log = logging.getLogger(__name__)


_BATCH_KEY = "nongsan_outbox_batch"


def enqueue(session: Session, task_name: str, **kwargs) -> OutboxMessage:
    message = OutboxMessage(id=str(uuid.uuid4()), task_name=task_name, kwargs=kwargs)
    session.add(message)
    batch = session.info.get(_BATCH_KEY)
    if batch is None:
        # One relay per transaction, however many messages it wrote: one broker connection and
        # one UPDATE marking them sent.
        batch = session.info[_BATCH_KEY] = []
        app = current_app._get_current_object()  # type: ignore[attr-defined]

        def _relay() -> None:
            messages = session.info.pop(_BATCH_KEY, None) or batch
            with app.app_context():
                relay(messages)

        after_commit(session, _relay)
    batch.append((message.id, task_name, kwargs))
    return message


def relay(messages: list[tuple[str, str, dict]]) -> int:
    """Send the given messages to the broker and mark the ones that went out. Returns the count."""
    celery = current_app.extensions["celery"]
    sent: list[str] = []
    failed: dict[str, str] = {}
    for message_id, task_name, kwargs in messages:
        try:
            celery.send_task(task_name, kwargs=kwargs, task_id=message_id, retry=False, ignore_result=True)
            sent.append(message_id)
        except Exception as error:  # noqa: BLE001 - any broker failure leaves the row for the sweep
            log.warning("outbox: could not send %s (%s): %s", task_name, message_id, error)
            failed[message_id] = str(error)[:500]
    session = db.new_session()
    try:
        now = utcnow()
        if sent:
            session.exec(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(sent))  # type: ignore[union-attr]
                .values(sent_at=now, send_attempts=OutboxMessage.send_attempts + 1)
            )
        for message_id, error in failed.items():
            session.exec(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id)
                .values(send_attempts=OutboxMessage.send_attempts + 1, last_error=error)
            )
        session.commit()
    finally:
        session.close()
    return len(sent)


def pending(session: Session, older_than: timedelta, limit: int = 500) -> list[OutboxMessage]:
    cutoff = utcnow() - older_than
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.created_at <= cutoff)  # type: ignore[union-attr]
        .order_by(OutboxMessage.created_at)
        .limit(limit)
    )
    return list(session.exec(query))


def sweep(older_than: timedelta = timedelta(seconds=10)) -> int:
    """Send what is still pending; called by beat and by `nongsan outbox sweep`."""
    session = db.new_session()
    try:
        rows = [(m.id, m.task_name, dict(m.kwargs)) for m in pending(session, older_than)]
    finally:
        session.close()
    if not rows:
        return 0
    return relay(rows)
