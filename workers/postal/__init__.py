"""The postal domain: tariff and quotes, shipment jobs, the partner portal."""

from flask import Flask


def init_app(app: Flask) -> None:
    from workers.postal import tasks  # noqa: F401 - registers the quote task
    from workers.postal.views import bp

    app.register_blueprint(bp)
