"""Dead letters: a failed task is recorded once per piece of work, sent again through the outbox
with an audit entry, and shown next to failed webhook deliveries in the alliance console."""

from datetime import timedelta

import pytest
from sqlmodel import select

from shop.accounts.models import Role
from kernel.audit.models import AuditEntry
from kernel.timeutil import utcnow
from tests.factories import csrf_token, login
from tests.workers.test_webhook_delivery import Receiver
from workers import deadletters, webhooks
from workers.deadletters import TaskFailures
from kernel.outbox import OutboxMessage
from workers.models import TaskFailure
from workers.postal.models import Partner, WebhookDelivery

PREPARE = "nongsan.orders.prepare_shipment"


def test_the_same_work_failing_again_reopens_its_row(session):
    failures = TaskFailures(session)
    first = failures.record(PREPARE, "run-1", {"order_id": 7}, "OperationalError: server closed the connection", attempts=11)
    assert failures.resolve_work(PREPARE, {"order_id": 7}) is True
    assert first.status == "resolved" and first.resolved_at is not None
    again = failures.record(PREPARE, "run-2", {"order_id": 7}, "OperationalError: again", attempts=1)
    assert again.id == first.id
    assert (again.status, again.attempts, again.task_id, again.resolved_at) == ("open", 12, "run-2", None)
    assert again.first_failed_at <= again.last_failed_at
    other = failures.record(PREPARE, "run-3", {"order_id": 8}, "boom")
    assert other.id != first.id
    assert failures.resolve_work(PREPARE, {"order_id": 9}) is False  # nothing failed for that order


def test_positional_arguments_are_recorded_by_name(app):
    task = app.extensions["celery"].tasks["nongsan.orders.send_buyer_update"]
    assert deadletters.named_arguments(task, (5, "delivered"), {}) == {"order_id": 5, "status": "delivered"}
    assert deadletters.named_arguments(task, (), {"order_id": 5, "status": "x"}) == {"order_id": 5, "status": "x"}


def _failed_delivery(factory, session) -> WebhookDelivery:
    partner = factory.partner()
    item = WebhookDelivery(id="msg_EN000000001VN_created", partner_id=partner.id, shipment_code="EN000000001VN",
                           body="{}", status="failed", attempts=3, last_error="HTTP 410")
    session.add(item)
    session.flush()
    return item


def test_open_count_covers_failed_deliveries_and_open_tasks(factory, session):
    assert deadletters.open_count(session) == 0
    _failed_delivery(factory, session)
    failures = TaskFailures(session)
    failures.record(PREPARE, "r1", {"order_id": 1}, "boom")
    retried = failures.record(PREPARE, "r2", {"order_id": 2}, "boom")
    retried.status = "retried"
    session.flush()
    assert deadletters.open_count(session) == 2


def test_alliance_sees_both_kinds_and_retries_a_task_through_the_outbox(app, client, factory, session):
    delivery = _failed_delivery(factory, session)
    failure = TaskFailures(session).record("nongsan.orders.send_new_order_email", "run-9", {"order_id": 41},
                                           "TemporaryMailError: 451 4.3.0 try again later", attempts=9)
    admin = factory.user(Role.ALLIANCE_ADMIN, username="deadletter-admin")
    session.commit()
    login(client, "deadletter-admin")
    page = client.get("/alliance/dead-letters").get_data(as_text=True)
    assert delivery.shipment_code in page and "HTTP 410" in page
    assert f'id="task-failure-{failure.id}"' in page and "451 4.3.0" in page and "order_id=41" in page

    response = client.post("/alliance/dead-letters", data={"task_failure_id": failure.id, "action": "retry",
                                                          "csrf_token": csrf_token(page)})
    assert response.status_code == 303
    session.refresh(failure)
    assert failure.status == "retried" and failure.retried_at is not None
    [message] = session.exec(select(OutboxMessage).where(OutboxMessage.task_name == "nongsan.orders.send_new_order_email")).all()
    assert message.kwargs == {"order_id": 41}
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "task.retry")).one()
    assert entry.actor_user_id == admin.id and entry.object_id == str(failure.id) and entry.after["task_id"] == message.id
    assert 'data-status="retried"' in client.get("/alliance/dead-letters").get_data(as_text=True)

    # Retrying the same row twice from two stale pages sends it once more, not twice.
    again = client.post("/alliance/dead-letters", data={"task_failure_id": failure.id, "action": "resolve",
                                                       "csrf_token": csrf_token(page)})
    assert again.status_code == 303
    session.refresh(failure)
    assert failure.status == "resolved"
    assert session.exec(select(AuditEntry).where(AuditEntry.action == "task.resolve")).one().actor_user_id == admin.id
    stale = client.post("/alliance/dead-letters", data={"task_failure_id": failure.id, "action": "retry",
                                                       "csrf_token": csrf_token(page)}, follow_redirects=True)
    assert len(session.exec(select(OutboxMessage).where(OutboxMessage.task_name == "nongsan.orders.send_new_order_email")).all()) == 1
    assert f'id="task-failure-{failure.id}"' not in stale.get_data(as_text=True)  # resolved rows leave the list

    # A delivery retry is audited too.
    client.post("/alliance/dead-letters", data={"delivery_id": delivery.id, "csrf_token": csrf_token(page)})
    session.refresh(delivery)
    assert delivery.status == "pending"
    assert session.exec(select(AuditEntry).where(AuditEntry.action == "webhook.retry")).one().object_id == delivery.id


