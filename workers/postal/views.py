"""The partner portal for post-office staff."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from flask_wtf import FlaskForm

from shop.accounts.permissions import requires
from shop.db import get_session
from shop.errors import ServiceError
from workers.postal.models import ShipmentStatus
from workers.postal.services import NEXT_STATUSES, ShipmentService

bp = Blueprint("postal", __name__, url_prefix="/post")


@bp.get("/")
@requires("post:shipment:read")
def portal_home():
    status = request.args.get("status") or None
    if status and status not in set(ShipmentStatus):
        status = None
    shipments = ShipmentService(get_session()).for_partner(current_user.partner_id, status)
    return render_template(
        "postal/portal.html", shipments=shipments, status=status, statuses=list(ShipmentStatus),
        next_statuses=NEXT_STATUSES, form=FlaskForm(),
    )


@bp.post("/shipments/<code>/status")
@requires("post:shipment:write")
def update_status(code: str):
    form = FlaskForm()
    if not form.validate_on_submit():
        flash(gettext("Your form expired. Please try again."), "error")
        return redirect(url_for(".portal_home"))
    try:
        shipment, changed = ShipmentService(get_session()).update_status(
            current_user.partner_id, code, request.form.get("status", ""), actor=f"partner:{current_user.id}"
        )
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for(".portal_home")), 303
    if changed:
        flash(gettext("Shipment %(code)s updated.", code=shipment.code), "success")
    return redirect(url_for(".portal_home")), 303
