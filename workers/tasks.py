"""Housekeeping tasks of the background side."""

from celery import shared_task

from workers import outbox


@shared_task(name="nongsan.outbox.sweep", ignore_result=True)
def sweep_outbox() -> int:
    return outbox.sweep()
