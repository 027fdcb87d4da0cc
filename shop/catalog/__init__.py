"""Catalogue: cooperative storefronts, products, batches and stock."""

from flask import Flask


def init_app(app: Flask) -> None:
    from shop.catalog import tasks  # noqa: F401 - registers the catalogue tasks
    from shop.catalog.api import api
    from shop.catalog.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(api)

    def _profile(gtin: str):
        from shop.catalog.services import PublicCatalog
        from kernel.db import get_session

        return PublicCatalog(get_session()).profile_for_gtin(gtin)

    # The scan page (traceability) shows the cooperative's card without importing the shop.
    app.extensions["nongsan.trace_profile"] = _profile
