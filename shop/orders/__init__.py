"""Cart, checkout and the order lifecycle."""

from flask import Flask


def init_app(app: Flask) -> None:
    from shop.orders import tasks  # noqa: F401 - registers the order tasks
    from shop.orders.services import on_shipment_status_changed
    from shop.orders.views import bp
    from workers.postal.services import shipment_status_changed

    shipment_status_changed.connect(on_shipment_status_changed, weak=False)
    app.register_blueprint(bp)
