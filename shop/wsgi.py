"""WSGI entry point for gunicorn: `gunicorn shop.wsgi:app`."""

from shop import create_app

app = create_app()
