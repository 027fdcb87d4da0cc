"""Cart, checkout and order tracking for buyers; order lists for cooperatives."""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user
from pydantic import ValidationError

from kernel import address
from kernel.permissions import requires
from shop.catalog.services import PublicCatalog
from kernel.db import get_session
from kernel.extensions import limiter
from kernel.errors import NotFound, ServiceError
from shop.forms import apply_errors, schema_from_form
from shop.orders import cart
from shop.orders.forms import AddToCartForm, CheckoutForm
from shop.orders.schemas import CheckoutData
from shop.orders.services import TRANSITIONS, OrderService, ReservationService
from workers.postal.services import ShipmentService

bp = Blueprint("orders", __name__)
TRACKED_KEY = "tracked_orders"
CHECKOUT_KEY = "checkout_key"


def _checkout_limit() -> str:
    from flask import current_app

    return current_app.config.get("CHECKOUT_RATE_LIMIT", "60 per hour")


def _cart_view():
    catalog = PublicCatalog(get_session())
    rows, total = [], 0
    for line in cart.lines():
        try:
            batch, product, cooperative = catalog.batch_with_product(line.batch_id)
        except NotFound:
            continue
        line_total = product.price_vnd * line.quantity
        total += line_total
        rows.append(dict(batch=batch, product=product, cooperative=cooperative, quantity=line.quantity, total=line_total))
    return rows, total


@bp.post("/cart/add")
def add_to_cart():
    form = AddToCartForm()
    if not form.validate_on_submit():
        flash(gettext("Enter a quantity between 1 and 1000."), "error")
        return redirect(request.referrer or url_for("catalog.home"), 303)
    batch, product, _cooperative = PublicCatalog(get_session()).batch_with_product(form.batch_id.data)
    cart.add(batch.id, form.quantity.data)
    flash(gettext("%(name)s added to your cart.", name=product.name), "success")
    return redirect(url_for(".view_cart"), 303)


@bp.get("/cart")
def view_cart():
    rows, total = _cart_view()
    return render_template("orders/cart.html", rows=rows, total=total, form=AddToCartForm())


@bp.post("/cart/update")
def update_cart():
    form = AddToCartForm()
    if form.validate_on_submit() or (form.batch_id.data is not None and form.quantity.data == 0):
        cart.set_quantity(form.batch_id.data, form.quantity.data or 0)
    return redirect(url_for(".view_cart"), 303)


@bp.route("/checkout", methods=["GET", "POST"])
@limiter.limit(_checkout_limit)
def checkout():
    rows, total = _cart_view()
    form = CheckoutForm()
    province = form.province_code.data if request.method == "POST" else request.args.get("province", type=int)
    form.fill_choices(province)
    if not rows and request.method == "GET":
        return redirect(url_for(".view_cart"))
    if request.method == "GET":
        # One key per visitor's checkout: reloading the page moves the same hold instead of adding one.
        form.checkout_key.data = session.setdefault(CHECKOUT_KEY, secrets.token_urlsafe(18))
        if province:
            form.province_code.data = province
        db_session = get_session()
        try:
            # Hold the units while the buyer fills in the form; they return to stock if abandoned.
            # A savepoint: if one line cannot be held, none of them is.
            with db_session.begin_nested():
                ReservationService(db_session).reserve(form.checkout_key.data,
                                                       {row["batch"].id: row["quantity"] for row in rows})
        except ServiceError as error:
            flash(error.message, "error")
            return redirect(url_for(".view_cart"), 303)
    if form.validate_on_submit():
        key = form.checkout_key.data
        header = (request.headers.get("Idempotency-Key") or "").strip()[:100]
        if header:
            # A client's own idempotency key counts within this checkout only, so a guessable key
            # can never lead to somebody else's order.
            import hashlib

            key = hashlib.sha256(f"{form.checkout_key.data}|{header}".encode()).hexdigest()[:40]
        try:
            data = schema_from_form(CheckoutData, form)
            orders = OrderService(get_session()).place(key, cart.lines(), data, hold_key=form.checkout_key.data)
        except (ValidationError, ServiceError) as error:
            apply_errors(form, error)
        else:
            cart.clear()
            session.pop(CHECKOUT_KEY, None)
            session[TRACKED_KEY] = list({*session.get(TRACKED_KEY, []), *(o.public_token for o in orders)})[-20:]
            return redirect(url_for(".placed", tokens=",".join(o.public_token for o in orders)), 303)
    return render_template("orders/checkout.html", form=form, rows=rows, total=total), 400 if form.errors else 200


