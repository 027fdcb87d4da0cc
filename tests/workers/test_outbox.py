from datetime import timedelta

from sqlmodel import select

from shop import create_app
from kernel import outbox
from kernel.outbox import OutboxMessage


def test_message_is_sent_after_commit_and_marked(app, session):
    with app.app_context():
        from kernel.db import unit_of_work

        with unit_of_work() as work:
            message = outbox.enqueue(work, "nongsan.outbox.sweep")
            assert session.get(OutboxMessage, message.id) is None  # nothing visible before the flush/commit
    stored = session.get(OutboxMessage, message.id)
    assert stored is not None and stored.sent_at is not None and stored.send_attempts == 1


def test_rolled_back_transaction_leaves_no_message_and_sends_nothing(app, session):
    with app.app_context():
        from kernel.db import get_session

        work = get_session()
        message = outbox.enqueue(work, "nongsan.outbox.sweep")
        work.flush()
        work.rollback()
        assert "nongsan_after_commit" not in work.info
    assert session.get(OutboxMessage, message.id) is None


def test_unreachable_broker_leaves_message_pending_until_the_sweep(app, session, tmp_path, db_connection):
    from tests.conftest import base_config

    down = create_app({**base_config(tmp_path / "down", app.config["DATABASE_URL"], "redis://127.0.0.1:1/0"),
                       "DATABASE_BIND": db_connection})
    with down.app_context():
        from kernel.db import unit_of_work

        with unit_of_work() as work:
            message = outbox.enqueue(work, "nongsan.outbox.sweep")
    pending = session.get(OutboxMessage, message.id)
    session.refresh(pending)
    assert pending.sent_at is None and pending.last_error
    with app.app_context():
        assert outbox.sweep(older_than=timedelta(0)) >= 1
    session.refresh(pending)
    assert pending.sent_at is not None
    assert session.exec(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None), OutboxMessage.id == message.id)).first() is None


def test_a_message_is_sent_by_whoever_claims_it_first_and_only_once(app, session):
    """A slow transaction's own relay and the sweep (or two sweeps) reaching the same row: the
    first claims it, the others find it taken and send nothing."""
    with app.app_context():
        from kernel.db import unit_of_work

        with unit_of_work() as work:
            work.add(OutboxMessage(id="claim-once-1", task_name="nongsan.outbox.sweep", kwargs={}))
        row = [("claim-once-1", "nongsan.outbox.sweep", {})]
        assert outbox.relay(row) == 1
        assert outbox.relay(row) == 0
        assert outbox.sweep(older_than=timedelta(0)) == 0
    stored = session.get(OutboxMessage, "claim-once-1")
    session.refresh(stored)
    assert stored.sent_at is not None and stored.send_attempts == 1
