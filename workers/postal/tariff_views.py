"""The shipping tariff in the alliance console: the version in force and its history, the edit
form (each save publishes the next version), and a calculator that itemises a quote."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_wtf import FlaskForm

from kernel import address
from kernel.permissions import requires
from kernel.db import get_session
from kernel.errors import ServiceError
from workers.postal.schemas import Zone
from workers.postal.tariff import (
    CALCULATOR_FIELDS,
    ActiveTariff,
    TariffBook,
    form_values,
    is_number,
    rates_from_form,
    sample_quotes,
)

bp = Blueprint("tariff", __name__, url_prefix="/alliance/tariff")


@bp.get("/")
@bp.get("/versions/<int:version>")
@requires("alliance:tariff:read")
def show(version: int | None = None):
    book = TariffBook(get_session())
    history = book.history()
    row = book.get(version) if version is not None else history[0]
    return render_template("postal/tariff.html", row=row, tariff=ActiveTariff.from_row(row), history=history,
                           active_version=history[0].version, zones=list(Zone))


@bp.route("/edit", methods=["GET", "POST"])
@requires("alliance:tariff:write")
def edit():
    book = TariffBook(get_session())
    current = book.active()
    form = FlaskForm()
    errors: dict[str, str] = {}
    samples = None
    values = dict(form_values(current.rates), note="", based_on=str(current.version))
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in values}
        if not form.validate_on_submit():
            errors["form"] = gettext("Your form expired. Please try again.")
        elif request.form.get("action") == "preview":
            # Typical parcels now and under the draft; nothing is saved.
            rates, errors = rates_from_form(request.form, current.rates.regions)
            if rates is not None:
                samples = sample_quotes(current, rates, int(current_app.config["ALLIANCE_PROVINCE_CODE"]))
        else:
            rates, errors = rates_from_form(request.form, current.rates.regions)
            note = request.form.get("note", "").strip()
            if len(note) < 3 or len(note) > 300:
                errors["note"] = gettext("Say in a few words (3 to 300 characters) why the tariff changes.")
            based_on = request.form.get("based_on", "")
            if not errors:
                try:
                    row = book.publish(rates, note, int(based_on) if is_number(based_on) and len(based_on) < 10 else -1)
                except ServiceError as error:
                    errors[error.field or "form"] = error.message
                else:
                    flash(gettext("Tariff version %(version)s is now in force.", version=row.version), "success")
                    return redirect(url_for(".show"), 303)
    return render_template("postal/tariff_edit.html", form=form, values=values, errors=errors, current=current,
                           zones=list(Zone), samples=samples), 400 if errors else 200


@bp.get("/calculator")
@requires("alliance:tariff:read")
def calculator():
    book = TariffBook(get_session())
    history = book.history()
    values = {name: request.args.get(name, "").strip() for name in (*CALCULATOR_FIELDS, "version")}
    quote, errors = book.preview(values) if request.args else (None, {})
    return render_template("postal/tariff_calculator.html", values=values, errors=errors, quote=quote, history=history,
                           provinces=address.provinces(),
                           wards=address.wards(int(values["to_province"])) if is_number(values["to_province"]) and len(values["to_province"]) < 4 else []), \
        400 if errors else 200


@bp.context_processor
def _labels():
    zones = {Zone.INTRA_PROVINCE: gettext("Same province"), Zone.INTRA_REGION: gettext("Same region"),
             Zone.INTER_REGION: gettext("Another region")}
    regions = {"north": gettext("North"), "central": gettext("Central"), "south": gettext("South")}
    return {
        "zone_label": lambda zone: zones.get(zone, zone),
        "region_label": lambda name: regions.get(name, name),
        "province_label": address.province_name,
        "ward_label": lambda code: f"{address.ward_name(code)} ({code})",
    }
