"""The alliance's registry of cooperatives, cooperative groups and unions: survey data beside each
cooperative row, the console pages, spreadsheet import with a preview, and exports."""

from flask import Flask


def init_app(app: Flask) -> None:
    from shop.registry.views import bp

    app.register_blueprint(bp)
