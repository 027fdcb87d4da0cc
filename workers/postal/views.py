"""The partner portal for post-office staff: pick-ups grouped by commune/ward and cooperative,
accepting jobs, shipping labels, and the scan counter that moves parcels along.

Every query is the logged-in partner's own; a shipment or pick-up group of another partner is
simply unknown (404). Changes go through ShipmentService's partner-update path, the one the
partner API uses, so the portal and the API can never disagree on what a repeat or a late update does.
"""

from __future__ import annotations

import re
import secrets

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user
from flask_wtf import FlaskForm

from kernel import address
from kernel.permissions import requires
from kernel.db import get_session
from kernel.errors import NotFound, ServiceError, wants_json
from kernel.i18n import format_vnd, to_local
from kernel.labels import status_label
from kernel.timeutil import utcnow
from workers.postal.labels import SIZES, ShippingLabel, format_weight, render_labels
from workers.postal.models import Partner, ShipmentStatus
from workers.postal.services import NEXT_STATUSES, ShipmentService

bp = Blueprint("postal", __name__, url_prefix="/post")

# Status filter of the pick-up list: the open pick-ups (default), everything, or one status.
OPEN, ALL = "open", "all"
SCAN_LOG_KEY, SCAN_TALLY_KEY, SCAN_LOG_LENGTH = "portal_scans", "portal_scan_tally", 8
MAX_LABELS_PER_PDF = 500  # about three seconds of rendering: a bigger batch is a filter mistake
SCAN_KINDS = {"updated": "ok", "already": "same", "refused": "bad", "unknown": "bad", "invalid": "bad"}


def _partner_id() -> int:
    return current_user.partner_id or 0  # a partner account without a partner sees nothing


def _actor() -> str:
    return f"portal:{current_user.id}"


def _status_filter() -> tuple[str, tuple[str, ...] | None]:
    chosen = request.args.get("status") or OPEN
    if chosen == ALL:
        return ALL, None
    if chosen in {s.value for s in ShipmentStatus}:
        return chosen, (chosen,)
    return OPEN, tuple(ShipmentService.PICKUP_STATUSES)


def _by_ward(groups: list[dict]) -> list[dict]:
    """Cooperative groups inside their commune/ward, with names from the 2025 two-level units."""
    wards: dict[int, dict] = {}
    for group in groups:
        group["ward_name"] = address.ward_name(group["ward_code"])
        ward = wards.setdefault(group["ward_code"], {
            "ward_code": group["ward_code"], "ward_name": group["ward_name"],
            "province_name": address.province_name(group["province_code"]), "count": 0, "cod_total_vnd": 0, "groups": []})
        ward["count"] += group["count"]
        ward["cod_total_vnd"] += group["cod_total_vnd"]
        ward["groups"].append(group)
    for ward in wards.values():
        ward["groups"].sort(key=lambda g: (g["sender_name"].casefold(), g["cooperative_id"]))
    return sorted(wards.values(), key=lambda w: (w["province_name"], w["ward_name"], w["ward_code"]))


def _local_next(default: str) -> str:
    target = request.form.get("next") or ""
    return target if target.startswith("/") and not target.startswith("//") else default


def _label_size() -> str:
    size = request.args.get("size") or "thermal"
    if size not in SIZES:
        raise ServiceError(gettext("Choose a label size: thermal 100×150 mm or A6."), field="size")
    return size


