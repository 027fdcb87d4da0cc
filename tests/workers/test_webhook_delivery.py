"""Shipment jobs delivered to a partner's endpoint — a real local HTTP server — signed, retried
on temporary failures, dead-lettered on permanent ones, never creating two shipments."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import select

from shop.orders.schemas import CartLine
from shop.orders.services import OrderService
from shop.orders.tasks import prepare_shipment
from kernel.timeutil import utcnow
from tests.shop.test_orders import _checkout
from workers import webhooks
from kernel.outbox import OutboxMessage
from workers.postal.delivery import WebhookDeliveries, backoff
from workers.postal.models import WebhookDelivery


class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[dict, bytes]] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/nongsan"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def delivery(app, factory, session, receiver):
    cooperative = factory.cooperative()
    partner = factory.partner()
    partner.webhook_url = receiver.url
    partner.webhook_secrets = webhooks.new_secret()
    batch = factory.batch(cooperative, factory.product(cooperative))
    with app.app_context():
        order = OrderService(session).place("hook-order-1", [CartLine(batch_id=batch.id, quantity=1)], _checkout())[0]
        code = prepare_shipment.run(order.id)
        prepare_shipment.run(order.id)  # a retried task queues nothing more
    deliveries = session.exec(select(WebhookDelivery)).all()
    assert len(deliveries) == 1
    assert len(session.exec(select(OutboxMessage).where(OutboxMessage.task_name == "nongsan.postal.deliver_webhook")).all()) == 1
    return partner, code, deliveries[0]


def test_job_arrives_signed_with_the_shipment_code(app, session, receiver, delivery):
    partner, code, item = delivery
    with app.app_context():
        assert WebhookDeliveries(session).attempt(item.id) is None
    [(headers, body)] = receiver.requests
    assert webhooks.verify(partner.webhook_secrets.split(), headers, body) == item.id
    assert json.loads(body)["data"]["code"] == code
    session.refresh(item)
    assert item.status == "delivered" and item.attempts == 1


def test_temporary_failures_are_retried_with_the_same_id(app, session, receiver, delivery):
    _, _, item = delivery
    receiver.answers = [503, 429]
    with app.app_context():
        deliveries = WebhookDeliveries(session)
        assert 1 <= deliveries.attempt(item.id) <= 30
        assert 1 <= deliveries.attempt(item.id) <= 60
        assert deliveries.attempt(item.id) is None
    assert [h["webhook-id"] for h, _ in receiver.requests] == [item.id] * 3  # one idempotency key
    session.refresh(item)
    assert item.status == "delivered" and item.attempts == 3


def test_permanent_refusal_goes_to_the_dead_letters_and_can_be_retried_by_a_person(app, session, receiver, delivery):
    _, _, item = delivery
    receiver.answers = [400]
    with app.app_context():
        deliveries = WebhookDeliveries(session)
        assert deliveries.attempt(item.id) is None
        assert [d.id for d in deliveries.dead_letters()] == [item.id]
        assert deliveries.retry(item.id).status == "pending"
        assert deliveries.attempt(item.id) is None
    session.refresh(item)
    assert item.status == "delivered"


def test_gives_up_after_a_day_of_temporary_failures(app, session, receiver, delivery):
    _, _, item = delivery
    item.created_at = utcnow() - timedelta(hours=25)
    session.flush()
    receiver.answers = [500]
    with app.app_context():
        assert WebhookDeliveries(session).attempt(item.id) is None
    session.refresh(item)
    assert item.status == "failed" and item.last_error == "HTTP 500"


def test_backoff_grows_and_is_capped():
    assert all(1 <= backoff(1) <= 30 for _ in range(50))
    assert all(1 <= backoff(30) <= 3600 for _ in range(50))


def test_alliance_sees_dead_letters_and_retries_them(app, client, factory, session, receiver, delivery):
    from shop.accounts.models import Role
    from tests.factories import csrf_token, login

    _, code, item = delivery
    receiver.answers = [410]
    with app.app_context():
        WebhookDeliveries(session).attempt(item.id)
    factory.user(Role.ALLIANCE_ADMIN, username="deadletters")
    session.commit()
    login(client, "deadletters")
    page = client.get("/alliance/dead-letters").get_data(as_text=True)
    assert code in page and "HTTP 410" in page
    client.post("/alliance/dead-letters", data={"delivery_id": item.id, "csrf_token": csrf_token(page)})
    session.refresh(item)
    assert item.status == "pending"
    assert session.exec(select(OutboxMessage).where(OutboxMessage.task_name == "nongsan.postal.deliver_webhook")).all()


def test_buyer_without_email_gets_a_signed_text_through_the_message_gateway(app, factory, session, receiver):
    from shop.orders.tasks import send_buyer_update
    from workers.notifications.models import Notification

    secret = webhooks.new_secret()
    app.config.update(MESSAGE_WEBHOOK_URL=receiver.url, MESSAGE_WEBHOOK_SECRETS=secret)
    cooperative = factory.cooperative()
    batch = factory.batch(cooperative, factory.product(cooperative))
    with app.app_context():
        order = OrderService(session).place("sms-order-1", [CartLine(batch_id=batch.id, quantity=1)], _checkout())[0]
        assert send_buyer_update.run(order.id, "confirmed") is True
        assert send_buyer_update.run(order.id, "confirmed") is False  # once per moment
        receiver.answers = [400]
        assert send_buyer_update.run(order.id, "delivered") is False  # permanent: recorded, not retried
    headers, body = receiver.requests[0]
    webhooks.verify([secret], headers, body)
    message = json.loads(body)
    assert message["to"] == "0903123456" and order.reference in message["text"]
    statuses = dict(session.exec(select(Notification.key, Notification.status).where(Notification.channel == "sms")).all())
    assert statuses == {f"buyer-sms:{order.id}:confirmed": "sent", f"buyer-sms:{order.id}:delivered": "failed"}
