"""The Celery application, bound to the Flask configuration.

Every task runs inside a Flask application context, so it uses the same configuration, database
session handling and services as the web side. Broker: Redis when configured, otherwise kombu's
SQLAlchemy transport on a SQLite file in the instance folder (no server to install).
"""

from __future__ import annotations

from celery import Celery, Task
from flask import Flask


def create_celery(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    config = app.config
    celery = Celery(app.name, task_cls=FlaskTask)
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
        # Tasks are idempotent, so a task lost with its worker is safer run again than dropped.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Must stay below the broker's visibility timeout (1 h by default on Redis), or a slow
        # task would be handed to a second worker while the first is still on it.
        task_time_limit=300,
        task_soft_time_limit=240,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        beat_schedule={
            "sweep-outbox": {"task": "nongsan.outbox.sweep", "schedule": sweep_seconds},
            "publish-checkpoint": {"task": "nongsan.trace.publish_checkpoint", "schedule": 60.0},
            "audit-log": {"task": "nongsan.trace.audit_log", "schedule": 3600.0},
            "flush-scans": {"task": "nongsan.trace.flush_scans", "schedule": 60.0},
            "release-reservations": {"task": "nongsan.shop.release_reservations", "schedule": 60.0},
        },
    )
    if str(config["BROKER_URL"]).startswith("redis"):
        celery.conf.broker_transport_options = {"visibility_timeout": 3600}
    else:
        # kombu's SQLAlchemy transport passes these options to create_engine.
        celery.conf.broker_transport_options = {"connect_args": {"timeout": 30}}
    celery.conf.update(config.get("CELERY_EXTRA", {}))
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
