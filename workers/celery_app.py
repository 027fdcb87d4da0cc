"""The Celery application, bound to the Flask configuration.

Every task runs inside a Flask application context, so it uses the same configuration, database
session handling and services as the web side. Broker: Redis when configured, otherwise kombu's
SQLAlchemy transport on a SQLite file in the instance folder (no server to install).

Reliability rules every task follows (see `NongsanTask`):
- retries are explicit and bounded: `retry_policy()` names the temporary errors, the number of
  tries and an exponential backoff with full jitter; any retry wait is capped below the broker's
  visibility timeout, so Redis never hands a waiting task to a second worker;
- `acks_late` only on idempotent tasks (a task lost with its worker runs again);
- a task that fails for good lands in the dead-letter table (`workers.deadletters`), listed in the
  alliance console with a retry button (except tasks whose caller waits for the result);
- tasks sent through the outbox mark their row done, so the beat sweep can re-send work that a
  killed worker took away with it.
"""

from __future__ import annotations

import logging
import socket
from datetime import datetime, timedelta

from celery import Celery, Task
from flask import Flask

log = logging.getLogger(__name__)

BROKER_VISIBILITY_TIMEOUT = 3600  # Redis's default; NONGSAN_BROKER_VISIBILITY_TIMEOUT changes it


def temporary_errors() -> tuple[type[BaseException], ...]:
    """Errors that say "try again later": the database, the network or a mail server is away."""
    import httpx
    from sqlalchemy.exc import DisconnectionError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from workers.notifications.services import TemporaryMailError

    return (OperationalError, DisconnectionError, PoolTimeout, httpx.TransportError, TemporaryMailError,
            ConnectionError, TimeoutError, socket.timeout)


def retry_policy(*extra: type[BaseException], max_retries: int = 8, backoff: int = 30, backoff_max: int = 1800) -> dict:
    """Task options for bounded retries of temporary errors: waits of up to backoff · 2^n seconds
    (full jitter), capped; after `max_retries` the task fails and is dead-lettered."""
    return {"autoretry_for": temporary_errors() + extra, "max_retries": max_retries, "retry_backoff": backoff,
            "retry_backoff_max": backoff_max, "retry_jitter": True}


def create_celery(app: Flask) -> Celery:
    config = app.config

    class NongsanTask(Task):
        #: Opt-in: the task's outcome is written to the database (outbox row done, an earlier dead
        #: letter of the same work resolved). Off for tasks where a write per run would cost too
        #: much for nothing (quotes, pings).
        tracked = False
        #: A task whose caller waits for its result (a quote, a ping) sets this to False: the
        #: caller already sees the failure, and sending it again later would answer no one.
        dead_letter = True

        def __init_subclass__(cls, **kwargs):
            super().__init_subclass__(**kwargs)
            # A task with its own hard limit gets a soft one below it (the global soft limit
            # would come after the hard kill and never give the task its chance to stop cleanly).
            if cls.time_limit and not cls.soft_time_limit:
                cls.soft_time_limit = int(cls.time_limit * 0.8)

        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

        def retry(self, args=None, kwargs=None, exc=None, throw=True, eta=None, countdown=None, max_retries=None, **options):
            # A wait longer than the visibility timeout would make Redis deliver the task twice.
            if countdown is not None:
                countdown = min(float(countdown), retry_cap)
            return super().retry(args=args, kwargs=kwargs, exc=exc, throw=throw, eta=eta, countdown=countdown,
                                 max_retries=max_retries, **options)

        def before_start(self, task_id, args, kwargs):
            if self.tracked:
                from workers import deadletters

                with app.app_context():
                    deadletters.task_starting(task_id)

        def on_success(self, retval, task_id, args, kwargs):
            if self.tracked:
                from workers import deadletters

                with app.app_context():
                    deadletters.task_succeeded(self, task_id, args, kwargs)

        def on_retry(self, exc, task_id, args, kwargs, einfo):
            if self.tracked:
                from kernel.timeutil import utcnow
                from workers import deadletters

                when = getattr(einfo.exception, "when", None)
                due = when if isinstance(when, datetime) else utcnow() + timedelta(seconds=float(when or 0))
                with app.app_context():
                    deadletters.task_retrying(task_id, due)

        def on_failure(self, exc, task_id, args, kwargs, einfo):
            if not self.dead_letter:
                return
            from workers import deadletters

            with app.app_context():
                deadletters.task_failed(self, task_id, args, kwargs, exc, attempts=self.request.retries + 1)

    visibility_timeout = int(config.get("BROKER_VISIBILITY_TIMEOUT") or BROKER_VISIBILITY_TIMEOUT)
    # Hard limit well below the visibility timeout, or a slow task would be handed to a second
    # worker while the first is still on it.
    time_limit = min(300, visibility_timeout // 2)
    retry_cap = float(config.get("TASK_RETRY_MAX_SECONDS") or min(1800, visibility_timeout // 2))
    celery = Celery(app.name, task_cls=NongsanTask)
    sweep_seconds = float(config["OUTBOX_SWEEP_SECONDS"])
    celery.conf.update(
        broker_url=config["BROKER_URL"],
        result_backend=config["RESULT_BACKEND"],
        task_default_queue=config["CELERY_QUEUE"],
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=3600,
        timezone="UTC",
        enable_utc=True,
        # Acknowledged on receipt unless a task says otherwise: only idempotent tasks set
        # acks_late, so only they are run again when their worker dies mid-way.
        task_acks_late=False,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=time_limit,
        task_soft_time_limit=int(time_limit * 0.8),
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        beat_schedule={
            "sweep-outbox": {"task": "nongsan.outbox.sweep", "schedule": sweep_seconds},
            # Checks the cadence (CHECKPOINT_ENTRIES / CHECKPOINT_SECONDS) and signs a checkpoint when due.
            "publish-checkpoint": {"task": "nongsan.trace.publish_checkpoint",
                                   "schedule": min(5.0, float(config.get("CHECKPOINT_SECONDS") or 60))},
            "audit-log": {"task": "nongsan.trace.audit_log", "schedule": 3600.0},
            "flush-scans": {"task": "nongsan.trace.flush_scans", "schedule": 60.0},
            "release-reservations": {"task": "nongsan.shop.release_reservations", "schedule": 60.0},
            "roll-up-scans": {"task": "nongsan.insight.roll_up_scans", "schedule": 3600.0},
            "roll-up-orders": {"task": "nongsan.insight.roll_up_orders", "schedule": 3600.0},
        },
    )
    redis_broker = str(config["BROKER_URL"]).startswith("redis")
    if redis_broker:
        # Publishing gives up after one quick second try instead of kombu's default retries over
        # six seconds: the outbox keeps the message for the sweep, and a checkout committed while
        # Redis is down must not wait for it. Workers reconnect with their own, patient, policy.
        celery.conf.broker_transport_options = {"visibility_timeout": visibility_timeout, "max_retries": 1,
                                                "interval_start": 0, "interval_step": 0.2}
    else:
        # kombu's SQLAlchemy transport passes these options to create_engine.
        celery.conf.broker_transport_options = {"connect_args": {"timeout": 30}}
    # How long a sent outbox message may stay unfinished before the sweep sends it again. Redis
    # gives a lost message back itself after the visibility timeout, so there the sweep is only a
    # backstop; the embedded broker never does, so there it is the hard time limit and a margin.
    lease = config.get("OUTBOX_LEASE_SECONDS") or (visibility_timeout if redis_broker else time_limit) + 60
    app.extensions["nongsan.outbox_lease"] = timedelta(seconds=float(lease))
    celery.conf.update(config.get("CELERY_EXTRA", {}))
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
