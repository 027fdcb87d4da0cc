"""The background side: the Celery app, the outbox, postal work and notifications."""

from flask import Flask


def init_app(app: Flask) -> None:
    from workers import tasks  # noqa: F401 - registers the shared tasks
    from workers.celery_app import create_celery
    from workers.views import bp

    create_celery(app)
    app.register_blueprint(bp)
