"""Order rules: placing orders from a cart without overselling, and the order state machine."""

from __future__ import annotations

import re
import secrets
from collections import defaultdict

from flask_babel import gettext
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from kernel import address
from shop.catalog.models import Batch, Product
from shop.catalog.services import PublicCatalog
from shop.cooperatives.models import Cooperative
from kernel.errors import Conflict, NotFound, ServiceError
from kernel.i18n import select_locale
from kernel.labels import status_label
from shop.orders.models import Order, OrderLine, OrderStatus, OrderStatusChange, PaymentMethod
from shop.orders.schemas import CartLine, CheckoutData
from kernel import outbox

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud over the phone

# The state machine. Moves caused by the post (handed over, in transit, delivered…) come through
# shipment status changes; people move the rest.
TRANSITIONS: dict[str, set[str]] = {
    OrderStatus.PLACED: {OrderStatus.CONFIRMED, OrderStatus.CANCELLED, OrderStatus.HANDED_TO_POST},
    OrderStatus.CONFIRMED: {OrderStatus.PACKED, OrderStatus.CANCELLED, OrderStatus.HANDED_TO_POST},
    OrderStatus.PACKED: {OrderStatus.HANDED_TO_POST, OrderStatus.CANCELLED},
    OrderStatus.HANDED_TO_POST: {OrderStatus.IN_TRANSIT, OrderStatus.DELIVERED, OrderStatus.DELIVERY_FAILED},
    OrderStatus.IN_TRANSIT: {OrderStatus.DELIVERED, OrderStatus.DELIVERY_FAILED},
    OrderStatus.DELIVERY_FAILED: {OrderStatus.IN_TRANSIT, OrderStatus.RETURNED, OrderStatus.DELIVERED},
    OrderStatus.DELIVERED: {OrderStatus.SETTLED},
    OrderStatus.RETURNED: set(),
    OrderStatus.CANCELLED: set(),
    OrderStatus.SETTLED: set(),
}
RESTORES_STOCK = {OrderStatus.CANCELLED, OrderStatus.RETURNED}
# Moments a buyer who left an e-mail address is told about.
BUYER_NOTICES = {OrderStatus.CONFIRMED, OrderStatus.HANDED_TO_POST, OrderStatus.DELIVERED, OrderStatus.CANCELLED}


def new_reference() -> str:
    return "NS-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))


