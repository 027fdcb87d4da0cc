"""Score pages for cooperatives and the alliance, the dashboard, its downloads and the monthly PDF."""

from __future__ import annotations

from datetime import date, datetime

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from pydantic import ValidationError
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from shop import charts
from kernel.permissions import requires
from kernel.db import get_session
from kernel.errors import ServiceError
from kernel.exports import table_response
from shop.forms import apply_errors, schema_from_form
from kernel.i18n import LOCAL_TZ, format_date, format_vnd
from shop.insight.formatting import format_month, format_number, format_percent
from shop.insight.schemas import MonthRange, Period, SurveyFindingCreate, Table
from shop.insight.services import (
    COMPONENT_LABELS,
    GRADE_LABELS,
    SCORING,
    TABLE_KEYS,
    ClassificationService,
    DashboardService,
    grade_label,
)

bp = Blueprint("insight", __name__)
EXPORT_FORMATS = ("csv", "xlsx")
SORT_KEYS = ("total", "name", *COMPONENT_LABELS)
MAX_MONTHS = 36


class SurveyForm(FlaskForm):
    survey_date = DateField(_l("Date of the survey"), validators=[InputRequired(_l("Enter the date of the survey."))])
    surveyor = StringField(_l("Surveyor"), validators=[DataRequired(_l("Enter who surveyed.")), Length(min=2, max=120)])
    findings = TextAreaField(_l("Findings"), validators=[DataRequired(_l("Write what the survey found.")), Length(min=5, max=4000)])
    assessed_class = SelectField(_l("Class the surveyors assess"), choices=[("", "—"), *GRADE_LABELS.items()], default="")


@bp.app_template_filter("num")
def _num(value, decimals: int = 0) -> str:
    return format_number(value, decimals)


@bp.app_template_filter("month_vn")
def _month(value: str) -> str:
    return format_month(value)


def format_cell(value, kind: str) -> str:
    if kind == "vnd":
        return format_vnd(value)
    if kind == "number":
        return format_number(value)
    if kind == "decimal":
        return format_number(value, 2)
    if kind == "percent":
        return format_percent(value)
    if kind == "month":
        return format_month(value)
    if kind == "date":
        return format_date(value)
    return "" if value is None else str(value)


# -- parameters --------------------------------------------------------------------------------------
def _date_arg(name: str) -> date | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise ServiceError(gettext("Enter a valid date (dd/mm/yyyy)."), field=name) from None
    return _within_years(value, name)


# Periods are computed with a day or a year of margin either side; dates near year 1 or 9999 would
# overflow Python's calendar, and no figure in the service is that old or that far ahead.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2100


def _within_years(value: date, name: str) -> date:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ServiceError(gettext("Choose a date between %(first)d and %(last)d.", first=EARLIEST_YEAR, last=LATEST_YEAR),
                           field=name)
    return value


def _score_period(service: ClassificationService) -> Period:
    start, end = _date_arg("from"), _date_arg("to")
    default = service.default_period()
    period = Period(start or (default.start if not end else Period.months_back(SCORING.period_months, end).start),
                    end or default.end)
    if period.end < period.start:
        raise ServiceError(gettext("The end of the period comes before its start."), field="to")
    if (period.end - period.start).days > 366 * 3:
        raise ServiceError(gettext("Choose a period of at most three years."), field="from")
    return period


def _month_arg(name: str) -> date | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        value = datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise ServiceError(gettext("Enter a month as yyyy-mm."), field=name) from None
    return _within_years(value, name)


def _months() -> MonthRange:
    default = MonthRange.last_months(12, datetime.now(LOCAL_TZ).date())
    first, last = _month_arg("from"), _month_arg("to")
    months = MonthRange(first or (default.first if not last else MonthRange.last_months(12, last).first), last or default.last)
    if months.last < months.first:
        raise ServiceError(gettext("The end of the period comes before its start."), field="to")
    if len(months.months()) > MAX_MONTHS:
        raise ServiceError(gettext("Choose a period of at most three years."), field="from")
    return months


def _rules() -> dict:
    return {"rules": SCORING, "component_labels": COMPONENT_LABELS, "grade_labels": GRADE_LABELS}


# -- a cooperative's own score ---------------------------------------------------------------------------
@bp.get("/htx/score")
@requires("coop:order:read")
def cooperative_score():
    service = ClassificationService(get_session())
    period = _score_period(service)
    score = service.score(current_user.cooperative_id, period)
    return render_template("insight/cooperative_score.html", score=score, period=period, **_rules())


# -- the alliance: ranking, one cooperative, survey findings ------------------------------------------------
def _ranking():
    service = ClassificationService(get_session())
    period = _score_period(service)
    grade = request.args.get("class") or None
    if grade is not None and grade not in GRADE_LABELS:
        raise ServiceError(gettext("Choose one of the classes."), field="class")
    sort = request.args.get("sort", "total")
    if sort not in SORT_KEYS:
        sort = "total"
    descending = request.args.get("dir", "desc" if sort != "name" else "asc") != "asc"
    return period, grade, sort, descending, service.ranking(period, grade=grade, sort=sort, descending=descending)


@bp.get("/alliance/ranking")
@requires("alliance:console:read")
def ranking():
    period, grade, sort, descending, scores = _ranking()
    return render_template("insight/ranking.html", scores=scores, period=period, grade=grade, sort=sort,
                           descending=descending, sort_keys=SORT_KEYS, **_rules())