def test_retrying_needs_the_permission_and_a_csrf_token(app, client, factory, session):
    failure = TaskFailures(session).record(PREPARE, "r1", {"order_id": 3}, "boom")
    cooperative = factory.cooperative()
    factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="deadletter-member")
    factory.user(Role.ALLIANCE_ADMIN, username="deadletter-admin2")
    session.commit()
    login(client, "deadletter-member")
    assert client.get("/alliance/dead-letters").status_code == 403
    token = csrf_token(client.get("/htx/products/new").get_data(as_text=True))
    forbidden = client.post("/alliance/dead-letters", data={"task_failure_id": failure.id, "action": "retry", "csrf_token": token})
    assert forbidden.status_code == 403
    client.get("/logout")
    login(client, "deadletter-admin2")
    page = client.get("/alliance/dead-letters").get_data(as_text=True)
    no_token = client.post("/alliance/dead-letters", data={"task_failure_id": failure.id, "action": "retry"})
    assert no_token.status_code == 400
    bad_action = client.post("/alliance/dead-letters", data={"task_failure_id": failure.id, "action": "drop",
                                                             "csrf_token": csrf_token(page)})
    assert bad_action.status_code == 400
    huge_id = client.post("/alliance/dead-letters", data={"task_failure_id": "9" * 20, "action": "retry",
                                                          "csrf_token": csrf_token(page)})
    assert huge_id.status_code == 400
    session.refresh(failure)
    assert failure.status == "open"
    assert not session.exec(select(OutboxMessage).where(OutboxMessage.task_name == PREPARE)).all()


def test_work_whose_worker_died_is_sent_again_then_dead_lettered(app, session):
    now = utcnow()
    long_ago, a_while_ago = now - timedelta(hours=2), now - timedelta(minutes=30)

    def message(n: int, **fields) -> OutboxMessage:
        values = {"task_name": PREPARE, "kwargs": {"order_id": n}, "created_at": long_ago, "sent_at": long_ago,
                  "started_at": long_ago, "send_attempts": 1}
        values.update(fields)
        return OutboxMessage(id=f"a0000000-0000-0000-0000-{n:012d}", **values)

    rows = {
        "started_and_lost": message(1),
        "done": message(2, done_at=long_ago),
        "waiting_to_retry": message(3, next_run_at=now + timedelta(minutes=20)),
        "untracked": message(4, task_name="nongsan.outbox.sweep"),
        "kills_every_worker": message(5, send_attempts=deadletters.MAX_STALLED_SENDS),
        "queued_behind_a_backlog": message(6, started_at=None, sent_at=a_while_ago),
        "lost_by_the_broker": message(7, started_at=None),
        "sent_again_recently": message(8, sent_at=now - timedelta(minutes=1), send_attempts=2),
        "not_idempotent": message(9, task_name="nongsan.accounts.send_invitation"),
        "not_idempotent_never_started": message(10, task_name="nongsan.accounts.send_invitation", started_at=None),
    }
    session.add_all(rows.values())
    session.commit()
    with app.app_context():
        assert deadletters.resend_stalled({PREPARE: True, "nongsan.accounts.send_invitation": False}, timedelta(minutes=10)) == 3
    for row in rows.values():
        session.refresh(row)
    for name in ("started_and_lost", "lost_by_the_broker", "not_idempotent_never_started"):
        assert rows[name].send_attempts == 2 and rows[name].sent_at > long_ago, name
    for name in ("done", "waiting_to_retry", "untracked", "queued_behind_a_backlog", "sent_again_recently"):
        assert rows[name].done_at == (long_ago if name == "done" else None), name
        assert rows[name].send_attempts == (2 if name == "sent_again_recently" else 1), name
    assert rows["kills_every_worker"].done_at is not None and rows["not_idempotent"].done_at is not None
    failure = session.exec(select(TaskFailure).where(TaskFailure.task_name == PREPARE)).one()
    assert failure.kwargs == {"order_id": 5} and "worker lost" in failure.last_error
    half_done = session.exec(select(TaskFailure).where(TaskFailure.task_name == "nongsan.accounts.send_invitation")).one()
    assert half_done.kwargs == {"order_id": 9} and "not idempotent" in half_done.last_error