class OrderService:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- placing ---------------------------------------------------------------------------------
    def orders_for_checkout(self, checkout_key: str) -> list[Order]:
        return list(self.session.exec(select(Order).where(Order.checkout_key == checkout_key).order_by(Order.id)))

    def _validate(self, data: CheckoutData) -> tuple[str, str | None]:
        phone = address.normalize_phone(data.buyer_phone)
        if phone is None:
            raise ServiceError(gettext("Enter a Vietnamese mobile number, e.g. 0912 345 678."), field="buyer_phone")
        email = (data.buyer_email or "").strip() or None
        if email and not EMAIL_RE.match(email):
            raise ServiceError(gettext("This e-mail address does not look right."), field="buyer_email")
        address.check_place(data.province_code, data.ward_code, data.street, street_field="street")
        return phone, email

    def place(self, checkout_key: str, lines: list[CartLine], data: CheckoutData, *, hold_key: str | None = None) -> list[Order]:
        """`checkout_key` makes placing idempotent; `hold_key` names the units held on the checkout
        page (the same key unless the client sent an Idempotency-Key of its own)."""
        return self._place(checkout_key, lines, data, hold_key or checkout_key)

    def _place(self, checkout_key: str, lines: list[CartLine], data: CheckoutData, hold_key: str) -> list[Order]:
        """Place one order per cooperative. Repeating the same checkout key returns the same orders."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{8,64}", checkout_key or ""):
            raise ServiceError(gettext("The checkout form is invalid. Please reload it."), field="checkout_key")
        existing = self.orders_for_checkout(checkout_key)
        if existing:
            return existing
        if not lines:
            raise ServiceError(gettext("Your cart is empty."), field="cart")
        phone, email = self._validate(data)
        catalog = PublicCatalog(self.session)
        reservations = ReservationService(self.session)

        merged: dict[int, int] = defaultdict(int)
        for line in lines:
            merged[line.batch_id] += line.quantity
        by_cooperative: dict[int, list[tuple[Batch, Product, int]]] = defaultdict(list)
        cooperatives: dict[int, Cooperative] = {}
        for batch_id, quantity in sorted(merged.items()):
            batch, product, cooperative = catalog.batch_with_product(batch_id)
            by_cooperative[cooperative.id].append((batch, product, quantity))  # type: ignore[index]
            cooperatives[cooperative.id] = cooperative  # type: ignore[index]

        for cooperative in cooperatives.values():
            if data.payment_method == PaymentMethod.VIETQR and not (cooperative.bank_bin and cooperative.bank_account):
                raise ServiceError(
                    gettext("%(name)s does not take bank transfers yet; choose cash on delivery.", name=cooperative.name),
                    field="payment_method")
        try:
            with self.session.begin_nested():
                # Units the buyer reserved on the checkout page are already out of stock: use them.
                held = reservations.consume(hold_key, dict(merged))
                orders = [
                    self._place_for_cooperative(checkout_key, cooperatives[coop_id], items, data, phone, email, held)
                    for coop_id, items in sorted(by_cooperative.items())
                ]
        except IntegrityError:
            # The same checkout was placed concurrently (double click): answer with that one.
            existing = self.orders_for_checkout(checkout_key)
            if existing:
                return existing
            raise
        return orders

    def _take_stock(self, batch: Batch, quantity: int, product: Product) -> None:
        # A conditional update is atomic on PostgreSQL and SQLite alike: it either takes the units
        # or changes nothing, so two buyers can never both get the last bag.
        result = self.session.exec(
            update(Batch)
            .where(Batch.id == batch.id, Batch.stock_units >= quantity)
            .values(stock_units=Batch.stock_units - quantity)
        )
        if result.rowcount != 1:
            self.session.refresh(batch)
            raise Conflict(
                gettext("Only %(n)d left of %(name)s (lot %(lot)s).", n=batch.stock_units, name=product.name, lot=batch.lot),
                field="quantity",
            )

    def _place_for_cooperative(self, checkout_key, cooperative, items, data: CheckoutData, phone, email, held=False) -> Order:
        goods_total = 0
        weight = 0
        order_lines = []
        for batch, product, quantity in items:
            line_total = product.price_vnd * quantity  # prices come from the database, never the form
            goods_total += line_total
            weight += product.unit_weight_g * quantity
            order_lines.append(
                OrderLine(product_id=product.id, batch_id=batch.id, product_name=product.name, lot=batch.lot,
                          quantity=quantity, unit_price_vnd=product.price_vnd, line_total_vnd=line_total)
            )
        postage = quote_for(cooperative, data, weight, goods_total)
        order = Order(
            reference=new_reference(),
            public_token=secrets.token_urlsafe(24),
            checkout_key=checkout_key,
            cooperative_id=cooperative.id,
            buyer_name=data.buyer_name,
            buyer_phone=phone,
            buyer_email=email,
            province_code=data.province_code,
            ward_code=data.ward_code,
            street=data.street,
            note=data.note,
            payment_method=data.payment_method,
            goods_total_vnd=goods_total,
            weight_g=weight,
            shipping_fee_vnd=postage.total_vnd,
            shipping_tariff_version=postage.tariff_version,
            shipping_quote_source=postage.source,
            locale=select_locale(),
        )
        self.session.add(order)
        self.session.flush()
        for line in order_lines:
            line.order_id = order.id
            self.session.add(line)
        self.session.add(OrderStatusChange(order_id=order.id, to_status=OrderStatus.PLACED, actor="buyer"))
        outbox.enqueue(self.session, "nongsan.orders.prepare_shipment", order_id=order.id)
        outbox.enqueue(self.session, "nongsan.orders.send_new_order_email", order_id=order.id)
        self.session.flush()
        if not held:
            # Stock is taken last, in batch order: the hot row stays locked only from here to the
            # commit, and two checkouts never wait for each other's rows in opposite orders.
            for batch, product, quantity in sorted(items, key=lambda item: item[0].id):
                self._take_stock(batch, quantity, product)
        return order

    # -- reading ---------------------------------------------------------------------------------
    def by_token(self, token: str) -> Order:
        order = self.session.exec(select(Order).where(Order.public_token == token)).first()
        if order is None:
            raise NotFound(gettext("Order not found."))
        return order

    def lines(self, order_id: int) -> list[OrderLine]:
        return list(self.session.exec(select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id)))

    def history(self, order_id: int) -> list[OrderStatusChange]:
        return list(
            self.session.exec(select(OrderStatusChange).where(OrderStatusChange.order_id == order_id).order_by(OrderStatusChange.id))
        )

    def for_cooperative(self, cooperative_id: int) -> list[Order]:
        query = select(Order).where(Order.cooperative_id == cooperative_id).order_by(Order.created_at.desc())  # type: ignore[attr-defined]
        return list(self.session.exec(query))

    def get_for_cooperative(self, cooperative_id: int, order_id: int) -> Order:
        order = self.session.exec(select(Order).where(Order.id == order_id, Order.cooperative_id == cooperative_id)).first()
        if order is None:
            raise NotFound(gettext("Order not found."), field="order_id")
        return order

    # -- state machine ---------------------------------------------------------------------------
    def transition(self, order: Order, target: str, actor: str, reason: str = "") -> bool:
        """Move the order; returns False when it is already there. Illegal moves are refused."""
        if order.status == target:
            return False
        if target not in TRANSITIONS[order.status]:
            raise ServiceError(
                gettext("An order cannot go from %(old)s to %(new)s.", old=status_label(order.status), new=status_label(target)),
                field="status", status=409
            )
        previous = order.status
        order.status = target
        self.session.add(OrderStatusChange(order_id=order.id, from_status=previous, to_status=target, actor=actor, reason=reason))
        if target in RESTORES_STOCK:
            for line in self.lines(order.id):  # type: ignore[arg-type]
                restock(self.session, line.batch_id, line.quantity)
        if target in BUYER_NOTICES:
            outbox.enqueue(self.session, "nongsan.orders.send_buyer_update", order_id=order.id, status=target)
        self.session.flush()
        return True

    # -- the cooperative's actions ------------------------------------------------------------------
    def confirm(self, cooperative_id: int, order_id: int, actor: str) -> Order:
        order = self.get_for_cooperative(cooperative_id, order_id)
        self.transition(order, OrderStatus.CONFIRMED, actor)
        if order.invoice_number is None:
            order.invoice_number = self._next_invoice_number(cooperative_id)
        self.session.flush()
        return order

    def pack(self, cooperative_id: int, order_id: int, actor: str) -> Order:
        order = self.get_for_cooperative(cooperative_id, order_id)
        self.transition(order, OrderStatus.PACKED, actor)
        return order

    def cancel(self, cooperative_id: int, order_id: int, actor: str, reason: str) -> Order:
        reason = (reason or "").strip()
        if len(reason) < 3:
            raise ServiceError(gettext("Say why the order is cancelled."), field="reason")
        order = self.get_for_cooperative(cooperative_id, order_id)
        from workers.postal.services import ShipmentService

        # The parcel must not travel without its order: stop the shipment job, or refuse if the
        # post already has the parcel.
        if not ShipmentService(self.session).cancel_for_order(order.id, actor):
            raise ServiceError(gettext("The post office already has this parcel; it can no longer be cancelled here."),
                               field="status", status=409)
        self.transition(order, OrderStatus.CANCELLED, actor, reason=reason[:300])
        return order

    def mark_paid(self, cooperative_id: int, order_id: int, actor: str) -> Order:
        """A person at the cooperative confirms the transfer arrived; nothing else marks it paid."""
        order = self.get_for_cooperative(cooperative_id, order_id)
        if order.payment_method != PaymentMethod.VIETQR:
            raise ServiceError(gettext("Cash on delivery is settled through the post office."), field="payment_method", status=409)
        if order.status == OrderStatus.CANCELLED:
            raise ServiceError(gettext("A cancelled order cannot be paid."), field="status", status=409)
        if order.paid_at is None:
            from kernel.timeutil import utcnow

            order.paid_at = utcnow()
            order.paid_confirmed_by = actor
            self.session.add(OrderStatusChange(order_id=order.id, from_status=order.status, to_status=order.status,
                                               actor=actor, reason="payment received"))
            self.session.flush()
        if order.status == OrderStatus.DELIVERED:
            self.transition(order, OrderStatus.SETTLED, actor, reason="paid by transfer and delivered")
        return order

    def _next_invoice_number(self, cooperative_id: int) -> str:
        from shop.orders.models import InvoiceCounter
        from kernel.timeutil import utcnow

        year = utcnow().year
        counter = self.session.exec(
            select(InvoiceCounter).where(InvoiceCounter.cooperative_id == cooperative_id, InvoiceCounter.year == year)
            .with_for_update()
        ).first()
        if counter is None:
            counter = InvoiceCounter(cooperative_id=cooperative_id, year=year, last_number=0)
            self.session.add(counter)
        counter.last_number += 1
        self.session.flush()
        return f"{year}-{cooperative_id:03d}-{counter.last_number:06d}"

    def vietqr_payload(self, order: Order) -> str | None:
        from shop.payments.vietqr import build_vietqr_payload

        cooperative = self.session.get(Cooperative, order.cooperative_id)
        if order.payment_method != PaymentMethod.VIETQR or not cooperative.bank_bin or not cooperative.bank_account:
            return None
        return build_vietqr_payload(cooperative.bank_bin, cooperative.bank_account, self.total(order), order.reference)

    @staticmethod
    def total(order: Order) -> int:
        return order.goods_total_vnd + (order.shipping_fee_vnd or 0)

    def cod_amount(self, order: Order, shipping_fee: int) -> int:
        return order.goods_total_vnd + shipping_fee if order.payment_method == PaymentMethod.COD else 0


def restock(session: Session, batch_id: int, quantity: int) -> None:
    """Units back on sale, unless the batch was recalled meanwhile: recalled food is never resold."""
    from shop.catalog.models import Product
    from shop.catalog.services import is_recalled

    row = session.exec(select(Batch.lot, Product.gtin).join(Product, Product.id == Batch.product_id).where(Batch.id == batch_id)).first()
    if row is None or is_recalled(session, row[1], row[0]):
        return
    session.exec(update(Batch).where(Batch.id == batch_id).values(stock_units=Batch.stock_units + quantity))


def quote_for(cooperative: Cooperative, data: CheckoutData, weight_g: int, goods_total: int):
    """The tariff's price for this parcel, computed the same way the worker quotes it."""
    from workers.postal.schemas import Parcel
    from workers.postal.services import QuoteService

    cod = goods_total if data.payment_method == PaymentMethod.COD else 0
    return QuoteService().quote(Parcel(cooperative.province_code, data.province_code, data.ward_code, weight_g, cod))