@bp.get("/alliance/ranking.<fmt>")
@requires("alliance:console:read")
def ranking_export(fmt: str):
    if fmt not in EXPORT_FORMATS:
        abort(404)
    period, _grade, _sort, _descending, scores = _ranking()
    header = [gettext("Rank"), gettext("Cooperative"), *[str(label) for label in COMPONENT_LABELS.values()],
              gettext("Total"), gettext("Class"), gettext("Latest survey"), gettext("Class the surveyors assess")]
    rows = [[s.rank, s.name, *[c.score for c in s.components], s.total, grade_label(s.grade),
             s.latest_survey.survey_date if s.latest_survey else None,
             grade_label(s.latest_survey.assessed_class) if s.latest_survey else ""] for s in scores]
    return table_response(fmt, f"ranking-{period.start}-{period.end}", header, rows, gettext("Ranking"))


def _cooperative_page(cooperative_id: int, form: SurveyForm, status: int = 200):
    service = ClassificationService(get_session())
    period = _score_period(service)
    score = service.score(cooperative_id, period)
    return render_template("insight/cooperative.html", score=score, period=period, form=form,
                           surveys=service.surveys(cooperative_id), **_rules()), status


@bp.get("/alliance/ranking/<int:cooperative_id>")
@requires("alliance:console:read")
def cooperative_detail(cooperative_id: int):
    return _cooperative_page(cooperative_id, SurveyForm())


@bp.post("/alliance/ranking/<int:cooperative_id>/surveys")
@requires("alliance:cooperative:write")
def record_survey(cooperative_id: int):
    form = SurveyForm()
    if form.validate_on_submit():
        try:
            data = schema_from_form(SurveyFindingCreate, form)
            ClassificationService(get_session()).record_survey(cooperative_id, data, current_user.id)
        except (ValidationError, ServiceError) as error:
            if isinstance(error, ServiceError) and error.status == 404:
                raise
            apply_errors(form, error)
        else:
            flash(gettext("The survey findings are recorded."), "success")
            return redirect(url_for(".cooperative_detail", cooperative_id=cooperative_id), 303)
    return _cooperative_page(cooperative_id, form, 400)


# -- the dashboard -----------------------------------------------------------------------------------------
def _charts(tables: dict[str, Table]) -> dict:
    def vnd(value) -> str:
        return format_vnd(int(value))

    nothing = gettext("No data in this period.")
    highest = gettext("Highest: %(label)s, %(value)s.", label="{label}", value="{value}")
    monthly = tables["monthly"].rows

    def column(series, title, chart_id, format_value):
        return charts.column_chart(series, title=title, chart_id=chart_id, format_value=format_value,
                                   empty_text=nothing, highest_text=highest)

    def bars(series, title, chart_id, format_value):
        return charts.horizontal_bar_chart(series, title=title, chart_id=chart_id, format_value=format_value,
                                           empty_text=nothing, highest_text=highest)

    return {
        "monthly": [
            column([(format_month(r[0]), r[1]) for r in monthly], gettext("Orders placed per month"), "chart-orders",
                   format_number),
            column([(format_month(r[0]), r[3]) for r in monthly], gettext("Revenue of delivered orders per month"),
                   "chart-revenue", vnd),
        ],
        "cooperatives": [bars([(r[0], r[2]) for r in tables["cooperatives"].rows], tables["cooperatives"].title,
                              "chart-cooperatives", vnd)],
        "categories": [bars([(r[0], r[3]) for r in tables["categories"].rows], tables["categories"].title,
                            "chart-categories", vnd)],
        "scans": [column([(format_month(r[0]), r[1]) for r in tables["scans"].rows], tables["scans"].title, "chart-scans",
                         format_number)],
        "shipments": [bars([(r[0], r[1]) for r in tables["shipments"].rows], tables["shipments"].title, "chart-shipments",
                           format_number)],
        "cod": [bars([(r[0], r[2]) for r in tables["cod"].rows], tables["cod"].title, "chart-cod", vnd)],
        "recalls": [],
    }


@bp.get("/alliance/dashboard")
@requires("alliance:console:read")
def dashboard():
    months = _months()
    data = DashboardService(get_session()).build(months)
    return render_template("insight/dashboard.html", data=data, months=months, charts=_charts(data.tables),
                           table_keys=TABLE_KEYS, report_month=months.last.strftime("%Y-%m"))


@bp.get("/alliance/dashboard/<key>.<fmt>")
@requires("alliance:console:read")
def dashboard_export(key: str, fmt: str):
    if key not in TABLE_KEYS or fmt not in EXPORT_FORMATS:
        abort(404)
    months = _months()
    table = DashboardService(get_session()).table(key, months)
    return table_response(fmt, f"{key}-{months.first:%Y-%m}-{months.last:%Y-%m}", table.header, table.rows, table.title)


@bp.get("/alliance/dashboard/report.pdf")
@requires("alliance:console:read")
def monthly_report():
    from shop.insight.reports import monthly_report_pdf

    month = _month_arg("month") or datetime.now(LOCAL_TZ).date().replace(day=1)
    body = monthly_report_pdf(get_session(), month)
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="bao-cao-{month:%Y-%m}.pdf"'
    return response
