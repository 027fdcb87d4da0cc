"""Entry point for `celery -A workers.celery_worker worker|beat`."""

from shop import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