@bp.get("/api/quote")
def quote_json():
    """Postage for the cart to a commune, quoted by a worker (the checkout waits a moment for it)."""
    province, ward = request.args.get("province", type=int), request.args.get("ward", type=int)
    if not province or not ward or not address.is_valid(province, ward):
        return jsonify({"error": gettext("Choose a commune or ward of the selected province."), "field": "ward_code"}), 400
    rows, _total = _cart_view()
    if not rows:
        return jsonify({"error": gettext("Your cart is empty."), "field": "cart"}), 400
    from flask import current_app

    celery = current_app.extensions["celery"]
    per_cooperative: dict[int, dict] = {}
    for row in rows:
        entry = per_cooperative.setdefault(row["cooperative"].id, {"from": row["cooperative"].province_code, "weight": 0, "goods": 0})
        entry["weight"] += row["product"].unit_weight_g * row["quantity"]
        entry["goods"] += row["total"]
    cod = request.args.get("payment", "cod") == "cod"
    # The cart was only read. End that transaction before waiting for the worker: on SQLite every
    # transaction holds the write lock, and the worker's own would otherwise wait for this one.
    get_session().rollback()
    pending = [celery.send_task("nongsan.postal.quote", args=[e["from"], province, ward, e["weight"], e["goods"] if cod else 0])
               for e in per_cooperative.values()]
    try:
        quotes = [result.get(timeout=float(current_app.config.get("QUOTE_WAIT_SECONDS", 3))) for result in pending]
    except Exception:  # noqa: BLE001 - no worker answered in time: the order is still priced at placement
        return jsonify({"error": gettext("The postage is calculated when you place the order."), "field": None}), 503
    # The itemised parts add up to the total, so the buyer sees what the postage is made of.
    items = {part: sum(q[f"{part}_vnd"] for q in quotes) for part in ("base_fee", "cod_fee", "surcharge", "vat")}
    return jsonify({"shipping_vnd": sum(q["total_vnd"] for q in quotes), "parcels": len(quotes),
                    "zones": sorted({q["zone"] for q in quotes}), "items_vnd": items})


@bp.get("/api/wards/<int:province_code>")
def wards_json(province_code: int):
    wards = address.wards(province_code)
    if not wards:
        return jsonify({"error": "Unknown province", "field": "province_code"}), 404
    response = jsonify([{"code": code, "name": name} for code, name in wards])
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response


@bp.get("/orders/placed")
def placed():
    tokens = [t for t in request.args.get("tokens", "").split(",") if t in session.get(TRACKED_KEY, [])]
    service = OrderService(get_session())
    orders = [service.by_token(t) for t in tokens]
    return render_template("orders/placed.html", orders=orders)


@bp.route("/orders/<token>", methods=["GET", "POST"])
def track(token: str):
    service = OrderService(get_session())
    try:
        order = service.by_token(token)
    except NotFound:
        abort(404)
    allowed = token in session.get(TRACKED_KEY, [])
    if not allowed and request.method == "POST":
        if address.normalize_phone(request.form.get("phone", "")) == order.buyer_phone:
            session[TRACKED_KEY] = list({*session.get(TRACKED_KEY, []), token})[-20:]
            allowed = True
        else:
            flash(gettext("That phone number does not match this order."), "error")
    if not allowed:
        return render_template("orders/track_login.html", token=token), 200
    shipment = ShipmentService(get_session()).for_order(order.id)
    return render_template(
        "orders/track.html", order=order, vietqr=service.vietqr_payload(order) if order.paid_at is None else None, lines=service.lines(order.id), history=service.history(order.id),
        shipment=shipment, address_text=address.full_address(order.street, order.ward_code, order.province_code),
    )


@bp.post("/htx/orders/<int:order_id>/<any(confirm, pack, cancel, paid):action>")
@requires("coop:order:write")
def order_action(order_id: int, action: str):
    from flask_wtf import FlaskForm

    if not FlaskForm().validate_on_submit():
        flash(gettext("Your form expired. Please try again."), "error")
        return redirect(url_for(".backoffice_order", order_id=order_id), 303)
    service = OrderService(get_session())
    actor = f"member:{current_user.id}"
    try:
        if action == "confirm":
            service.confirm(current_user.cooperative_id, order_id, actor)
        elif action == "pack":
            service.pack(current_user.cooperative_id, order_id, actor)
        elif action == "cancel":
            service.cancel(current_user.cooperative_id, order_id, actor, request.form.get("reason", ""))
        else:
            service.mark_paid(current_user.cooperative_id, order_id, actor)
    except NotFound:
        raise
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for(".backoffice_order", order_id=order_id), 303)
    flash(gettext("Order updated."), "success")
    return redirect(url_for(".backoffice_order", order_id=order_id), 303)


