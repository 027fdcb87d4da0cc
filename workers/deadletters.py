"""Work that gave up: failed tasks and webhook deliveries, listed in the alliance console with a
retry button.

Every task failure ends here through the Celery base task (`workers.celery_app`): a task whose
bounded retries ran out, or whose error cannot be retried, is recorded once per piece of work (the
task name and its arguments). Retrying sends the work again through the outbox, so it leaves only
after the commit, and is written to the audit log. When the same work later succeeds, its row is
resolved on its own.

`open_count` is what the dashboard shows: failed webhook deliveries and failed tasks still open.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from kernel.timeutil import utcnow
from kernel.outbox import OutboxMessage
from workers.models import DeadLetterStatus, TaskFailure

log = logging.getLogger(__name__)

#: After this many sends without the task ever finishing, the work is dead-lettered instead.
MAX_STALLED_SENDS = 5


def fingerprint(task_name: str, kwargs: dict) -> str:
    canonical = json.dumps(kwargs, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(f"{task_name}\n{canonical}".encode()).hexdigest()


def named_arguments(task, args, kwargs) -> dict:
    """The call as keyword arguments only, the way the outbox sends work."""
    kwargs = dict(kwargs or {})
    if not args:
        return kwargs
    try:
        return dict(inspect.signature(task.run).bind_partial(*args, **kwargs).arguments)
    except (TypeError, ValueError):
        return {**kwargs, "args": list(args)}


def open_count(session: Session) -> int:
    from workers.postal.models import WebhookDelivery

    deliveries = session.exec(select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "failed")).one()
    tasks = session.exec(select(func.count()).select_from(TaskFailure).where(TaskFailure.status == DeadLetterStatus.OPEN)).one()
    return int(deliveries) + int(tasks)


@dataclass(frozen=True)
class DeadLetterPage:
    tasks: list[TaskFailure]
    deliveries: list  # WebhookDelivery rows that gave up


class TaskFailures:
    """The dead-letter table of tasks."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, task_name: str, task_id: str, kwargs: dict, error: str, attempts: int = 1) -> TaskFailure:
        key = fingerprint(task_name, kwargs)
        now = utcnow()
        existing = self._by_fingerprint(key)
        if existing is None:
            try:
                with self.session.begin_nested():
                    row = TaskFailure(fingerprint=key, task_name=task_name, task_id=task_id, kwargs=kwargs,
                                      attempts=attempts, last_error=error[:1000], first_failed_at=now, last_failed_at=now)
                    self.session.add(row)
                return row
            except IntegrityError:  # the same work failed on another worker at the same moment
                existing = self._by_fingerprint(key)
        existing.task_id, existing.last_error, existing.last_failed_at = task_id, error[:1000], now
        existing.attempts += attempts
        existing.status, existing.resolved_at = DeadLetterStatus.OPEN, None
        self.session.flush()
        return existing

    def resolve_work(self, task_name: str, kwargs: dict) -> bool:
        """The same work has now succeeded: its dead letter, if any, is resolved."""
        row = self._by_fingerprint(fingerprint(task_name, kwargs))
        if row is None or row.status == DeadLetterStatus.RESOLVED:
            return False
        row.status, row.resolved_at = DeadLetterStatus.RESOLVED, utcnow()
        self.session.flush()
        return True

    def waiting(self) -> list[TaskFailure]:
        query = (select(TaskFailure).where(TaskFailure.status != DeadLetterStatus.RESOLVED)
                 .order_by(TaskFailure.last_failed_at.desc()))  # type: ignore[attr-defined]
        return list(self.session.exec(query))

    def retry(self, failure_id: int) -> TaskFailure | None:
        """A person sends the work again: through the outbox (after the commit), recorded in the audit log."""
        from kernel.audit.services import AuditLog
        from kernel import outbox

        # Only an open row is sent again, and the row is claimed by one conditional UPDATE: a
        # double click, a stale page or two people at once queue the work once. A retried run
        # that fails again reopens the row (task_failed), and the button comes back.
        claimed = self.session.execute(
            update(TaskFailure).where(TaskFailure.id == failure_id, TaskFailure.status == DeadLetterStatus.OPEN)
            .values(status=DeadLetterStatus.RETRIED, retried_at=utcnow())
        )
        if claimed.rowcount != 1:
            return None
        row = self.session.exec(select(TaskFailure).where(TaskFailure.id == failure_id)
                                .execution_options(populate_existing=True)).one()
        before = {"status": DeadLetterStatus.OPEN}
        message = outbox.enqueue(self.session, row.task_name, **row.kwargs)
        AuditLog(self.session).record("task.retry", "task_failure", row.id, before=before,
                                      after={"status": row.status, "task": row.task_name, "kwargs": row.kwargs,
                                             "task_id": message.id})
        self.session.flush()
        return row

    def resolve(self, failure_id: int) -> TaskFailure | None:
        """A person closes it without running it again (the work was done another way)."""
        from kernel.audit.services import AuditLog

        row = self.session.get(TaskFailure, failure_id)
        if row is None or row.status == DeadLetterStatus.RESOLVED:
            return None
        before = {"status": row.status}
        row.status, row.resolved_at = DeadLetterStatus.RESOLVED, utcnow()
        AuditLog(self.session).record("task.resolve", "task_failure", row.id, before=before,
                                      after={"status": row.status, "task": row.task_name})
        self.session.flush()
        return row

    def _by_fingerprint(self, key: str) -> TaskFailure | None:
        return self.session.exec(select(TaskFailure).where(TaskFailure.fingerprint == key)).first()


