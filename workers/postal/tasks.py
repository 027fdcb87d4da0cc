"""Postal tasks: quoting a parcel on a worker."""

from __future__ import annotations

from celery import shared_task

from workers.celery_app import retry_policy
from workers.postal.schemas import Parcel
from workers.postal.services import QuoteService


# Read-only and cheap to repeat, so acks_late is safe; the time limit leaves room for the carrier's timeout.
@shared_task(name="nongsan.postal.quote", acks_late=True, time_limit=30, dead_letter=False)
def quote_parcel(from_province: int, to_province: int, to_ward: int, weight_g: int, cod_amount_vnd: int = 0,
                 length_cm: int = 0, width_cm: int = 0, height_cm: int = 0) -> dict:
    # No session of its own: a quote usually needs no database at all (see workers.postal.quotes),
    # and QuoteService opens a short one when it must read the version in force.
    parcel = Parcel(from_province, to_province, to_ward, weight_g, cod_amount_vnd, length_cm, width_cm, height_cm)
    return QuoteService().quote(parcel).as_dict()


# The webhook-id is stable and the delivery row knows when it is done: idempotent, so acks_late.
# The partner's own failures are paced by the delivery (backoff with jitter for 24 h, then failed);
# max_retries only bounds the count, and the database being away is retried like any task.
@shared_task(name="nongsan.postal.deliver_webhook", bind=True, acks_late=True, time_limit=60, tracked=True,
             **retry_policy(max_retries=200))
def deliver_webhook(self, delivery_id: str) -> str | None:
    from kernel.db import unit_of_work
    from workers.postal.delivery import WebhookDeliveries

    with unit_of_work() as session:
        deliveries = WebhookDeliveries(session)
        wait = deliveries.attempt(delivery_id)
        if wait is not None and self.request.retries >= self.max_retries:
            deliveries.give_up(delivery_id)
            wait = None
    if wait is not None:
        raise self.retry(countdown=wait)
    return delivery_id
