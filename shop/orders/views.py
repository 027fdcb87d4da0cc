"""Cart, checkout and order tracking for buyers; order lists for cooperatives."""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user
from pydantic import ValidationError

from shop import address
from shop.accounts.permissions import requires
from shop.catalog.services import PublicCatalog
from shop.db import get_session
from shop.errors import NotFound, ServiceError
from shop.forms import apply_errors, schema_from_form
from shop.orders import cart
from shop.orders.forms import AddToCartForm, CheckoutForm
from shop.orders.schemas import CheckoutData
from shop.orders.services import OrderService
from workers.postal.services import ShipmentService

bp = Blueprint("orders", __name__)
TRACKED_KEY = "tracked_orders"


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
def checkout():
    rows, total = _cart_view()
    form = CheckoutForm()
    province = form.province_code.data if request.method == "POST" else request.args.get("province", type=int)
    form.fill_choices(province)
    if request.method == "GET":
        form.checkout_key.data = secrets.token_urlsafe(18)
        if province:
            form.province_code.data = province
    if not rows and request.method == "GET":
        return redirect(url_for(".view_cart"))
    if form.validate_on_submit():
        key = request.headers.get("Idempotency-Key") or form.checkout_key.data
        try:
            data = schema_from_form(CheckoutData, form)
            orders = OrderService(get_session()).place(key, cart.lines(), data)
        except (ValidationError, ServiceError) as error:
            apply_errors(form, error)
        else:
            cart.clear()
            session[TRACKED_KEY] = list({*session.get(TRACKED_KEY, []), *(o.public_token for o in orders)})[-20:]
            return redirect(url_for(".placed", tokens=",".join(o.public_token for o in orders)), 303)
    return render_template("orders/checkout.html", form=form, rows=rows, total=total), 400 if form.errors else 200


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
        "orders/track.html", order=order, lines=service.lines(order.id), history=service.history(order.id),
        shipment=shipment, address_text=address.full_address(order.street, order.ward_code, order.province_code),
    )


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
    return render_template(
        "orders/backoffice_order.html", order=order, lines=service.lines(order.id), history=service.history(order.id),
        shipment=shipment, address_text=address.full_address(order.street, order.ward_code, order.province_code),
    )