class DeadLetters:
    """Both kinds together, as the alliance console shows them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.tasks = TaskFailures(session)

    def page(self) -> DeadLetterPage:
        from workers.postal.delivery import WebhookDeliveries

        return DeadLetterPage(tasks=self.tasks.waiting(), deliveries=WebhookDeliveries(self.session).dead_letters())

    def retry_delivery(self, delivery_id: str):
        from kernel.audit.services import AuditLog
        from kernel import outbox
        from workers.postal.delivery import WebhookDeliveries

        delivery = WebhookDeliveries(self.session).retry(delivery_id)
        if delivery is None:
            return None
        message = outbox.enqueue(self.session, "nongsan.postal.deliver_webhook", delivery_id=delivery.id)
        AuditLog(self.session).record("webhook.retry", "webhook_delivery", delivery.id, before={"status": "failed"},
                                      after={"status": delivery.status, "shipment": delivery.shipment_code,
                                             "task_id": message.id})
        return delivery


# -- called by the Celery base task, in the worker ------------------------------------------------

def _own_session():
    from kernel.db import db

    return db.new_session()


def _bookkeeping(what: str, task_id: str, write) -> None:
    """Best effort: a task must not fail because its bookkeeping could not be written (the
    database may be the very thing its retries wait for). Without the mark, the sweep merely sends
    the work once more later, and the task is idempotent. Losing such a mark in a database crash
    costs no more, so on PostgreSQL its commit does not wait for the WAL flush."""
    from sqlalchemy import text

    session = _own_session()
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.exec(text("SET LOCAL synchronous_commit = off"))
        write(session)
        session.commit()
    except Exception:
        session.rollback()
        log.warning("could not record that task %s %s", task_id, what, exc_info=True)
    finally:
        session.close()


def task_starting(task_id: str) -> None:
    _bookkeeping("started", task_id, lambda session: session.exec(
        update(OutboxMessage).where(OutboxMessage.id == task_id).values(started_at=utcnow())))


def task_succeeded(task, task_id: str, args, kwargs) -> None:
    def write(session) -> None:
        session.exec(update(OutboxMessage).where(OutboxMessage.id == task_id, OutboxMessage.done_at.is_(None))  # type: ignore[union-attr]
                     .values(done_at=utcnow()))
        TaskFailures(session).resolve_work(task.name, named_arguments(task, args, kwargs))

    _bookkeeping("succeeded", task_id, write)


def task_retrying(task_id: str, due: datetime) -> None:
    _bookkeeping("will retry", task_id, lambda session: session.exec(
        update(OutboxMessage).where(OutboxMessage.id == task_id).values(next_run_at=due)))


def task_failed(task, task_id: str, args, kwargs, error: BaseException, attempts: int) -> None:
    """Record the failure; if even that fails (the database is the problem), the outbox row stays
    unfinished and the sweep sends the work again later."""
    text = f"{type(error).__name__}: {error}"
    session = _own_session()
    try:
        TaskFailures(session).record(task.name, task_id, named_arguments(task, args, kwargs), text, attempts)
        session.exec(update(OutboxMessage).where(OutboxMessage.id == task_id).values(done_at=utcnow()))
        session.commit()
        log.error("task %s[%s] dead-lettered after %d attempt(s): %s", task.name, task_id, attempts, text)
    except Exception:  # never mask the task's own failure
        session.rollback()
        log.exception("could not record the failure of %s[%s]", task.name, task_id)
    finally:
        session.close()


def resend_stalled(tracked: dict[str, bool], lease: timedelta, limit: int = 200) -> int:
    """Send again outbox work whose worker died with it, or dead-letter it when that already
    happened MAX_STALLED_SENDS times (a message that kills its worker). `tracked` maps each task
    name to whether it is idempotent (acks_late): work that is not may have been half done, so it
    goes to the dead letters for a person instead of running again. Returns the number re-sent.

    Stalled: started (or last sent) longer than `lease` ago, not done and no retry due since. Work
    sent but never started is only suspected after a much longer wait, since it may simply be
    queued behind a backlog; it is lost only when the broker lost it (Redis restarted without
    persistence, or the embedded broker's worker died with it reserved)."""
    from kernel import outbox

    if not tracked:
        return 0
    now = utcnow()
    cutoff, never_started_cutoff = now - lease, now - max(4 * lease, timedelta(hours=1))
    session = _own_session()
    try:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.task_name.in_(list(tracked)), OutboxMessage.done_at.is_(None),  # type: ignore[attr-defined,union-attr]
                   OutboxMessage.sent_at.is_not(None),  # type: ignore[union-attr]
                   or_(and_(OutboxMessage.started_at < cutoff, OutboxMessage.sent_at < cutoff,  # type: ignore[operator]
                            or_(OutboxMessage.next_run_at.is_(None), OutboxMessage.next_run_at < cutoff)),  # type: ignore[union-attr,operator]
                       and_(OutboxMessage.started_at.is_(None), OutboxMessage.sent_at < never_started_cutoff)))  # type: ignore[union-attr,operator]
            .order_by(OutboxMessage.sent_at)
            .limit(limit)
        )
        stalled = list(session.exec(query))
        again: list[tuple[str, str, dict]] = []
        failures = TaskFailures(session)
        for message in stalled:
            if not tracked[message.task_name] and message.started_at is not None:
                failures.record(message.task_name, message.id, dict(message.kwargs),
                                "started but never finished (worker lost or time limit); not idempotent, so not re-sent")
                message.done_at = utcnow()
            elif message.send_attempts >= MAX_STALLED_SENDS:
                failures.record(message.task_name, message.id, dict(message.kwargs),
                                f"did not finish after {message.send_attempts} sends (worker lost or time limit)")
                message.done_at = utcnow()
            else:
                again.append((message.id, message.task_name, dict(message.kwargs)))
        session.commit()
    finally:
        session.close()
    for message_id, task_name, _ in again:
        log.warning("outbox: %s (%s) was sent but never finished; sending it again", task_name, message_id)
    return outbox.relay(again, claim=False) if again else 0
