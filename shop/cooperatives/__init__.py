"""Cooperatives (HTX) and the alliance's registry of them."""

from flask import Flask


def init_app(app: Flask) -> None:
    from shop.cooperatives import tasks  # noqa: F401 - registers the onboarding tasks
    from shop.cooperatives.services import cooperative_may_sign
    from shop.cooperatives.views import bp

    # The key store refuses to sign for a cooperative that is not approved (traceability/services.py).
    app.extensions["nongsan.may_sign"] = cooperative_may_sign
    app.register_blueprint(bp)