def _pdf(content: bytes, filename: str) -> Response:
    response = Response(content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _labels(rows) -> list[ShippingLabel]:
    partner = get_session().get(Partner, _partner_id())
    partner_name = partner.name if partner else ""
    return [
        ShippingLabel(
            code=s.code, order_reference=s.order_reference, partner_name=partner_name, sender_name=s.sender_name,
            sender_address=address.full_address(s.sender_address, s.sender_ward_code, s.sender_province_code),
            sender_phone=phone, recipient_name=s.recipient_name, recipient_phone=s.recipient_phone,
            recipient_address=s.recipient_address, weight_g=s.weight_g, cod_amount_vnd=s.cod_amount_vnd, note=s.note,
            created_at=s.created_at,
        )
        for s, phone in rows
    ]


def _page_context(**extra) -> dict:
    return dict(statuses=list(ShipmentStatus), next_statuses=NEXT_STATUSES, form=FlaskForm(),
                label_sizes=list(SIZES), weight=format_weight, **extra)


@bp.get("/")
@requires("post:shipment:read")
def portal_home():
    chosen, statuses = _status_filter()
    groups = ShipmentService(get_session()).pickup_groups(_partner_id(), statuses, rows_per_group=50)
    wards = _by_ward(groups)
    return render_template(
        "postal/portal.html", wards=wards, status=chosen, rows_per_group=50,
        total_count=sum(w["count"] for w in wards), total_cod_vnd=sum(w["cod_total_vnd"] for w in wards),
        **_page_context(),
    )


@bp.get("/pickups/<int:cooperative_id>/<int:ward_code>")
@requires("post:shipment:read")
def pickup_group(cooperative_id: int, ward_code: int):
    chosen = request.args.get("status") or ALL
    groups = ShipmentService(get_session()).pickup_groups(
        _partner_id(), None, cooperative_id=cooperative_id, ward_code=ward_code, rows_per_group=1000)
    if not groups:
        abort(404)
    group = _by_ward(groups)[0]["groups"][0]
    group["province_name"] = address.province_name(group["province_code"])
    if chosen == OPEN:
        group["shipments"] = [s for s in group["shipments"] if s.status in ShipmentService.PICKUP_STATUSES]
    elif chosen in {s.value for s in ShipmentStatus}:
        group["shipments"] = [s for s in group["shipments"] if s.status == chosen]
    else:
        chosen = ALL
    return render_template("postal/portal_group.html", group=group, status=chosen, rows_per_group=1000, **_page_context())


@bp.get("/shipments/<code>")
@requires("post:shipment:read")
def shipment_detail(code: str):
    shipment, changes = ShipmentService(get_session()).history(_partner_id(), code)
    return render_template("postal/portal_shipment.html", shipment=shipment, changes=changes,
                           sender_address=address.full_address(shipment.sender_address, shipment.sender_ward_code,
                                                               shipment.sender_province_code),
                           **_page_context())


@bp.post("/shipments/<code>/accept")
@requires("post:shipment:write")
def accept(code: str):
    shipment, changed = ShipmentService(get_session()).accept(_partner_id(), code, actor=_actor())
    if changed:
        flash(gettext("Shipment %(code)s accepted.", code=shipment.code), "success")
    else:
        flash(gettext("Shipment %(code)s was already accepted (now: %(status)s).", code=shipment.code,
                      status=status_label(shipment.status)), "success")
    return redirect(_local_next(url_for(".portal_home"))), 303


@bp.post("/pickups/<int:cooperative_id>/<int:ward_code>/accept")
@requires("post:shipment:write")
def accept_group(cooperative_id: int, ward_code: int):
    accepted, size = ShipmentService(get_session()).accept_group(_partner_id(), cooperative_id, ward_code, actor=_actor())
    flash(gettext("Accepted %(accepted)d of the %(size)d shipments in this pick-up; the others were already accepted or on their way.",
                  accepted=accepted, size=size), "success")
    return redirect(_local_next(url_for(".portal_home"))), 303


@bp.get("/shipments/<code>/label.pdf")
@requires("post:shipment:read")
def shipment_label(code: str):
    size = _label_size()
    rows = ShipmentService(get_session()).for_labels(_partner_id(), codes=[code])
    return _pdf(render_labels(_labels(rows), size), f"{rows[0][0].code}-{size}.pdf")


@bp.get("/pickups/<int:cooperative_id>/<int:ward_code>/labels.pdf")
@requires("post:shipment:read")
def group_labels(cooperative_id: int, ward_code: int):
    size = _label_size()
    _chosen, statuses = _status_filter()
    rows = ShipmentService(get_session()).for_labels(_partner_id(), cooperative_id=cooperative_id, ward_code=ward_code,
                                                     statuses=statuses)
    if not rows:
        raise NotFound(gettext("This pick-up group has no shipments to print."), field="group")
    if len(rows) > MAX_LABELS_PER_PDF:
        raise ServiceError(gettext("%(count)d labels are too many to print at once (at most %(max)d): choose a status to narrow them.",
                                   count=len(rows), max=MAX_LABELS_PER_PDF), field="status")
    return _pdf(render_labels(_labels(rows), size), f"pickup-{cooperative_id}-{ward_code}-{size}.pdf")


@bp.post("/shipments/<code>/status")
@requires("post:shipment:write")
def update_status(code: str):
    form = FlaskForm()
    if not form.validate_on_submit():
        flash(gettext("Your form expired. Please try again."), "error")
        return redirect(url_for(".portal_home"))
    try:
        shipment, changed = ShipmentService(get_session()).portal_status(
            _partner_id(), code, request.form.get("status", ""), actor=_actor())
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for(".portal_home")), 303
    if changed:
        flash(gettext("Shipment %(code)s updated.", code=shipment.code), "success")
    return redirect(_local_next(url_for(".portal_home"))), 303


