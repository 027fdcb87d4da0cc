"""Background work for the dashboard: rolling finished days' scans and orders up into daily totals."""

from __future__ import annotations

from celery import shared_task

from kernel.db import unit_of_work


# Idempotent: it only adds days after the last one rolled up, so a retry or a second beat adds nothing.
@shared_task(name="nongsan.insight.roll_up_scans", ignore_result=True, acks_late=True, max_retries=0, tracked=True)
def roll_up_scans() -> int:
    from shop.insight.services import roll_up_scans as roll_up

    with unit_of_work() as session:
        return roll_up(session)


# Idempotent as well: a second run sums the same days again from the same rows. Orders, their lines
# by category and their shipments, which all change after their day for the same reasons.
@shared_task(name="nongsan.insight.roll_up_orders", ignore_result=True, acks_late=True, max_retries=0, tracked=True)
def roll_up_orders() -> int:
    from shop.insight.services import roll_up_orders as roll_up

    with unit_of_work() as session:
        return roll_up(session)
