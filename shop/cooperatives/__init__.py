"""Cooperatives (HTX) and the alliance's registry of them."""

from flask import Flask


def init_app(app: Flask) -> None:
    from shop.cooperatives.views import bp

    app.register_blueprint(bp)