# The scan counter --------------------------------------------------------------------------------

_AMOUNT_NOISE = re.compile(r"[\s.,₫]|đ|vnd", re.IGNORECASE)


def _parse_amount(raw: str) -> int | None:
    """'213.000 ₫', '213000', '213 000 đ' -> 213000; blank -> None; anything else -> ValueError."""
    cleaned = _AMOUNT_NOISE.sub("", raw or "")
    if not cleaned:
        return None
    if not (cleaned.isascii() and cleaned.isdigit()) or len(cleaned) > 11:
        raise ValueError(raw)
    return int(cleaned)


def _scan_message(outcome: str, code: str, status: str, shipment) -> str:
    cod = status == "cod_collected"
    if outcome == "updated":
        if cod:
            return gettext("%(code)s: cash collected %(amount)s recorded.", code=code, amount=format_vnd(shipment.cod_collected_vnd))
        return gettext("%(code)s: updated, now %(status)s.", code=code, status=status_label(shipment.status))
    if outcome == "already":
        if cod:
            return gettext("%(code)s: cash collected was already recorded (%(amount)s); nothing changed.", code=code,
                           amount=format_vnd(shipment.cod_collected_vnd))
        return gettext("%(code)s: already at this status (%(status)s); nothing changed.", code=code,
                       status=status_label(shipment.status))
    if shipment is not None and shipment.status == ShipmentStatus.CANCELLED:
        return gettext("%(code)s: refused, this shipment was cancelled.", code=code)
    return gettext("%(code)s: refused, it is already %(current)s and would move backwards to %(status)s.", code=code,
                   current=status_label(shipment.status), status=status_label(status))


def _scan_label(status: str) -> str:
    return gettext("Cash collected (COD)") if status == "cod_collected" else status_label(status)


# Only what identifies a scan goes into the session cookie (signed, not encrypted): no recipient
# names, no amounts, no messages quoting them. The page re-reads the details from the database,
# scoped to the logged-in partner, and the log belongs to one user (login and logout clear it too).
_STORED_SCAN_FIELDS = ("code", "status", "outcome", "kind", "field", "at")


def _record_scan(entry: dict) -> dict:
    """Keep the last few results and a running tally in the staff member's session, so the
    page shows them after a reload and without JavaScript."""
    stored = {key: entry.get(key) for key in _STORED_SCAN_FIELDS}
    if entry["outcome"] == "invalid" and entry["field"] != "amount_vnd":
        stored["message"] = entry["message"]  # a form mistake: no shipment details in it
    log = session.get(SCAN_LOG_KEY)
    entries = log["entries"] if isinstance(log, dict) and log.get("user") == current_user.id else []
    session[SCAN_LOG_KEY] = {"user": current_user.id, "entries": ([stored] + list(entries))[:SCAN_LOG_LENGTH]}
    tally = session.get(SCAN_TALLY_KEY)
    counts = dict(tally["counts"]) if isinstance(tally, dict) and tally.get("user") == current_user.id else {}
    counts[entry["kind"]] = counts.get(entry["kind"], 0) + 1
    session[SCAN_TALLY_KEY] = {"user": current_user.id, "counts": counts}
    return counts


