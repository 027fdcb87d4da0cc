"""Housekeeping tasks of the background side."""

from celery import current_app as current_celery
from celery import shared_task
from flask import current_app

from kernel import outbox


# Periodic: a sweep lost with its worker is simply the next one, so it is acknowledged on receipt.
@shared_task(name="nongsan.outbox.sweep", ignore_result=True, acks_late=False, max_retries=0)
def sweep_outbox() -> int:
    from workers import deadletters

    sent = outbox.sweep()
    # Tracked tasks, and whether each may simply run again (acks_late: idempotent).
    tracked = {name: bool(task.acks_late) for name, task in current_celery.tasks.items() if getattr(task, "tracked", False)}
    return sent + deadletters.resend_stalled(tracked, current_app.extensions["nongsan.outbox_lease"])


@shared_task(name="nongsan.workers.ping", acks_late=False, max_retries=0, dead_letter=False)
def ping() -> str:
    """Does nothing: a round trip through the broker, for health checks and as a benchmark reference."""
    return "pong"
