"""Postal tasks: quoting a parcel on a worker."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from workers.postal.schemas import Parcel
from workers.postal.services import QuoteService


@shared_task(name="nongsan.postal.quote", acks_late=True, time_limit=30)
def quote_parcel(from_province: int, to_province: int, to_ward: int, weight_g: int, cod_amount_vnd: int = 0) -> dict:
    return asdict(QuoteService().quote(Parcel(from_province, to_province, to_ward, weight_g, cod_amount_vnd)))


@shared_task(name="nongsan.postal.deliver_webhook", bind=True, acks_late=True, max_retries=None, time_limit=60)
def deliver_webhook(self, delivery_id: str) -> str | None:
    from shop.db import unit_of_work
    from workers.postal.delivery import WebhookDeliveries

    with unit_of_work() as session:
        wait = WebhookDeliveries(session).attempt(delivery_id)
    if wait is not None:
        raise self.retry(countdown=wait)
    return delivery_id