def _scan_log() -> tuple[list[dict], dict]:
    """The current user's last scans, with their messages and shipment details read back now."""
    log, tally = session.get(SCAN_LOG_KEY), session.get(SCAN_TALLY_KEY)
    entries = log["entries"] if isinstance(log, dict) and log.get("user") == current_user.id else []
    counts = tally["counts"] if isinstance(tally, dict) and tally.get("user") == current_user.id else {}
    shipments = ShipmentService(get_session()).by_codes(_partner_id(), [e.get("code") or "" for e in entries])
    shown = []
    for stored in entries:
        entry = dict(stored, recipient=None, cod_amount_vnd=None)
        shipment = shipments.get(entry.get("code") or "")
        outcome, code, status = entry.get("outcome"), entry.get("code") or "", entry.get("status") or ""
        if outcome in ("updated", "already", "refused") and shipment is not None:
            entry["message"] = _scan_message(outcome, shipment.code, status, shipment)
        elif outcome == "unknown" or (outcome != "invalid" and shipment is None):
            entry["message"] = gettext("%(code)s: unknown code, not one of your shipments. Check the label and scan again.",
                                       code=code[:20])
        elif not entry.get("message"):
            entry["message"] = gettext("%(code)s: the cash amount was refused; check it and scan again.", code=code[:20])
        if shipment is not None:
            entry.update(recipient=shipment.recipient_name, cod_amount_vnd=shipment.cod_amount_vnd)
        shown.append(entry)
    return shown, counts


@bp.get("/scan")
@requires("post:shipment:write")
def scan_page():
    status = request.args.get("status")
    if status not in ShipmentService.SCAN_STATUSES:
        status = ShipmentStatus.PICKED_UP.value
    log, tally = _scan_log()
    return render_template(
        "postal/scan.html", form=FlaskForm(), scan_id=secrets.token_hex(8), status=status,
        scan_statuses=[(s, _scan_label(s)) for s in ShipmentService.SCAN_STATUSES], log=log,
        last=log[0] if log and request.args.get("done") else None, tally=tally,
    )


@bp.post("/scan")
@requires("post:shipment:write")
def scan():
    form = FlaskForm()  # CSRFProtect already refused a missing token; this keeps the view explicit
    if not form.validate_on_submit():
        abort(400)
    code = re.sub(r"\s+", "", request.form.get("code", "")).upper()
    status = request.form.get("status", "")
    entry = {"code": code, "status": status, "status_label": _scan_label(status) if status in ShipmentService.SCAN_STATUSES else status,
             "at": to_local(utcnow()).strftime("%H:%M:%S"), "current_status": None,
             "current_status_label": None, "recipient": None, "cod_amount_vnd": None}
    http_status, outcome, shipment, field = 200, None, None, None
    try:
        if not code:
            raise ServiceError(gettext("Scan or type a shipment code."), field="code")
        if status not in ShipmentService.SCAN_STATUSES:
            raise ServiceError(gettext("Choose the new status."), field="status")
        amount = None
        if status == "cod_collected":  # the amount box is ignored for every other status
            try:
                amount = _parse_amount(request.form.get("amount_vnd", ""))
            except ValueError:
                amount = None
            if amount is None:
                raise ServiceError(gettext("Enter the cash collected in whole dong, e.g. 213000."), field="amount_vnd")
        if len(code) > 20:
            raise NotFound(gettext("Unknown shipment code."), field="code")
        outcome, shipment = ShipmentService(get_session()).apply_scan(
            _partner_id(), code, request.form.get("scan_id", ""), status, amount, actor=_actor(),
            amount_confirmed=bool(request.form.get("amount_confirmed")))
        message = _scan_message(outcome, shipment.code, status, shipment)
    except NotFound:
        http_status, outcome, field = 404, "unknown", "code"
        message = gettext("%(code)s: unknown code, not one of your shipments. Check the label and scan again.", code=code[:20])
    except ServiceError as error:
        http_status, outcome, field = 400, "invalid", error.field
        message = error.message
    if shipment is not None:
        entry.update(code=shipment.code, current_status=shipment.status, current_status_label=status_label(shipment.status),
                     recipient=shipment.recipient_name, cod_amount_vnd=shipment.cod_amount_vnd)
    entry.update(outcome=outcome, kind=SCAN_KINDS[outcome], message=message, field=field)
    tally = _record_scan(entry)
    if wants_json():
        return jsonify({**entry, "tally": tally}), http_status
    # Without JavaScript: back to the counter page (the browser's reload cannot send the scan twice).
    return redirect(url_for(".scan_page", status=status if status in ShipmentService.SCAN_STATUSES else None, done=1)), 303
