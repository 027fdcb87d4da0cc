"""The postal domain: tariff and quotes, shipment jobs, the partner portal."""

from flask import Flask


def init_app(app: Flask) -> None:
    from workers.postal import tasks  # noqa: F401 - registers the quote task
    from workers.postal.carriers import check_config
    from workers.postal.tariff_views import bp as tariff_bp
    from workers.postal.views import bp

    check_config(app.config)
    app.register_blueprint(bp)
    app.register_blueprint(tariff_bp)
