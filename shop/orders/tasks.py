"""Background work for orders: quote and create the shipment job, tell the cooperative."""

from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app, render_template
from flask_babel import force_locale, gettext

from kernel import address
from shop.cooperatives.models import Cooperative
from kernel.db import unit_of_work
from shop.orders.models import Order
from shop.orders.services import OrderService
from workers.celery_app import retry_policy
from workers.notifications.services import (
    Mail, NotificationService, TemporaryMailError, configured_mailer, configured_message_adapter, send_text_once,
)
from workers.postal.schemas import Parcel, ShipmentRequest
from workers.postal.services import QuoteService, ShipmentService

log = logging.getLogger(__name__)


# Idempotent (one shipment per order): acks_late, so a job lost with its worker runs again.
# Temporary errors are retried with backoff; anything else, or the tenth failure, is dead-lettered.
@shared_task(name="nongsan.orders.prepare_shipment", bind=True, acks_late=True, tracked=True, **retry_policy(max_retries=10))
def prepare_shipment(self, order_id: int) -> str | None:
    """Quote the parcel and create its shipment job. Safe to run twice: one shipment per order."""
    with unit_of_work() as session:
        order = session.get(Order, order_id)
        if order is None:
            log.warning("prepare_shipment: order %s does not exist", order_id)
            return None
        if order.status == "cancelled":
            return None  # cancelled before the worker got to it: no parcel to send
        shipments = ShipmentService(session)
        existing = shipments.for_order(order_id)
        if existing is not None:
            return existing.code
        cooperative = session.get(Cooperative, order.cooperative_id)
        orders = OrderService(session)
        # COD covers goods and postage; the fee on it is charged on the goods value.
        quote = QuoteService().quote(
            Parcel(
                from_province_code=cooperative.province_code,
                to_province_code=order.province_code,
                to_ward_code=order.ward_code,
                weight_g=order.weight_g,
                cod_amount_vnd=orders.cod_amount(order, 0),
            )
        )
        # The fee fixed at placement is the one the buyer agreed to; quote only orders that lack it.
        if order.shipping_fee_vnd is None:
            order.shipping_fee_vnd = quote.total_vnd
        shipment = shipments.create_job(
            ShipmentRequest(
                order_id=order.id,
                order_reference=order.reference,
                cooperative_id=cooperative.id,
                sender_name=cooperative.name,
                sender_province_code=cooperative.province_code,
                sender_ward_code=cooperative.ward_code,
                sender_address=cooperative.address,
                recipient_name=order.buyer_name,
                recipient_phone=order.buyer_phone,
                recipient_province_code=order.province_code,
                recipient_ward_code=order.ward_code,
                recipient_address=address.full_address(order.street, order.ward_code, order.province_code),
                note=order.note,
                weight_g=order.weight_g,
                shipping_fee_vnd=order.shipping_fee_vnd,
                cod_amount_vnd=orders.cod_amount(order, order.shipping_fee_vnd),
            )
        )
        from kernel import outbox
        from workers.postal.delivery import WebhookDeliveries

        # Partners with an endpoint get the job as a signed webhook, through the outbox.
        delivery = WebhookDeliveries(session).queue_for(shipment)
        if delivery is not None and delivery.attempts == 0:
            outbox.enqueue(session, "nongsan.postal.deliver_webhook", delivery_id=delivery.id)
        return shipment.code


# Mail tasks send once per business key (NotificationService), so running one again is harmless.
@shared_task(name="nongsan.orders.send_new_order_email", bind=True, acks_late=True, tracked=True, **retry_policy(max_retries=8))
def send_new_order_email(self, order_id: int) -> bool:
    with unit_of_work() as session:
        order = session.get(Order, order_id)
        if order is None:
            return False
        cooperative = session.get(Cooperative, order.cooperative_id)
        if not cooperative.email:
            return False
        lines = OrderService(session).lines(order_id)
        base = current_app.config["PUBLIC_BASE_URL"]
        context = dict(order=order, lines=lines, cooperative=cooperative, base_url=base,
                       address=address.full_address(order.street, order.ward_code, order.province_code))
        with force_locale("vi"):
            mail = Mail(
                to=cooperative.email,
                subject=gettext("[nongsan] New order %(reference)s", reference=order.reference),
                text=render_template("emails/new_order.txt", **context),
                html=render_template("emails/new_order.html", **context),
            )
        try:
            return NotificationService(session, configured_mailer()).send_once(f"new_order:{order_id}", mail)
        except TemporaryMailError as error:
            # Back off: 30 s, 60 s, 120 s… up to about two hours in all.
            raise self.retry(exc=error, countdown=min(30 * 2**self.request.retries, 3600))


