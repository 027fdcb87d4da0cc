"""The audit log, read-only: the alliance sees every entry, a cooperative's members their own.

Only GET routes exist; the log cannot be edited or deleted through the service."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, time, timedelta

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext, lazy_gettext as _l
from flask_login import current_user

from kernel.audit.services import AuditTrail, changes
from kernel.db import get_session
from kernel.errors import ServiceError
from kernel.extensions import login_manager
from kernel.i18n import LOCAL_TZ

bp = Blueprint("audit", __name__)
PER_PAGE = 50
MAX_PAGE = 100_000  # as the registry: far past the last page, and the offset stays a small integer
FIRST_YEAR, LAST_YEAR = 1900, 2100

# People-facing names of the actions this package's neighbours record; others show their code.
ACTION_LABELS = {
    "cooperative.apply": _l("Application sent"),
    "cooperative.approve": _l("Application approved"),
    "cooperative.reject": _l("Application rejected"),
    "cooperative.suspend": _l("Cooperative suspended"),
    "cooperative.reinstate": _l("Cooperative reinstated"),
    "key.rotate": _l("Signing key rotated"),
    "key.revoke": _l("Signing key revoked"),
    "batch.recall": _l("Batch recalled"),
    "apikey.create": _l("API key created"),
    "apikey.revoke": _l("API key revoked"),
    "invitation.create": _l("Member invited"),
    "invitation.revoke": _l("Invitation withdrawn"),
    "invitation.accept": _l("Invitation accepted"),
    "user.password_change": _l("Member's password set"),
    "user.deactivate": _l("Member switched off"),
    "user.activate": _l("Member switched on"),
    "registry.create": _l("Registry entry added"),
    "registry.update": _l("Registry entry changed"),
    "registry.import": _l("Registry spreadsheet imported"),
    "survey.record": _l("Survey findings recorded"),
    "tariff.publish": _l("Shipping tariff published"),
    "task.retry": _l("Failed job queued again"),
    "task.resolve": _l("Failed job closed"),
    "webhook.retry": _l("Partner message queued again"),
}


def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def _trail() -> AuditTrail:
    """The reader's view of the log, or the login page / 403 for anybody else."""
    if not current_user.is_authenticated:
        abort(login_manager.unauthorized())
    if "alliance:audit:read" in current_user.permissions:
        return AuditTrail(get_session())
    if "coop:audit:read" in current_user.permissions and current_user.cooperative_id is not None:
        return AuditTrail(get_session(), cooperative_id=current_user.cooperative_id)
    abort(403)


def _day(name: str) -> tuple[date | None, str | None]:
    """A date from the filter form: yyyy-mm-dd (the date picker) or dd/mm/yyyy (typed)."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None, None
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            day = datetime.strptime(raw, pattern).date()
        except ValueError:
            continue
        # Year 1 or 9999 would overflow when turned into a UTC range; the log holds nothing that old anyway.
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            return None, gettext("Enter a date between %(first)d and %(last)d.", first=FIRST_YEAR, last=LAST_YEAR)
        return day, None
    return None, gettext("Enter the date as dd/mm/yyyy.")


def _filters() -> tuple[dict, dict[str, str]]:
    errors: dict[str, str] = {}
    since, error = _day("from")
    if error:
        errors["from"] = error
    until, error = _day("to")
    if error:
        errors["to"] = error
    if since and until and until < since:
        errors["to"] = gettext("The end date is before the start date.")
    cooperative = request.args.get("cooperative", type=int)
    filters = {
        "action": (request.args.get("action") or "").strip()[:80] or None,
        "cooperative_id": cooperative if cooperative and 0 < cooperative < 2**31 else None,
        # Days are the reader's days in Asia/Ho_Chi_Minh; the end day is included.
        "since": datetime.combine(since, time.min, LOCAL_TZ) if since and not errors else None,
        "until": datetime.combine(until + timedelta(days=1), time.min, LOCAL_TZ) if until and not errors else None,
    }
    return filters, errors


def _shown(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _cooperative_names() -> list[tuple[int, str]]:
    from shop.cooperatives.services import CooperativeService
    from traceability.services import key_service

    session = get_session()
    return [(c.id, c.name) for c in CooperativeService(session, key_service(session)).all()]


def _names_of(cooperative_ids: set[int]) -> dict[int, str]:
    from sqlmodel import select

    from shop.cooperatives.models import Cooperative

    if not cooperative_ids:
        return {}
    return dict(get_session().exec(select(Cooperative.id, Cooperative.name)
                                   .where(Cooperative.id.in_(cooperative_ids))).all())  # type: ignore[union-attr]


@bp.get("/audit")
def entries():
    trail = _trail()
    filters, errors = _filters()
    page = min(max(1, request.args.get("page", 1, type=int) or 1), MAX_PAGE)
    rows, total = trail.page(page, PER_PAGE, **filters)
    pages = max(1, math.ceil(total / PER_PAGE))
    args = {key: value for key, value in request.args.items() if key != "page" and value}
    cooperatives = [] if trail.scope is not None else _cooperative_names()
    return render_template(
        "audit/entries.html", rows=[(entry, changes(entry.before, entry.after)) for entry in rows], total=total,
        page=page, pages=pages, args=args, errors=errors, actions=trail.actions(), scoped=trail.scope is not None,
        cooperatives=cooperatives, shown=_shown, action_label=action_label), 400 if errors else 200


@bp.get("/audit/export.<fmt>")
def export(fmt: str):
    from kernel.exports import table_response

    if fmt not in ("csv", "xlsx"):
        abort(404)
    trail = _trail()
    filters, errors = _filters()
    if errors:
        field, message = next(iter(errors.items()))
        raise ServiceError(message, field=field)
    header = [gettext("Time"), gettext("Who"), gettext("Action"), gettext("Object"), gettext("Cooperative"),
              gettext("Before"), gettext("After")]
    found = trail.all(**filters)
    names = _names_of({e.cooperative_id for e in found if e.cooperative_id is not None})
    rows = ([e.at, e.actor_label, action_label(e.action), f"{e.object_type} {e.object_id}",
             names.get(e.cooperative_id, "") if e.cooperative_id is not None else "",
             _shown(e.before), _shown(e.after)] for e in found)
    return table_response(fmt, "nhat-ky-quan-tri", header, rows, sheet_title=gettext("Audit log"))
