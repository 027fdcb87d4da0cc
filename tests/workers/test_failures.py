"""Failures with real parts: Redis (or the embedded broker), a real worker process killed with
SIGKILL, a real SMTP server that answers 4xx and 5xx, and a partner's real HTTP endpoint that
checks the Standard Webhooks signature and, as the partner must, creates each shipment once.

The promise under test: no order, job or message is lost or applied twice."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlmodel import func, select

from shop.accounts.models import Role
from kernel.db import unit_of_work
from shop.orders.schemas import CartLine
from shop.orders.services import OrderService
from tests.factories import PASSWORD, Factory, csrf_token
from tests.live import LiveStack, free_port, wait_until
from tests.shop.test_orders import _checkout
from workers import webhooks
from kernel.outbox import OutboxMessage
from workers.models import TaskFailure
from workers.notifications.models import Notification
from workers.postal.models import Shipment, WebhookDelivery

pytestmark = pytest.mark.e2e


class PartnerEndpoint:
    """The partner's side: refuses what does not verify, answers 200 to what does, and creates a
    shipment only for a webhook-id and shipment code it has not seen before."""

    def __init__(self, secret: str, *, hold_first: bool = False) -> None:
        self.secret = secret
        self.received: list[tuple[str, str]] = []  # (webhook-id, shipment code) of every verified request
        self.created: list[str] = []  # shipment codes, each once
        self.refused = 0
        self.hold_first = hold_first
        self.first_arrived = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {key.lower(): value for key, value in self.headers.items()}
                try:
                    message_id = webhooks.verify([endpoint.secret], headers, body)
                except webhooks.WebhookError:
                    endpoint.refused += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                code = json.loads(body)["data"]["code"]
                with endpoint._lock:
                    first = not endpoint.received
                    seen = any(message_id == m or code == c for m, c in endpoint.received)
                    endpoint.received.append((message_id, code))
                    if not seen:
                        endpoint.created.append(code)
                if first and endpoint.hold_first:
                    # Keep the request open: the sender's worker is killed while it waits.
                    endpoint.first_arrived.set()
                    endpoint.release.wait(60)
                try:
                    self.send_response(200)
                    self.end_headers()
                except OSError:
                    pass  # the sender is gone

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/nongsan"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def live(tmp_path):
    from kernel.extensions import limiter

    stack = LiveStack(tmp_path)
    with stack.app.app_context():
        # Login attempts are counted per address in Redis: earlier live tests' logins from
        # 127.0.0.1 in the same minute would otherwise push this one over the limit.
        limiter.reset()
    try:
        yield stack
    finally:
        with stack.app.app_context():
            limiter.reset()  # nor should this test's logins count against the next one
        stack.close()


@pytest.fixture
def partner_endpoint():
    endpoints: list[PartnerEndpoint] = []

    def make(**options) -> PartnerEndpoint:
        endpoints.append(PartnerEndpoint(webhooks.new_secret(), **options))
        return endpoints[-1]

    yield make
    for endpoint in endpoints:
        endpoint.close()


def _shop(live: LiveStack, endpoint: PartnerEndpoint | None, *, post_office: bool = True) -> int:
    """A cooperative with a batch of 200 bags, and the post office (with its endpoint, if any)."""
    with live.app.app_context(), unit_of_work() as session:
        factory = Factory(live.app, session)
        cooperative = factory.cooperative(email="htx-donhang@example.vn")
        if post_office:
            partner = factory.partner()
            if endpoint is not None:
                partner.webhook_url, partner.webhook_secrets = endpoint.url, endpoint.secret
        batch = factory.batch(cooperative, factory.product(cooperative), quantity_kg=Decimal(1000))
        factory.user(Role.ALLIANCE_ADMIN, username="lienminh")
        return batch.id


def _place(app, batch_id: int, key: str) -> int:
    with app.app_context(), unit_of_work() as session:
        return OrderService(session).place(key, [CartLine(batch_id=batch_id, quantity=1)], _checkout(buyer_email=None))[0].id


def _count(live: LiveStack, model, *where) -> int:
    with live.app.app_context(), unit_of_work() as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


def test_orders_placed_while_the_broker_is_down_are_all_delivered_once_when_it_is_back(live, partner_endpoint):
    endpoint = partner_endpoint()
    batch_id = _shop(live, endpoint)
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there: Redis is down
    from shop import create_app

    down = create_app({**live.settings, "INSTANCE_PATH": str(live.instance), "SMTP_PORT": live.smtp.port,
                       "OUTBOX_SWEEP_SECONDS": 2, "BROKER_URL": closed, "RESULT_BACKEND": closed, "REDIS_URL": closed,
                       "RATELIMIT_STORAGE_URI": "memory://"})
    orders = [_place(down, batch_id, f"broker-down-{n}") for n in range(8)]
    down.extensions["nongsan.db"].engine_for(down).dispose()
    # Every order is committed and its jobs wait in the outbox.
    assert _count(live, OutboxMessage, OutboxMessage.sent_at.is_(None)) == 2 * len(orders)  # shipment + e-mail each

    live.start_worker()  # the broker is back; beat's sweep sends what waited
    wait_until(lambda: len(endpoint.created) == len(orders), timeout=120, message="every shipment at the partner")
    wait_until(lambda: _count(live, OutboxMessage, OutboxMessage.done_at.is_(None)) == 0, timeout=60,
               message="every outbox job finished")
    assert len(endpoint.received) == len(orders)  # each exactly once: no retry, no duplicate
    assert len({code for _, code in endpoint.received}) == len(orders)
    assert endpoint.refused == 0
    assert _count(live, Shipment) == len(orders)
    assert _count(live, WebhookDelivery, WebhookDelivery.status == "delivered", WebhookDelivery.attempts == 1) == len(orders)
    wait_until(lambda: len(live.mail.messages) >= len(orders), message="the cooperative's e-mails")
    assert len(live.mail.messages) == len(orders)
    assert _count(live, TaskFailure) == 0


def test_worker_killed_mid_delivery_the_partner_still_creates_the_shipment_once(live, partner_endpoint):
    endpoint = partner_endpoint(hold_first=True)
    batch_id = _shop(live, endpoint)
    live.settings["OUTBOX_LEASE_SECONDS"] = "6"  # how long sent work may stay unfinished before it is sent again
    live.start_worker(beat=False)
    order_id = _place(live.app, batch_id, "killed-worker-1")
    assert endpoint.first_arrived.wait(90), "the webhook never reached the partner"
    live.worker.kill()  # SIGKILL while the partner holds the request open
    live.worker.wait(10)
    endpoint.release.set()
    with live.app.app_context(), unit_of_work() as session:
        [delivery] = session.exec(select(WebhookDelivery)).all()
        assert delivery.status == "pending" and delivery.attempts == 0  # the killed attempt left nothing behind

    live.start_worker()  # a new worker, with beat
    wait_until(lambda: _count(live, WebhookDelivery, WebhookDelivery.status == "delivered") == 1, timeout=90,
               message="the delivery to be sent again and acknowledged")
    code = endpoint.created[0]
    assert endpoint.created == [code]  # the partner created it once
    assert [m for m, _ in endpoint.received] == [f"msg_{code}_created"] * 2  # sent twice, same webhook-id
    with live.app.app_context(), unit_of_work() as session:
        assert session.exec(select(Shipment.code).where(Shipment.order_id == order_id)).all() == [code]
        [delivery] = session.exec(select(WebhookDelivery)).all()
        assert delivery.attempts == 1 and delivery.shipment_code == code
        [message] = session.exec(select(OutboxMessage).where(OutboxMessage.task_name == "nongsan.postal.deliver_webhook")).all()
        assert message.send_attempts == 2 and message.done_at is not None


def _count_smtp_attempts(live: LiveStack) -> list[str]:
    """Every DATA the SMTP server saw, accepted or not, by subject."""
    from email import message_from_bytes, policy

    attempts: list[str] = []
    original = live.mail.handle_DATA

    async def counting(server, session, envelope):
        attempts.append(str(message_from_bytes(envelope.content, policy=policy.default)["Subject"]))
        return await original(server, session, envelope)

    live.mail.handle_DATA = counting
    return attempts


def _reference(live: LiveStack, order_id: int) -> str:
    from shop.orders.models import Order

    with live.app.app_context(), unit_of_work() as session:
        return session.get(Order, order_id).reference


def test_smtp_4xx_is_retried_until_dead_lettered_5xx_is_not_and_the_retry_button_sends_it(live):
    batch_id = _shop(live, None)
    live.settings["TASK_RETRY_MAX_SECONDS"] = "1"  # keep the backoff short for the test
    attempts = _count_smtp_attempts(live)
    live.mail.reject_with = "451 4.3.0 try again later"
    live.start_worker()
    later = _place(live.app, batch_id, "smtp-4xx")
    failure = wait_until(lambda: _failure(live, later), timeout=120, message="the e-mail task in the dead letters")
    reference = _reference(live, later)
    assert failure.attempts == 9  # the first try and its 8 retries
    assert "451" in failure.last_error and failure.status == "open"
    assert sum(reference in subject for subject in attempts) == 9

    live.mail.reject_with = "550 5.1.1 no such user"
    refused = _place(live.app, batch_id, "smtp-5xx")
    wait_until(lambda: _notification(live, refused), message="the refused e-mail recorded")
    assert _notification(live, refused) == "failed"
    assert sum(_reference(live, refused) in subject for subject in attempts) == 1  # not retried
    assert _failure(live, refused) is None  # permanent refusals are recorded, not dead-lettered

    # The mail server works again; the alliance presses "retry".
    live.mail.reject_with = None
    with httpx.Client(base_url=live.base_url, timeout=20) as alliance:
        _login(alliance)
        page = alliance.get("/alliance/dead-letters").text
        assert f'id="task-failure-{failure.id}"' in page and "nongsan.orders.send_new_order_email" in page
        response = alliance.post("/alliance/dead-letters", data={"task_failure_id": failure.id, "action": "retry",
                                                                 "csrf_token": csrf_token(page)})
        assert response.status_code == 303
    wait_until(lambda: [m for m in live.mail.messages if reference in m["Subject"]], message="the retried e-mail")
    wait_until(lambda: _failure(live, later).status == "resolved", message="the dead letter resolved by the success")
    assert len([m for m in live.mail.messages if reference in m["Subject"]]) == 1
    assert _notification(live, later) == "sent"


def test_work_that_cannot_succeed_is_dead_lettered_at_once_and_runs_when_retried_after_the_fix(live):
    batch_id = _shop(live, None, post_office=False)  # no post office configured yet
    live.start_worker()
    order_id = _place(live.app, batch_id, "no-post-office")
    failure = wait_until(lambda: _failure(live, order_id, "nongsan.orders.prepare_shipment"), timeout=90,
                         message="the shipment job in the dead letters")
    assert failure.attempts == 1 and failure.last_error.startswith("ServiceError")  # not a temporary error: no retries
    assert _count(live, Shipment) == 0

    with live.app.app_context(), unit_of_work() as session:
        Factory(live.app, session).partner()  # the alliance configures the post office
    with httpx.Client(base_url=live.base_url, timeout=20) as alliance:
        _login(alliance)
        page = alliance.get("/alliance/dead-letters").text
        alliance.post("/alliance/dead-letters", data={"task_failure_id": failure.id, "action": "retry",
                                                      "csrf_token": csrf_token(page)})
    wait_until(lambda: _count(live, Shipment, Shipment.order_id == order_id) == 1, message="the shipment job")
    wait_until(lambda: _failure(live, order_id, "nongsan.orders.prepare_shipment").status == "resolved",
               message="the dead letter resolved")


def _login(client: httpx.Client) -> None:
    page = client.get("/login").text
    response = client.post("/login", data={"username": "lienminh", "password": PASSWORD, "csrf_token": csrf_token(page)})
    assert response.status_code == 302


def _failure(live: LiveStack, order_id: int, task: str = "nongsan.orders.send_new_order_email") -> TaskFailure | None:
    with live.app.app_context(), unit_of_work() as session:
        rows = session.exec(select(TaskFailure).where(TaskFailure.task_name == task)).all()
        return next((row for row in rows if row.kwargs == {"order_id": order_id}), None)


def _notification(live: LiveStack, order_id: int) -> str | None:
    with live.app.app_context(), unit_of_work() as session:
        return session.exec(select(Notification.status).where(Notification.key == f"new_order:{order_id}")).first()
