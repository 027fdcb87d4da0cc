"""The alliance console: the registry of cooperatives, applications and their approval; and the
public application form."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from pydantic import ValidationError

from kernel.errors import ServiceError

from kernel.permissions import requires
from shop.cooperatives.forms import ApplicationForm, ReasonForm
from shop.cooperatives.schemas import CooperativeApplication
from shop.cooperatives.services import CooperativeService
from kernel.db import get_session
from kernel.extensions import limiter
from shop.forms import apply_errors, schema_from_form
from traceability.services import key_service

bp = Blueprint("cooperatives", __name__)


def _application_limit() -> str:
    return current_app.config.get("APPLICATION_RATE_LIMIT", "10 per hour")


@bp.route("/apply", methods=["GET", "POST"])
@limiter.limit(_application_limit, methods=["POST"])
def apply():
    """A cooperative applies to sell through the alliance; no account needed."""
    form = ApplicationForm()
    province = form.province_code.data if request.method == "POST" else request.args.get("province", type=int)
    form.fill_choices(province)
    if request.method == "GET" and province:
        form.province_code.data = province
    status = 200
    if form.validate_on_submit():
        session = get_session()
        try:
            data = schema_from_form(CooperativeApplication, form)
            CooperativeService(session, key_service(session)).apply(data)
        except (ValidationError, ServiceError) as error:
            apply_errors(form, error)
            status = getattr(error, "status", 400)
        else:
            return redirect(url_for(".application_sent"), 303)
    elif form.is_submitted():
        status = 400
    return render_template("cooperatives/apply.html", form=form), status


@bp.get("/apply/sent")
def application_sent():
    return render_template("cooperatives/application_sent.html")


@bp.get("/alliance/applications")
@requires("alliance:cooperative:read")
def applications():
    session = get_session()
    pending = CooperativeService(session, key_service(session)).pending_applications()
    return render_template("cooperatives/applications.html", applications=pending)


@bp.post("/alliance/cooperatives/<int:cooperative_id>/decision")
@requires("alliance:cooperative:write")
def decide(cooperative_id: int):
    """Approve, reject (with a reason), suspend (with a reason) or reinstate."""
    session = get_session()
    service = CooperativeService(session, key_service(session))
    form = ReasonForm()
    action = request.form.get("action", "")
    actions = {
        "approve": (lambda: service.approve(cooperative_id), gettext("Approved: the signing key and certificate are issued.")),
        "reject": (lambda: service.reject(cooperative_id, form.reason.data or ""), gettext("The application is rejected; the cooperative is told why.")),
        "suspend": (lambda: service.suspend(cooperative_id, form.reason.data or ""), gettext("The cooperative is suspended.")),
        "reinstate": (lambda: service.reinstate(cooperative_id), gettext("The cooperative is reinstated.")),
    }
    if action not in actions:
        from flask import abort

        abort(400)
    if not form.validate_on_submit():
        flash(gettext("Your form expired. Please try again."), "error")
        return redirect(url_for(".cooperative_detail", cooperative_id=cooperative_id), 303)
    run, done = actions[action]
    try:
        run()
    except ServiceError as error:
        # Shown on the page itself with the error status, so nothing of the attempt is committed.
        form.reason.errors = [error.message]
        return _detail_page(service, cooperative_id, form), error.status
    flash(done, "success")
    return redirect(url_for(".cooperative_detail", cooperative_id=cooperative_id), 303)


def _detail_page(service: CooperativeService, cooperative_id: int, decision_form: ReasonForm | None = None):
    from kernel import address

    cooperative = service.get(cooperative_id)
    return render_template(
        "cooperatives/cooperative.html", cooperative=cooperative, keys=service.signing_keys(cooperative_id),
        form=FlaskForm(), decision_form=decision_form or ReasonForm(), first_users=service.first_users(cooperative_id),
        place=f"{address.ward_name(cooperative.ward_code)}, {address.province_name(cooperative.province_code)}",
        bank=service.bank_name(cooperative.bank_bin))


@bp.get("/alliance/")
@requires("alliance:console:read")
def alliance_home():
    session = get_session()
    service = CooperativeService(session, key_service(session))
    return render_template("cooperatives/alliance_home.html", cooperatives=service.all(),
                           waiting=len(service.pending_applications()))


@bp.get("/alliance/cooperatives.<any(csv, xlsx):fmt>")
@requires("alliance:console:read")
def export_cooperatives(fmt: str):
    """The console's list of cooperatives as a spreadsheet."""
    from kernel import address
    from kernel.exports import table_response
    from kernel.labels import status_label
    from shop.registry.schemas import kind_label

    session = get_session()
    header = [gettext("Name"), gettext("Type"), gettext("Registration no."), gettext("Province / city"),
              gettext("Commune / ward"), gettext("Phone"), gettext("E-mail"), gettext("Status"), gettext("Applied")]
    rows = [[c.name, kind_label(c.kind), c.registration_no, address.province_name(c.province_code),
             address.ward_name(c.ward_code), c.phone, c.email, status_label(c.status), c.created_at]
            for c in CooperativeService(session, key_service(session)).all()]
    return table_response(fmt, "hop-tac-xa", header, rows, sheet_title=gettext("Cooperatives"))


@bp.get("/alliance/cooperatives/<int:cooperative_id>")
@requires("alliance:cooperative:read")
def cooperative_detail(cooperative_id: int):
    session = get_session()
    return _detail_page(CooperativeService(session, key_service(session)), cooperative_id)


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
