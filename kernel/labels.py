"""People-facing names for statuses and event types, in the reader's language."""

from flask import Flask
from flask_babel import lazy_gettext as _l

STATUS_LABELS = {
    # orders
    "placed": _l("Placed"),
    "confirmed": _l("Confirmed"),
    "packed": _l("Packed"),
    "handed_to_post": _l("Handed to the post"),
    "in_transit": _l("In transit"),
    "delivered": _l("Delivered"),
    "settled": _l("Settled"),
    "cancelled": _l("Cancelled"),
    "delivery_failed": _l("Delivery failed"),
    "returned": _l("Returned"),
    # shipments
    "awaiting_pickup": _l("Awaiting pick-up"),
    "accepted": _l("Accepted"),
    "picked_up": _l("Picked up"),
    "out_for_delivery": _l("Out for delivery"),
    "returning": _l("Returning"),
    # cooperatives
    "registered": _l("On the registry"),
    "pending": _l("Pending approval"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "suspended": _l("Suspended"),
}

EVENT_LABELS = {
    "harvest": _l("Harvest"),
    "diary": _l("Production diary"),
    "processing": _l("Processing"),
    "packing": _l("Packing"),
    "inspection": _l("Inspection"),
    "shipping": _l("Shipped"),
    "receiving": _l("Received"),
}


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


def event_label(event_type: str) -> str:
    return str(EVENT_LABELS.get(event_type, event_type))


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(status_label=status_label, event_label=event_label)