IDEMPOTENT = {
    "nongsan.orders.prepare_shipment", "nongsan.orders.send_new_order_email", "nongsan.orders.send_recall_alerts",
    "nongsan.orders.send_buyer_update", "nongsan.catalog.send_problem_report", "nongsan.catalog.render_labels",
    "nongsan.postal.deliver_webhook", "nongsan.postal.quote",
}
PERIODIC = {
    "nongsan.outbox.sweep", "nongsan.trace.publish_checkpoint", "nongsan.trace.audit_log", "nongsan.trace.flush_scans",
    "nongsan.shop.release_reservations",
}


def test_every_task_has_bounded_retries_limits_below_the_visibility_timeout_and_says_whether_it_acks_late(app):
    celery = app.extensions["celery"]
    visibility = celery.conf.broker_transport_options.get("visibility_timeout", 3600)
    ours = {name: task for name, task in celery.tasks.items() if name.startswith("nongsan.")}
    assert IDEMPOTENT | PERIODIC <= set(ours)
    for name, task in ours.items():
        assert task.max_retries is not None, name
        assert (task.time_limit or celery.conf.task_time_limit) < visibility, name
        assert (task.soft_time_limit or celery.conf.task_soft_time_limit) < (task.time_limit or celery.conf.task_time_limit), name
        # acks_late means "safe to run twice": each task states it, none inherits it by accident.
        assert "acks_late" in type(task).__dict__, name
        if getattr(task, "autoretry_for", ()):
            assert task.retry_jitter and task.retry_backoff_max <= visibility / 2, name
    assert all(ours[name].acks_late for name in IDEMPOTENT)
    assert not any(ours[name].acks_late for name in PERIODIC)  # beat runs them again anyway


@pytest.fixture
def partner_endpoint():
    server = Receiver()
    yield server
    server.close()


def test_delivery_whose_task_ran_out_of_retries_is_marked_failed_for_the_alliance(app, factory, session, partner_endpoint):
    from workers.postal.tasks import deliver_webhook

    item = _failed_delivery(factory, session)
    partner = session.get(Partner, item.partner_id)
    partner.webhook_url, partner.webhook_secrets = partner_endpoint.url, webhooks.new_secret()
    item.status = "pending"
    session.commit()
    partner_endpoint.answers = [503]  # still a temporary failure, but this was the task's last allowed try
    result = deliver_webhook.apply(kwargs={"delivery_id": item.id}, retries=deliver_webhook.max_retries)
    assert result.successful() and result.result == item.id
    assert len(partner_endpoint.requests) == 1
    session.refresh(item)
    assert item.status == "failed" and item.last_error == "HTTP 503"
    assert deadletters.open_count(session) == 1


def test_a_row_already_sent_again_is_not_sent_a_second_time(app, session):
    """Two clicks (or two people) on Retry queue the work once; the row reopens only if it fails again."""
    with app.test_request_context():
        failures = TaskFailures(session)
        row = failures.record(PREPARE, "r-twice", {"order_id": 7}, "boom")
        assert failures.retry(row.id) is not None
        assert failures.retry(row.id) is None
    messages = session.exec(select(OutboxMessage).where(OutboxMessage.task_name == PREPARE)).all()
    assert len(messages) == 1
