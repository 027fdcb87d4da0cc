"""Postal tasks: quoting a parcel on a worker."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from workers.postal.schemas import Parcel
from workers.postal.services import QuoteService


@shared_task(name="nongsan.postal.quote", acks_late=True, time_limit=30)
def quote_parcel(from_province: int, to_province: int, to_ward: int, weight_g: int, cod_amount_vnd: int = 0) -> dict:
    return asdict(QuoteService().quote(Parcel(from_province, to_province, to_ward, weight_g, cod_amount_vnd)))