class ReservationService:
    """Holds units for a buyer on the checkout page for a few minutes."""

    HOLD_MINUTES = 15

    def __init__(self, session: Session) -> None:
        self.session = session

    def reserve(self, checkout_key: str, lines: dict[int, int]) -> None:
        from datetime import timedelta

        from shop.catalog.models import Reservation
        from kernel.timeutil import utcnow

        self.release(checkout_key)
        expires = utcnow() + timedelta(minutes=self.HOLD_MINUTES)
        catalog = PublicCatalog(self.session)
        for batch_id, quantity in sorted(lines.items()):
            batch, product, _cooperative = catalog.batch_with_product(batch_id)
            OrderService(self.session)._take_stock(batch, quantity, product)
            self.session.add(Reservation(checkout_key=checkout_key, batch_id=batch_id, quantity=quantity, expires_at=expires))
        self.session.flush()

    def release(self, checkout_key: str | None = None, *, expired_only: bool = False) -> int:
        from shop.catalog.models import Reservation
        from kernel.timeutil import utcnow

        query = select(Reservation).where(Reservation.consumed == False)  # noqa: E712
        if checkout_key is not None:
            query = query.where(Reservation.checkout_key == checkout_key)
        if expired_only:
            query = query.where(Reservation.expires_at < utcnow())
        released = 0
        for reservation in self.session.exec(query.with_for_update()):
            restock(self.session, reservation.batch_id, reservation.quantity)
            self.session.delete(reservation)
            released += reservation.quantity
        self.session.flush()
        return released

    def consume(self, checkout_key: str, lines: dict[int, int]) -> bool:
        """True when live reservations cover exactly these lines (and are now used up)."""
        from shop.catalog.models import Reservation
        from kernel.timeutil import utcnow

        held = self.session.exec(select(Reservation).where(
            Reservation.checkout_key == checkout_key, Reservation.consumed == False,  # noqa: E712
            Reservation.expires_at >= utcnow()).with_for_update()).all()
        if {r.batch_id: r.quantity for r in held} != lines:
            self.release(checkout_key)
            return False
        for reservation in held:
            reservation.consumed = True
        self.session.flush()
        return True


