"""Delivering shipment jobs to partners' webhook endpoints, signed the Standard Webhooks way.

Temporary failures (network errors, timeouts, 408, 429 and 5xx answers) are retried with
exponential backoff and full jitter for up to 24 hours; then, or at once for any other 4xx, the
delivery is marked failed and shows in the alliance console's dead-letter list.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta

import httpx
from sqlalchemy import update
from sqlmodel import Session, select

from kernel.timeutil import utcnow
from workers import webhooks
from workers.postal.models import Partner, Shipment, WebhookDelivery
from workers.postal.schemas import shipment_public

GIVE_UP_AFTER = timedelta(hours=24)
# The longest wait stays below half of Redis's visibility timeout (1 h), or Redis would hand the
# waiting task to a second worker.
BASE_DELAY, MAX_DELAY = 30, 1800


_client: httpx.Client | None = None


def http_client() -> httpx.Client:
    """One client per process: building one (its TLS context) costs more than a local POST, and
    it keeps connections to partners open between deliveries."""
    global _client
    if _client is None:
        _client = httpx.Client(follow_redirects=False)
    return _client


def backoff(attempt: int) -> int:
    """Full jitter: a random wait up to 30 s · 2^attempt, capped at half an hour."""
    return random.randint(1, min(MAX_DELAY, BASE_DELAY * 2 ** max(0, attempt - 1)))


class WebhookDeliveries:
    def __init__(self, session: Session, *, timeout: float = 10) -> None:
        self.session = session
        self.timeout = timeout

    def queue_for(self, shipment: Shipment) -> WebhookDelivery | None:
        partner = self.session.get(Partner, shipment.partner_id)
        if partner is None or not partner.webhook_url:
            return None
        delivery_id = f"msg_{shipment.code}_created"
        existing = self.session.get(WebhookDelivery, delivery_id)
        if existing is not None:
            return existing
        body = json.dumps({"type": "shipment.created", "data": shipment_public(shipment)}, ensure_ascii=False)
        delivery = WebhookDelivery(id=delivery_id, partner_id=partner.id, shipment_code=shipment.code, body=body)
        self.session.add(delivery)
        self.session.flush()
        return delivery

    def attempt(self, delivery_id: str) -> int | None:
        """Try once. Returns the seconds to wait before the next try, or None when finished."""
        delivery = self.session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status != "pending":
            return None
        partner = self.session.get(Partner, delivery.partner_id)
        secrets = (partner.webhook_secrets or "").split()
        body = delivery.body.encode()
        delivery.attempts += 1
        temporary = True
        try:
            response = http_client().post(partner.webhook_url, content=body, timeout=self.timeout,
                                  headers=webhooks.sign_headers(secrets, delivery.id, body))
            delivery.last_status_code = response.status_code
            if 200 <= response.status_code < 300:
                delivery.status, delivery.delivered_at, delivery.last_error = "delivered", utcnow(), None
                self.session.flush()
                return None
            temporary = response.status_code in (408, 429) or response.status_code >= 500
            delivery.last_error = f"HTTP {response.status_code}"
        except httpx.HTTPError as error:
            delivery.last_error = f"{type(error).__name__}: {error}"[:300]
        if not temporary or utcnow() - delivery.created_at > GIVE_UP_AFTER:
            delivery.status = "failed"
            self.session.flush()
            return None
        self.session.flush()
        return backoff(delivery.attempts)

    def give_up(self, delivery_id: str) -> None:
        """The task ran out of retries before the 24 hours did: failed, shown to the alliance."""
        delivery = self.session.get(WebhookDelivery, delivery_id)
        if delivery is not None and delivery.status == "pending":
            delivery.status = "failed"
            self.session.flush()

    def dead_letters(self) -> list[WebhookDelivery]:
        return list(self.session.exec(select(WebhookDelivery).where(WebhookDelivery.status == "failed")
                                      .order_by(WebhookDelivery.created_at.desc())))  # type: ignore[attr-defined]

    def retry(self, delivery_id: str) -> WebhookDelivery | None:
        """A person asks for another round (alliance console): back to pending, clock restarted."""
        # Claimed by one conditional UPDATE, so two clicks at once queue one delivery round.
        claimed = self.session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "failed")
            .values(status="pending", created_at=utcnow(), last_error=None)
        )
        if claimed.rowcount != 1:
            return None
        return self.session.exec(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                                 .execution_options(populate_existing=True)).one()
