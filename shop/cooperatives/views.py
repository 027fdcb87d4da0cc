"""The alliance console (issue 7 grows it): the registry of cooperatives."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from flask_wtf import FlaskForm

from shop.errors import ServiceError

from shop.accounts.permissions import requires
from shop.cooperatives.services import CooperativeService
from shop.db import get_session
from traceability.services import key_service

bp = Blueprint("cooperatives", __name__)


@bp.get("/alliance/")
@requires("alliance:console:read")
def alliance_home():
    session = get_session()
    cooperatives = CooperativeService(session, key_service(session)).all()
    return render_template("cooperatives/alliance_home.html", cooperatives=cooperatives)


@bp.get("/alliance/cooperatives/<int:cooperative_id>")
@requires("alliance:cooperative:read")
def cooperative_detail(cooperative_id: int):
    session = get_session()
    service = CooperativeService(session, key_service(session))
    cooperative = service.get(cooperative_id)
    keys = service.signing_keys(cooperative_id)
    return render_template("cooperatives/cooperative.html", cooperative=cooperative, keys=keys, form=FlaskForm())


@bp.post("/alliance/cooperatives/<int:cooperative_id>/keys")
@requires("alliance:cooperative:write")
def manage_key(cooperative_id: int):
    session = get_session()
    service = CooperativeService(session, key_service(session))
    if not FlaskForm().validate_on_submit():
        flash(gettext("Your form expired. Please try again."), "error")
        return redirect(url_for(".cooperative_detail", cooperative_id=cooperative_id), 303)
    try:
        if request.form.get("action") == "rotate":
            service.rotate_key(cooperative_id)
            flash(gettext("A new signing key was issued; the old one is retired."), "success")
        else:
            service.revoke_key(cooperative_id, request.form.get("kid", ""), request.form.get("reason", ""))
            flash(gettext("The key is revoked."), "success")
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for(".cooperative_detail", cooperative_id=cooperative_id), 303)
    return redirect(url_for(".cooperative_detail", cooperative_id=cooperative_id), 303)


@bp.route("/alliance/recall", methods=["GET", "POST"])
@requires("trace:batch:recall")
def alliance_recall():
    if current_user.role != "alliance_admin":
        from flask import abort

        abort(403)
    form = FlaskForm()
    errors: dict[str, str] = {}
    if request.method == "POST" and form.validate_on_submit():
        session = get_session()
        try:
            CooperativeService(session, key_service(session)).recall_batch(
                request.form.get("gtin", ""), request.form.get("lot", ""), request.form.get("reason", ""),
                actor=f"alliance:{current_user.id}")
        except ServiceError as error:
            errors[error.field or "gtin"] = error.message
        else:
            flash(gettext("The batch is recalled."), "success")
            return redirect(url_for(".alliance_recall"), 303)
    return render_template("cooperatives/recall.html", form=form, errors=errors, values=request.form), 400 if errors else 200
