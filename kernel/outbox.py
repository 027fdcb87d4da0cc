"""Sending tasks only after the transaction that needs them has committed.

`enqueue()` writes an OutboxMessage in the caller's transaction and, once that commits, hands the
message to the broker. If the broker is down or the process dies first, the row stays unsent and
the beat task `nongsan.outbox.sweep` sends it later. A row is claimed (marked sent) before it is
sent, so two senders never both send it, and a row rolled back with a savepoint is never sent; a
row claimed by a process that died before sending is sent again by the stalled-work sweep.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import JSON, update
from sqlmodel import Field, Session, SQLModel, select

from kernel.db import after_commit, db
from kernel.timeutil import UTCDateTime, utcnow

log = logging.getLogger(__name__)


class OutboxMessage(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=36)  # also the Celery task id
    task_name: str = Field(max_length=120, index=True)
    kwargs: dict = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    send_attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)
    # Sent is not done: a worker killed with the message in hand may take it along (the embedded
    # broker never gives it back). The task notes when it starts and when it is done (either way),
    # and a retry says when it is due again; the sweep re-sends work that started long ago and is
    # neither done nor due (see workers.deadletters.resend_stalled).
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


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


def relay(messages: list[tuple[str, str, dict]], *, claim: bool = True) -> int:
    """Send the given messages to the broker. Returns how many went out.

    With `claim` (the relay after a commit and the sweep), each row is first claimed by marking it
    sent where it was not yet: when a slow transaction's own relay and the sweep, or two sweeps,
    reach the same row, only one of them sends it. A send that fails un-marks its row for the
    next sweep; a process that dies between claim and send leaves a row sent but never started,
    which `workers.deadletters.resend_stalled` sends again (every outbox task is tracked).
    The re-send of stalled work passes `claim=False`: its rows were sent before."""
    celery = current_app.extensions["celery"]
    if claim:
        messages = _claim(messages)
    sent: list[str] = []
    failed: dict[str, str] = {}
    for message_id, task_name, kwargs in messages:
        try:
            celery.send_task(task_name, kwargs=kwargs, task_id=message_id, retry=False, ignore_result=True)
            sent.append(message_id)
        except Exception as error:  # noqa: BLE001 - any broker failure leaves the row for the sweep
            log.warning("outbox: could not send %s (%s): %s", task_name, message_id, error)
            failed[message_id] = str(error)[:500]
    # The caller's own transaction has committed already: a failure to write this bookkeeping must
    # not turn its success into an error (a missing mark only means the sweep looks again).
    session = db.new_session()
    try:
        now = utcnow()
        if sent and not claim:
            session.exec(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(sent))  # type: ignore[union-attr]
                .values(sent_at=now, send_attempts=OutboxMessage.send_attempts + 1)
            )
        for message_id, error in failed.items():
            values = {"last_error": error}
            if claim:
                values["sent_at"] = None
            else:
                values["send_attempts"] = OutboxMessage.send_attempts + 1
            session.exec(update(OutboxMessage).where(OutboxMessage.id == message_id).values(**values))
        session.commit()
    except Exception:  # noqa: BLE001 - see above
        session.rollback()
        log.exception("outbox: could not record the outcome of %d send(s)", len(sent) + len(failed))
    finally:
        session.close()
    return len(sent)


def _claim(messages: list[tuple[str, str, dict]]) -> list[tuple[str, str, dict]]:
    """The messages this process may send: those it marked sent itself, in one UPDATE."""
    if not messages:
        return []
    session = db.new_session()
    try:
        claimed = set(session.exec(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([m[0] for m in messages]), OutboxMessage.sent_at.is_(None))  # type: ignore[union-attr]
            .values(sent_at=utcnow(), send_attempts=OutboxMessage.send_attempts + 1)
            .returning(OutboxMessage.id)
        ).scalars())
        session.commit()
    except Exception:  # noqa: BLE001 - the rows stay unsent; the sweep tries again
        session.rollback()
        log.exception("outbox: could not claim %d message(s); the sweep will send them", len(messages))
        return []
    finally:
        session.close()
    return [m for m in messages if m[0] in claimed]


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
