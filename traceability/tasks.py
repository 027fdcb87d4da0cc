"""Beat tasks of the trust side: publish log checkpoints, audit the log."""

from __future__ import annotations

import logging

from celery import shared_task

from kernel.db import unit_of_work
from traceability.services import key_service, transparency_log

log = logging.getLogger(__name__)


# Periodic tasks: the next beat run is the retry, so none retries itself or is acknowledged late.
@shared_task(name="nongsan.trace.publish_checkpoint", ignore_result=True, acks_late=False, max_retries=0, tracked=True)
def publish_checkpoint() -> int | None:
    """Sign a new tree head when the cadence says one is due (idempotent; beat asks every few
    seconds, and it costs two index look-ups when nothing is due)."""
    with unit_of_work() as session:
        checkpoint = transparency_log(session, key_service(session)).publish_if_due()
        return checkpoint.tree_size if checkpoint else None


@shared_task(name="nongsan.trace.audit_log", ignore_result=True, acks_late=False, max_retries=0, tracked=True)
def audit_log() -> list[str]:
    """Recompute the log from the database and compare with the signed checkpoints."""
    with unit_of_work() as session:
        findings = transparency_log(session, key_service(session)).audit()
    for finding in findings:
        log.error("transparency log audit: %s", finding)
    return findings


@shared_task(name="nongsan.trace.flush_scans", ignore_result=True, acks_late=False, max_retries=0, tracked=True)
def flush_scans() -> int:
    """Move batch scan counts from Redis into the database (without Redis each web process
    writes its own buffered counts)."""
    from traceability.scans import RedisCounter
    from traceability.services import scan_counter

    with unit_of_work() as session:
        counter = scan_counter(session)
        return counter.flush_to(session) if isinstance(counter, RedisCounter) else 0
