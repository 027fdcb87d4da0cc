"""Catalogue: cooperative storefronts, products, batches and stock."""

from flask import Flask


def init_app(app: Flask) -> None:
    from shop.catalog.views import bp

    app.register_blueprint(bp)