@bp.get("/htx/orders/<int:order_id>/<any(invoice, 'packing-slip'):document>.pdf")
@requires("coop:order:read")
def order_document(order_id: int, document: str):
    from flask import Response

    from shop.cooperatives.models import Cooperative
    from shop.orders.documents import invoice_pdf, packing_slip_pdf

    session = get_session()
    service = OrderService(session)
    order = service.get_for_cooperative(current_user.cooperative_id, order_id)
    cooperative = session.get(Cooperative, order.cooperative_id)
    if document == "invoice":
        if order.invoice_number is None:
            return jsonify({"error": gettext("Confirm the order first: that gives it its invoice number."), "field": "status"}), 409
        pdf = invoice_pdf(order, service.lines(order.id), cooperative)
    else:
        shipment = ShipmentService(session).for_order(order.id)
        pdf = packing_slip_pdf(order, service.lines(order.id), cooperative, shipment.code if shipment else None)
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{document}-{order.reference}.pdf"'
    return response


@bp.get("/orders/<token>/vietqr.<any(png, svg):fmt>")
def order_vietqr(token: str, fmt: str):
    from flask import Response

    from shop.payments.vietqr import vietqr_png, vietqr_svg

    if token not in session.get(TRACKED_KEY, []):
        abort(404)
    service = OrderService(get_session())
    payload = service.vietqr_payload(service.by_token(token))
    if payload is None:
        abort(404)
    if fmt == "png":
        return Response(vietqr_png(payload), mimetype="image/png")
    return Response(vietqr_svg(payload), mimetype="image/svg+xml")


@bp.get("/htx/orders")
@requires("coop:order:read")
def backoffice_orders():
    orders = OrderService(get_session()).for_cooperative(current_user.cooperative_id)
    return render_template("orders/backoffice_orders.html", orders=orders)


@bp.get("/htx/orders/<int:order_id>")
@requires("coop:order:read")
def backoffice_order(order_id: int):
    service = OrderService(get_session())
    order = service.get_for_cooperative(current_user.cooperative_id, order_id)
    shipment = ShipmentService(get_session()).for_order(order.id)
    from flask_wtf import FlaskForm

    return render_template(
        "orders/backoffice_order.html", order=order, form=FlaskForm(), next_statuses=TRANSITIONS[order.status], lines=service.lines(order.id), history=service.history(order.id),
        shipment=shipment, address_text=address.full_address(order.street, order.ward_code, order.province_code),
    )


def _period() -> tuple:
    from datetime import date, timedelta

    from kernel.i18n import local_today

    today = local_today()
    try:
        start = date.fromisoformat(request.args.get("from") or (today.replace(day=1)).isoformat())
        end = date.fromisoformat(request.args.get("to") or today.isoformat())
    except ValueError:
        abort(400)
    if end < start or end - start > timedelta(days=366):
        abort(400)
    return start, end


def _cod_response(report, template_args: dict):
    from kernel.exports import table_response
    from workers.postal.reconciliation import flag_label

    export = request.args.get("format")
    if export in ("csv", "xlsx"):
        header, rows = report.table()
        return table_response(export, f"cod-{report.start}-{report.end}", header, rows, sheet_title="COD")
    return render_template("orders/cod.html", report=report, flag_label=flag_label, **template_args)


@bp.get("/htx/cod")
@requires("coop:order:read")
def cooperative_cod():
    from workers.postal.reconciliation import cod_report

    start, end = _period()
    return _cod_response(cod_report(get_session(), start, end, current_user.cooperative_id), {"scope": "cooperative"})


@bp.get("/alliance/cod")
@requires("alliance:console:read")
def alliance_cod():
    from workers.postal.reconciliation import cod_report

    start, end = _period()
    cooperative = request.args.get("cooperative", type=int)
    return _cod_response(cod_report(get_session(), start, end, cooperative), {"scope": "alliance"})