@shared_task(name="nongsan.orders.send_recall_alerts", bind=True, acks_late=True, tracked=True, **retry_policy(max_retries=8))
def send_recall_alerts(self, batch_id: int) -> int:
    """Tell every buyer who left an e-mail and ordered from the recalled batch."""
    from sqlmodel import select

    from shop.catalog.models import Batch, Product
    from shop.orders.models import OrderLine
    from traceability.schemas import BatchRef
    from traceability.services import CredentialService, RecallService, key_service

    sent = 0
    with unit_of_work() as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            return 0
        product = session.get(Product, batch.product_id)
        recall = RecallService(session, CredentialService(session, key_service(session))).recall_of(BatchRef(product.gtin, batch.lot))
        if recall is None:
            return 0
        orders = session.exec(
            select(Order).join(OrderLine, OrderLine.order_id == Order.id).where(OrderLine.batch_id == batch_id).distinct()
        ).all()
        notifier = NotificationService(session, configured_mailer())
        base = current_app.config["PUBLIC_BASE_URL"]
        for order in orders:
            if not order.buyer_email:
                continue
            context = dict(order=order, product=product, batch=batch, recall=recall, base_url=base)
            with force_locale(order.locale or "vi"):
                mail = Mail(
                    to=order.buyer_email,
                    subject=gettext("[nongsan] Recall: %(name)s, lot %(lot)s", name=product.name, lot=batch.lot),
                    text=render_template("emails/recall.txt", **context),
                    html=render_template("emails/recall.html", **context),
                )
            try:
                sent += notifier.send_once(f"recall:{batch_id}:{order.id}", mail)
            except TemporaryMailError as error:
                session.commit()  # keep the alerts already sent recorded before retrying the rest
                raise self.retry(exc=error, countdown=min(30 * 2**self.request.retries, 3600))
    return sent


# Periodic: the next beat run is its retry.
@shared_task(name="nongsan.shop.release_reservations", ignore_result=True, acks_late=False, max_retries=0, tracked=True)
def release_reservations() -> int:
    """Return to stock the units held by buyers who left the checkout page."""
    from shop.orders.services import ReservationService

    with unit_of_work() as session:
        return ReservationService(session).release(expired_only=True)


@shared_task(name="nongsan.orders.send_buyer_update", bind=True, acks_late=True, tracked=True, **retry_policy(max_retries=8))
def send_buyer_update(self, order_id: int, status: str) -> bool:
    """Tell the buyer their order was confirmed, handed to the post, delivered or cancelled."""
    from kernel.labels import status_label

    with unit_of_work() as session:
        order = session.get(Order, order_id)
        if order is None:
            return False
        cooperative = session.get(Cooperative, order.cooperative_id)
        base = current_app.config["PUBLIC_BASE_URL"]
        if not order.buyer_email:
            # No e-mail: a short text through the SMS/Zalo gateway, when one is configured.
            adapter = configured_message_adapter()
            if adapter is None:
                return False
            with force_locale(order.locale or "vi"):
                text = gettext("nongsan: order %(reference)s %(status)s. %(url)s", reference=order.reference,
                               status=status_label(status), url=f"{base}/orders/{order.public_token}")
            try:
                return send_text_once(session, adapter, key=f"buyer-sms:{order_id}:{status}", message_id=f"msg_{order_id}_{status}",
                                      to=order.buyer_phone, text=text, subject=text)
            except TemporaryMailError as error:
                raise self.retry(exc=error, countdown=min(30 * 2**self.request.retries, 3600))
        with force_locale(order.locale or "vi"):
            label = status_label(status)
            context = dict(order=order, cooperative=cooperative, status_text=label, base_url=base,
                           lines=OrderService(session).lines(order_id))
            mail = Mail(
                to=order.buyer_email,
                subject=gettext("[nongsan] Order %(reference)s: %(status)s", reference=order.reference, status=label),
                text=render_template("emails/buyer_update.txt", **context),
                html=render_template("emails/buyer_update.html", **context),
            )
        try:
            return NotificationService(session, configured_mailer()).send_once(f"buyer:{order_id}:{status}", mail)
        except TemporaryMailError as error:
            raise self.retry(exc=error, countdown=min(30 * 2**self.request.retries, 3600))