# How the post's news moves an order.
SHIPMENT_TO_ORDER = {
    "picked_up": OrderStatus.HANDED_TO_POST,
    "in_transit": OrderStatus.IN_TRANSIT,
    "out_for_delivery": OrderStatus.IN_TRANSIT,
    "delivered": OrderStatus.DELIVERED,
    "delivery_failed": OrderStatus.DELIVERY_FAILED,
    "returned": OrderStatus.RETURNED,
}


def on_shipment_status_changed(_sender, *, session: Session, shipment, previous: str, actor: str) -> None:
    target = SHIPMENT_TO_ORDER.get(shipment.status)
    if target is None:
        return
    order = session.get(Order, shipment.order_id)
    if order is None:
        return
    service = OrderService(session)
    # The shipment may skip steps the order knows (in transit after picked up): walk forward.
    if target == OrderStatus.DELIVERED and order.status in (OrderStatus.PLACED, OrderStatus.CONFIRMED, OrderStatus.PACKED):
        service.transition(order, OrderStatus.HANDED_TO_POST, actor)
    if order.status != target and target in TRANSITIONS[order.status]:
        service.transition(order, target, actor)
    if order.status == OrderStatus.DELIVERED and order.payment_method == PaymentMethod.VIETQR and order.paid_at is not None:
        service.transition(order, OrderStatus.SETTLED, actor, reason="paid by transfer and delivered")
    if shipment.status in SIGNED_SHIPMENT_EVENTS:
        sign_delivery_events(session, order, shipment)


