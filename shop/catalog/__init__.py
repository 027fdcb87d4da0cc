"""Catalogue: cooperative storefronts, products, batches and stock."""

from flask import Flask


def init_app(app: Flask) -> None:
    from shop.catalog import tasks  # noqa: F401 - registers the catalogue tasks
    from shop.catalog.api import api
    from shop.catalog.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(api)
