"""Language, money and time as people in Vietnam read them.

Vietnamese is the default; English is chosen by the toggle (remembered in a cookie) or by the
browser's Accept-Language. Times are stored in UTC and shown in Asia/Ho_Chi_Minh as dd/mm/yyyy.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, has_request_context, redirect, request, url_for
from flask_babel import Babel, get_locale

SUPPORTED_LOCALES = ("vi", "en")
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
LANG_COOKIE = "lang"
TRANSLATIONS_DIR = Path(__file__).parent / "translations"

bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    if not has_request_context():
        return "vi"  # tasks and commands write for Vietnamese readers unless told otherwise
    chosen = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in SUPPORTED_LOCALES:
        return chosen
    header = request.headers.get("Accept-Language", "")
    # Only switch away from Vietnamese when the browser prefers English over Vietnamese.
    best = request.accept_languages.best_match(SUPPORTED_LOCALES, default="vi") if header else "vi"
    return best or "vi"


def format_vnd(amount: int | None) -> str:
    """120000 -> '120.000 ₫' (whole dong, dot as thousands separator, as Vietnamese write it)."""
    if amount is None:
        return "—"
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(int(amount)):,}".replace(",", ".") + " ₫"


def to_local(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(LOCAL_TZ)


def local_today() -> date:
    """Today as a person in Vietnam reads the calendar (the server's clock runs in UTC: between
    00:00 and 07:00 in Vietnam the UTC date is still yesterday)."""
    return datetime.now(LOCAL_TZ).date()


def format_date(value: date | datetime | str | None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):  # ISO text from a signed payload
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = to_local(value)
    return value.strftime("%d/%m/%Y")


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return "—"
    return to_local(value).strftime("%H:%M %d/%m/%Y")


@bp.get("/lang/<code>")
def switch_language(code: str):
    target = request.args.get("next") or url_for("catalog.home")
    # Only local paths: the toggle must not become an open redirect.
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("catalog.home")
    response = redirect(target)
    if code in SUPPORTED_LOCALES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response


def init_i18n(app: Flask, babel: Babel) -> None:
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(TRANSLATIONS_DIR),
    )
    app.jinja_env.filters["vnd"] = format_vnd
    app.jinja_env.filters["date_vn"] = format_date
    app.jinja_env.filters["datetime_vn"] = format_datetime
    app.jinja_env.globals["current_locale"] = lambda: str(get_locale())
    app.register_blueprint(bp)