# Shipment moments that become signed events in the batch's record, signed by the post office.
SIGNED_SHIPMENT_EVENTS = {"picked_up": "shipping", "delivered": "receiving"}


def sign_delivery_events(session: Session, order: Order, shipment) -> None:
    """The post office's own signature in the trace: picked up (shipping) and delivered (receiving),
    one event in the record of every batch in the parcel."""
    from datetime import datetime

    from shop.catalog.models import Product
    from traceability import events, gs1
    from traceability.schemas import BatchRef, IssuerRef
    from traceability.services import CredentialService, TraceabilityError, key_service
    from workers.postal.models import Partner

    partner = session.get(Partner, shipment.partner_id)
    issuer = IssuerRef("partner", partner.id, partner.name)
    keys = key_service(session)
    try:
        keys.active_key(issuer)
    except TraceabilityError:
        keys.issue_key(issuer)  # a partner's first signature: its key is certified by the alliance now
    credentials = CredentialService(session, keys)
    kind = SIGNED_SHIPMENT_EVENTS[shipment.status]
    location = {"id": f"{keys.base_url}/post/{partner.id}", "name": partner.name,
                "address": address.province_name(partner.province_code)}
    for line in OrderService(session).lines(order.id):
        product = session.get(Product, line.product_id)
        link = gs1.DigitalLink(gtin=product.gtin, lot=line.lot).uri(keys.base_url)
        event = events.build_event(
            kind, event_time=datetime.now(events.LOCAL_TZ), location=location,
            quantities=[events.quantity(link, product.name, line.quantity * product.unit_weight_g / 1000)],
            details={"shipment": shipment.code, "destinationProvince": address.province_name(order.province_code)},
        )
        credentials.issue(issuer, BatchRef(product.gtin, line.lot), kind, event)
