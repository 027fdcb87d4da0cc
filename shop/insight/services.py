"""The classification of cooperatives and the alliance's dashboard figures.

Every figure is one aggregate query over the period (GROUP BY in the database, the same SQL on
PostgreSQL and SQLite); Python only combines the sums. The rules of the score are one constant,
`SCORING`, shown as is on the score pages so that anyone can redo the arithmetic.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Date,
    String,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    text,
    union_all,
)
from sqlmodel import Session, select

from kernel.audit.services import AuditLog
from shop.catalog.models import Batch, Certification, Product
from shop.cooperatives.models import Cooperative, CooperativeStatus
from kernel.errors import NotFound, ServiceError
from kernel.i18n import LOCAL_TZ, format_vnd
from shop.insight.formatting import format_number, format_percent
from shop.insight.models import (
    COD_OPEN,
    CategoryDayTotal,
    OrderDayTotal,
    OrderMonthTotal,
    RollUpMark,
    ScanDayTotal,
    ShipmentDayTotal,
    SurveyFinding,
)
from shop.insight.schemas import (
    ComponentScore,
    CooperativeScore,
    Input,
    MonthRange,
    Period,
    SurveyFindingCreate,
    Table,
)
from shop.orders.models import Order, OrderLine, OrderStatus, OrderStatusChange
from kernel.timeutil import UTCDateTime, utcnow
from traceability.models import Credential, ProblemReport, Recall, ScanDay
from workers.postal.models import Shipment, ShipmentStatus


@dataclass(frozen=True)
class ScoringRules:
    """How a cooperative's score is made. Changing a number here changes every score and the
    explanation on the score pages alike."""

    period_months: int = 12
    # Points out of 100 each component contributes at its best.
    weights: tuple[tuple[str, int], ...] = (
        ("sales", 25), ("on_time", 25), ("traceability", 20), ("complaints", 15), ("returns", 15),
    )
    # Sales: revenue of delivered orders as a share of the best cooperative in the same province.
    # On time: handed to the post within this many days of being placed, and delivered.
    on_time_days: int = 2
    # Traceability: average signed events per batch that earns full marks, and the split between
    # events per batch, batches with both harvest and packing signed, and a valid certification.
    events_per_batch_target: int = 4
    traceability_parts: tuple[tuple[str, int], ...] = (("events", 40), ("harvest_packing", 40), ("certification", 20))
    # Complaints: points lost per problem report per 100 delivered orders (at least 1 order counted).
    complaint_penalty: int = 10
    # Returns: points lost per percent of shipments returned or failed at delivery.
    return_penalty: int = 5
    # Lowest total for each class, best first.
    classes: tuple[tuple[str, int], ...] = (("good", 80), ("fair", 65), ("average", 50), ("weak", 0))

    def weight(self, key: str) -> int:
        return dict(self.weights)[key]

    def grade(self, total: float) -> str:
        for grade, lowest in self.classes:
            if total >= lowest:
                return grade
        return self.classes[-1][0]


SCORING = ScoringRules()

GRADE_LABELS = {"good": _l("Good"), "fair": _l("Fair"), "average": _l("Average"), "weak": _l("Weak")}
COMPONENT_LABELS = {
    "sales": _l("Sales"),
    "on_time": _l("On-time fulfilment"),
    "traceability": _l("Traceability"),
    "complaints": _l("Complaints"),
    "returns": _l("Returns"),
}
DELIVERED = (OrderStatus.DELIVERED.value, OrderStatus.SETTLED.value)
# Orders already with the post and not yet delivered or failed: too early to judge.
ON_THE_WAY = (OrderStatus.HANDED_TO_POST.value, OrderStatus.IN_TRANSIT.value)
# Orders that have not reached the post yet.
NOT_HANDED_OVER = (OrderStatus.PLACED.value, OrderStatus.CONFIRMED.value, OrderStatus.PACKED.value)
RETURNED_SHIPMENTS = (ShipmentStatus.RETURNED.value, ShipmentStatus.RETURNING.value, ShipmentStatus.DELIVERY_FAILED.value)


def grade_label(grade: str | None) -> str:
    return str(GRADE_LABELS.get(grade or "", grade or ""))


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def seconds_between(session: Session, start, end):
    """SQL for `end - start` in seconds (timestamps in UTC)."""
    if _dialect(session) == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400
    return func.extract("epoch", end - start)


def local_day(session: Session, column):
    """SQL for the local (Asia/Ho_Chi_Minh) calendar day of a UTC timestamp. Only for the roll-up
    and for the few orders changed since it: per-row date arithmetic is what the page avoids."""
    if _dialect(session) == "sqlite":
        return func.date(column, "+7 hours")  # Viet Nam keeps UTC+7 all year, no summer time
    return cast(func.timezone(LOCAL_TZ.key, column), Date)


def _as_date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value  # SQLite gives the ISO text


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, LOCAL_TZ)


def day_ranges(days) -> list[tuple[datetime, datetime]]:
    """Whole local days as [since, until) ranges of time, neighbouring days merged into one."""
    ranges: list[tuple[datetime, datetime]] = []
    for day in sorted(set(days)):
        since, until = day_start(day), day_start(day + timedelta(days=1))
        if ranges and ranges[-1][1] == since:
            ranges[-1] = (ranges[-1][0], until)
        else:
            ranges.append((since, until))
    return ranges


def _within(column, ranges: list[tuple[datetime, datetime]]):
    return or_(*[and_(column >= since, column < until) for since, until in ranges])


def custom_plans(session: Session) -> None:
    """Plan each aggregate for the period it is given. psycopg prepares a statement run five times,
    and PostgreSQL then switches to one generic plan for any period, which for these GROUP BYs over
    a year of orders was four times slower. Only for this transaction (SET LOCAL)."""
    if _dialect(session) == "postgresql":
        session.exec(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def dashboard_plans(session: Session) -> None:
    """Custom plans, and the planner told what the dashboard's reads are like: small rolled-up
    tables and a few days of orders through their indexes, with the pages in memory (cheap random
    reads, as on any SSD) and too little work for parallel workers to repay starting them on a
    busy server. Without this PostgreSQL read all 260,000 order lines to find a few days' worth.
    Only for this transaction (SET LOCAL)."""
    if _dialect(session) == "postgresql":  # one round trip; set_config(..., true) is SET LOCAL
        session.exec(text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
                          "set_config('random_page_cost', '1.1', true), "
                          "set_config('max_parallel_workers_per_gather', '0', true)"))


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _one(value: float) -> float:
    return round(value + 0.0, 1)


class ClassificationService:
    def __init__(self, session: Session, rules: ScoringRules = SCORING) -> None:
        self.session = session
        self.rules = rules

    # -- periods -------------------------------------------------------------------------------
    def default_period(self, today: date | None = None) -> Period:
        today = today or datetime.now(LOCAL_TZ).date()
        return Period.months_back(self.rules.period_months, today)

    # -- one cooperative and all of them -----------------------------------------------------------
    def score(self, cooperative_id: int, period: Period | None = None) -> CooperativeScore:
        cooperative = self.session.get(Cooperative, cooperative_id)
        if cooperative is None:
            raise NotFound(gettext("We could not find that cooperative."))
        result = self._scores([cooperative], period or self.default_period())[0]
        result.latest_survey = self.latest_surveys([cooperative_id]).get(cooperative_id)
        return result

    def ranking(self, period: Period | None = None, *, grade: str | None = None, sort: str = "total",
                descending: bool = True) -> list[CooperativeScore]:
        """Every approved cooperative, best first, with its rank and latest survey."""
        cooperatives = list(self.session.exec(
            select(Cooperative).where(Cooperative.status == CooperativeStatus.APPROVED).order_by(Cooperative.name)))
        scores = self._scores(cooperatives, period or self.default_period())
        scores.sort(key=lambda s: (-s.total, s.name))
        for position, item in enumerate(scores, start=1):
            item.rank = position
        surveys = self.latest_surveys([s.cooperative_id for s in scores])
        for item in scores:
            item.latest_survey = surveys.get(item.cooperative_id)
        if grade:
            scores = [s for s in scores if s.grade == grade]
        if sort == "name":
            scores.sort(key=lambda s: s.name.casefold(), reverse=descending)
        elif sort in COMPONENT_LABELS:
            scores.sort(key=lambda s: (s.component(sort).score, -(s.rank or 0)), reverse=descending)
        elif not descending:
            scores.reverse()
        return scores

    def _scores(self, cooperatives: list[Cooperative], period: Period) -> list[CooperativeScore]:
        if not cooperatives:
            return []
        custom_plans(self.session)
        ids = [c.id for c in cooperatives]
        provinces = {c.province_code for c in cooperatives}
        sales = self._delivered_sales(period, provinces, ids)
        best_in_province: dict[int, int] = defaultdict(int)
        for province, _count, revenue in sales.values():
            best_in_province[province] = max(best_in_province[province], revenue)
        on_time = self._on_time(period, ids)
        trace = self._traceability(period, ids)
        certificates = self._valid_certifications(period, ids)
        complaints = self._complaints(period, ids)
        returns = self._returns(period, ids)
        results = []
        for cooperative in cooperatives:
            cid = cooperative.id
            _province, delivered_orders, revenue = sales.get(cid, (cooperative.province_code, 0, 0))
            components = [
                self._sales_component(revenue, delivered_orders, best_in_province[cooperative.province_code]),
                self._on_time_component(*on_time.get(cid, (0, 0))),
                self._traceability_component(*trace.get(cid, (0, 0, 0)), certificates.get(cid, 0)),
                self._complaints_component(complaints.get(cid, 0), delivered_orders),
                self._returns_component(*returns.get(cid, (0, 0))),
            ]
            total = _one(sum(c.weight * c.score for c in components) / 100)
            results.append(CooperativeScore(cid, cooperative.name, cooperative.province_code, period, components,
                                            total, self.rules.grade(total)))
        return results

    # -- the five aggregates -------------------------------------------------------------------------
    def _delivered_sales(self, period: Period, provinces: set[int], ids: list[int]) -> dict[int, tuple[int, int, int]]:
        """cooperative → (province, delivered orders, revenue) for the approved cooperatives of the
        given provinces (the yardstick) and the cooperatives being scored."""
        query = (
            select(Order.cooperative_id, Cooperative.province_code, func.count(), func.coalesce(func.sum(Order.goods_total_vnd), 0))
            .join(Cooperative, Cooperative.id == Order.cooperative_id)
            .where(Order.created_at >= period.since, Order.created_at < period.until, Order.status.in_(DELIVERED),
                   Cooperative.province_code.in_(provinces),
                   or_(Cooperative.status == CooperativeStatus.APPROVED, Cooperative.id.in_(ids)))
            .group_by(Order.cooperative_id, Cooperative.province_code)
        )
        return {cid: (province, int(count), int(revenue)) for cid, province, count, revenue in self.session.exec(query)}

    def _on_time(self, period: Period, ids: list[int]) -> dict[int, tuple[int, int]]:
        """cooperative → (orders counted, orders on time)."""
        days = self.rules.on_time_days
        handed = (
            select(OrderStatusChange.order_id, func.min(OrderStatusChange.at).label("handed_at"))
            .where(OrderStatusChange.to_status == OrderStatus.HANDED_TO_POST, OrderStatusChange.at >= period.since)
            .group_by(OrderStatusChange.order_id)
            .subquery()
        )
        # An order still waiting for the post counts against the cooperative only once its N days are up.
        judged_by = min(period.until, datetime.now(UTC)) - timedelta(days=days)
        counted = or_(
            Order.status.in_(DELIVERED + (OrderStatus.RETURNED.value, OrderStatus.DELIVERY_FAILED.value)),
            and_(Order.status.in_(NOT_HANDED_OVER), Order.created_at < judged_by),
        )
        on_time = and_(Order.status.in_(DELIVERED), handed.c.handed_at.is_not(None),
                       seconds_between(self.session, Order.created_at, handed.c.handed_at) <= days * 86400)
        query = (
            select(Order.cooperative_id, func.count(), func.coalesce(func.sum(case((on_time, 1), else_=0)), 0))
            .outerjoin(handed, handed.c.order_id == Order.id)
            .where(Order.cooperative_id.in_(ids), Order.created_at >= period.since, Order.created_at < period.until, counted)
            .group_by(Order.cooperative_id)
        )
        return {cid: (int(count), int(good)) for cid, count, good in self.session.exec(query)}

    def _traceability(self, period: Period, ids: list[int]) -> dict[int, tuple[int, int, int]]:
        """cooperative → (batches, signed events on them, batches with harvest and packing signed)."""
        per_batch = (
            select(
                Batch.cooperative_id.label("cooperative_id"),
                Batch.id.label("batch_id"),
                func.count(Credential.id).label("events"),
                func.max(case((Credential.event_type == "harvest", 1), else_=0)).label("harvest"),
                func.max(case((Credential.event_type == "packing", 1), else_=0)).label("packing"),
            )
            .select_from(Batch)
            .join(Product, Product.id == Batch.product_id)
            # A recall is signed too, but it is no credit to the batch's record.
            .outerjoin(Credential, and_(Credential.gtin == Product.gtin, Credential.lot == Batch.lot,
                                        Credential.event_type != "recall"))
            .where(Batch.cooperative_id.in_(ids), Batch.created_at >= period.since, Batch.created_at < period.until)
            .group_by(Batch.cooperative_id, Batch.id)
            .subquery()
        )
        both = case((and_(per_batch.c.harvest == 1, per_batch.c.packing == 1), 1), else_=0)
        query = select(per_batch.c.cooperative_id, func.count(), func.coalesce(func.sum(per_batch.c.events), 0),
                       func.coalesce(func.sum(both), 0)).group_by(per_batch.c.cooperative_id)
        return {cid: (int(b), int(e), int(hp)) for cid, b, e, hp in self.session.exec(query)}

    def _valid_certifications(self, period: Period, ids: list[int]) -> dict[int, int]:
        """Certifications still valid on the last day of the period (no expiry date: valid)."""
        query = (
            select(Certification.cooperative_id, func.count())
            .where(Certification.cooperative_id.in_(ids),
                   or_(Certification.valid_until.is_(None), Certification.valid_until >= period.end))
            .group_by(Certification.cooperative_id)
        )
        return {cid: int(count) for cid, count in self.session.exec(query)}

    def _complaints(self, period: Period, ids: list[int]) -> dict[int, int]:
        query = (
            select(Product.cooperative_id, func.count(ProblemReport.id))
            .join(Product, Product.gtin == ProblemReport.gtin)
            .where(Product.cooperative_id.in_(ids), ProblemReport.created_at >= period.since,
                   ProblemReport.created_at < period.until)
            .group_by(Product.cooperative_id)
        )
        return {cid: int(count) for cid, count in self.session.exec(query)}

    def _returns(self, period: Period, ids: list[int]) -> dict[int, tuple[int, int]]:
        """cooperative → (shipments, shipments returned or failed at delivery)."""
        bad = case((Shipment.status.in_(RETURNED_SHIPMENTS), 1), else_=0)
        query = (
            select(Shipment.cooperative_id, func.count(), func.coalesce(func.sum(bad), 0))
            .where(Shipment.cooperative_id.in_(ids), Shipment.status != ShipmentStatus.CANCELLED,
                   Shipment.created_at >= period.since, Shipment.created_at < period.until)
            .group_by(Shipment.cooperative_id)
        )
        return {cid: (int(count), int(returned)) for cid, count, returned in self.session.exec(query)}

    # -- turning sums into component scores ------------------------------------------------------
    def _component(self, key: str, score: float, inputs: list[Input], formula: str) -> ComponentScore:
        return ComponentScore(key, str(COMPONENT_LABELS[key]), self.rules.weight(key), _one(max(0.0, min(100.0, score))),
                              inputs, formula)

    def _sales_component(self, revenue: int, delivered: int, best: int) -> ComponentScore:
        score = 100 * _ratio(revenue, best)
        return self._component("sales", score, [
            Input("delivered_orders", gettext("Delivered orders"), delivered),
            Input("revenue_vnd", gettext("Revenue of delivered orders"), revenue, "vnd"),
            Input("best_in_province_vnd", gettext("Highest revenue among the province's cooperatives"), best, "vnd"),
        ], gettext("100 × %(revenue)s ÷ %(best)s = %(score)s", revenue=format_vnd(revenue), best=format_vnd(best),
                   score=format_number(_one(score), 1)) if best else gettext("No delivered orders in the province: 0"))

    def _on_time_component(self, counted: int, on_time: int) -> ComponentScore:
        score = 100 * _ratio(on_time, counted)
        return self._component("on_time", score, [
            Input("orders_counted", gettext("Orders counted (not cancelled, not still with the post)"), counted),
            Input("orders_on_time", gettext("Delivered and handed to the post within %(days)s days", days=self.rules.on_time_days), on_time),
        ], gettext("100 × %(good)s ÷ %(counted)s = %(score)s", good=format_number(on_time), counted=format_number(counted),
                   score=format_number(_one(score), 1)) if counted else gettext("No orders to judge: 0"))

    def _traceability_component(self, batches: int, events: int, harvest_packing: int, certificates: int) -> ComponentScore:
        parts = dict(self.rules.traceability_parts)
        target = self.rules.events_per_batch_target
        events_part = 100 * min(1.0, _ratio(events, batches) / target)
        both_part = 100 * _ratio(harvest_packing, batches)
        certificate_part = 100.0 if certificates else 0.0
        score = (parts["events"] * events_part + parts["harvest_packing"] * both_part
                 + parts["certification"] * certificate_part) / 100
        return self._component("traceability", score, [
            Input("batches", gettext("Batches recorded"), batches),
            Input("signed_events", gettext("Signed events on them"), events),
            Input("events_per_batch", gettext("Signed events per batch"), round(_ratio(events, batches), 2), "decimal"),
            Input("harvest_and_packing", gettext("Batches with harvest and packing signed"), harvest_packing),
            Input("valid_certifications", gettext("Valid certifications"), certificates),
        ], gettext(
            "%(w1)s%% × min(1, %(per_batch)s ÷ %(target)s) + %(w2)s%% × %(both)s ÷ %(batches)s + %(w3)s%% × %(cert)s = %(score)s",
            w1=parts["events"], per_batch=format_number(round(_ratio(events, batches), 2), 2), target=target,
            w2=parts["harvest_packing"], both=format_number(harvest_packing), batches=format_number(batches),
            w3=parts["certification"], cert=format_number(int(certificate_part)), score=format_number(_one(score), 1)))

    def _complaints_component(self, reports: int, delivered: int) -> ComponentScore:
        per_hundred = 100 * reports / max(delivered, 1)
        score = 100 - self.rules.complaint_penalty * per_hundred
        return self._component("complaints", score, [
            Input("problem_reports", gettext("Problem reports from the scan page"), reports),
            Input("delivered_orders", gettext("Delivered orders"), delivered),
            Input("reports_per_100_orders", gettext("Reports per 100 delivered orders"), round(per_hundred, 2), "decimal"),
        ], gettext("100 − %(penalty)s × %(rate)s = %(score)s (not below 0)", penalty=self.rules.complaint_penalty,
                   rate=format_number(round(per_hundred, 2), 2), score=format_number(_one(max(0.0, score)), 1)))

    def _returns_component(self, shipments: int, returned: int) -> ComponentScore:
        percent = 100 * _ratio(returned, shipments)
        score = 100 - self.rules.return_penalty * percent
        return self._component("returns", score, [
            Input("shipments", gettext("Shipments"), shipments),
            Input("returned_or_failed", gettext("Returned or failed at delivery"), returned),
            Input("returned_percent", gettext("Share returned or failed"), round(percent, 2), "percent"),
        ], gettext("100 − %(penalty)s × %(percent)s = %(score)s (not below 0)", penalty=self.rules.return_penalty,
                   percent=format_percent(percent), score=format_number(_one(max(0.0, score)), 1)))

    # -- the alliance's survey findings ------------------------------------------------------------
    def latest_surveys(self, cooperative_ids: list[int]) -> dict[int, SurveyFinding]:
        if not cooperative_ids:
            return {}
        latest: dict[int, SurveyFinding] = {}
        query = (select(SurveyFinding).where(SurveyFinding.cooperative_id.in_(cooperative_ids))
                 .order_by(SurveyFinding.survey_date, SurveyFinding.id))
        for finding in self.session.exec(query):
            latest[finding.cooperative_id] = finding  # ordered oldest first: the last one wins
        return latest

    def surveys(self, cooperative_id: int) -> list[SurveyFinding]:
        return list(self.session.exec(select(SurveyFinding).where(SurveyFinding.cooperative_id == cooperative_id)
                                      .order_by(SurveyFinding.survey_date.desc(), SurveyFinding.id.desc())))

    def record_survey(self, cooperative_id: int, data: SurveyFindingCreate, recorded_by: int | None) -> SurveyFinding:
        cooperative = self.session.get(Cooperative, cooperative_id)
        if cooperative is None:
            raise NotFound(gettext("We could not find that cooperative."))
        if data.survey_date > datetime.now(LOCAL_TZ).date():
            raise ServiceError(gettext("The date cannot be in the future."), field="survey_date")
        finding = SurveyFinding(cooperative_id=cooperative_id, survey_date=data.survey_date, surveyor=data.surveyor,
                                findings=data.findings, assessed_class=data.assessed_class, recorded_by=recorded_by)
        self.session.add(finding)
        self.session.flush()
        AuditLog(self.session).record("survey.record", "survey_finding", finding.id, after=data.model_dump(),
                                      cooperative_id=cooperative_id)
        return finding


# ---------------------------------------------------------------------------------------------------
# Dashboard
# ---------------------------------------------------------------------------------------------------

TABLE_KEYS = ("monthly", "cooperatives", "categories", "scans", "shipments", "cod", "recalls")


@dataclass
class Dashboard:
    months: MonthRange
    figures: dict[str, int]
    tables: dict[str, Table]


class DashboardService:
    """The dashboard's figures: six aggregate statements, each shaped to read an index (or the
    daily scan totals) rather than whole tables."""

    def __init__(self, session: Session, top: int = 10) -> None:
        self.session = session
        self.top = top
        self._days: dict[tuple[str, Period], tuple] = {}
        self._order_rows_built: dict[tuple[MonthRange, bool], object] = {}
        self._marks_read = False

    def build(self, months: MonthRange) -> Dashboard:
        dashboard_plans(self.session)
        results = {name: self._rows(statement) for name, statement in self.statements(months).items()}
        tables = {
            "monthly": self._monthly_table(months, results["monthly"]),
            "cooperatives": self._cooperatives_table(results["cooperatives"]),
            "categories": self._categories_table(results["categories"]),
            "scans": self._scans_table(months, results["scans"]),
            "shipments": self._shipments_table(results["shipments"]),
            "cod": self._cod_table(results["cod"]),
            "recalls": self._recalls_table(results["recalls"]),
        }
        from workers.deadletters import open_count

        monthly = tables["monthly"].rows
        figures = {
            "orders": sum(row[1] for row in monthly),
            "delivered": sum(row[2] for row in monthly),
            "revenue_vnd": sum(row[3] for row in monthly),
            "scans": sum(row[1] for row in tables["scans"].rows),
            "shipments": sum(row[1] for row in tables["shipments"].rows),
            "cod_outstanding_vnd": sum(row[2] for row in tables["cod"].rows),
            "dead_letters": open_count(self.session),
            "recalls": len(tables["recalls"].rows),
        }
        return Dashboard(months, figures, tables)

    def table(self, key: str, months: MonthRange) -> Table:
        """One table alone, for its download."""
        dashboard_plans(self.session)
        period = months.period
        if key == "monthly":
            return self._monthly_table(months, self._rows(self.monthly_statement(months)))
        if key == "cooperatives":
            return self._cooperatives_table(self._rows(self.cooperatives_statement(months)))
        if key == "categories":
            return self._categories_table(self._rows(self.categories_statement(period)))
        if key == "scans":
            return self._scans_table(months, self._rows(self.scans_statement(period)))
        if key == "shipments":
            return self._shipments_table(self._rows(self.shipments_statement(period)))
        if key == "cod":
            return self._cod_table(self._rows(self.cod_statement()))
        if key == "recalls":
            return self._recalls_table(self._rows(self.recalls_statement(period)))
        raise NotFound(gettext("We could not find that page."))

    def scans(self, months: MonthRange) -> Table:
        return self.table("scans", months)

    def _rows(self, statement) -> list:
        return list(self.session.exec(statement))

    # -- the statements, one per aggregate (the benchmark runs each alone) -----------------------
    def statements(self, months: MonthRange) -> dict:
        period = months.period
        return {
            "scans": self.scans_statement(period),
            "categories": self.categories_statement(period),
            "monthly": self.monthly_statement(months),
            "cooperatives": self.cooperatives_statement(months),
            "shipments": self.shipments_statement(period),
            "cod": self.cod_statement(),
            "recalls": self.recalls_statement(period),
        }

    def _month_buckets(self, months: MonthRange):
        """One row per month of the range with its bounds: joining orders to it lets each month be
        an index range scan, with no date arithmetic on every order."""
        rows = []
        for key in months.months():
            year, month = (int(part) for part in key.split("-"))
            rows.append((key, date(year, month, 1), date(year + (month == 12), month % 12 + 1, 1)))
        return self._buckets(rows)

    def _buckets(self, rows: list[tuple[str, date, date]]):
        """(month, first day, following day) rows as a subquery, with the days' bounds in UTC too."""
        postgresql = _dialect(self.session) == "postgresql"

        def moment(value: date):
            bound = literal(datetime.combine(value, time.min, LOCAL_TZ), UTCDateTime())
            # PostgreSQL needs the type said out loud in a UNION of parameters; SQLite must not get
            # a CAST (it would turn the timestamp text into a number).
            return cast(bound, UTCDateTime()) if postgresql else bound

        def day(value: date):
            bound = literal(value, Date())
            return cast(bound, Date()) if postgresql else bound

        selects = [select(literal(key, String()).label("month"), moment(first).label("since"),
                          moment(following).label("until"), day(first).label("first"),
                          day(following).label("following"))
                   for key, first, following in rows]
        return (union_all(*selects) if len(selects) > 1 else selects[0]).subquery()

    # -- orders: rolled-up days, and the days read live ---------------------------------------------
    def order_days(self, period: Period) -> tuple[tuple[date, date, set[date]] | None, list[tuple[date, date]]]:
        """Which of the period's days come from the order totals and which from the orders
        themselves: ((first, last, changed days left out) of the rolled-up part or None, the live
        [first, following) ranges of days). Live are the days after the last roll-up (today) and
        the rolled-up days whose orders changed since it (an order delivered or cancelled late),
        so no figure is stale. Looked up once per period and shared by every order figure."""
        return self._split(ORDERS_ROLL_UP, period)

    def shipment_days(self, period: Period):
        """The same for shipments (their totals, and those changed since the roll-up)."""
        return self._split(SHIPMENTS_ROLL_UP, period)

    def _split(self, name: str, period: Period):
        cached = self._days.get((name, period))
        if cached is not None:
            return cached
        following = period.end + timedelta(days=1)
        if not self._marks_read:  # both marks in one round trip, into the session's identity map
            self.session.exec(select(RollUpMark).where(RollUpMark.name.in_(list(CHANGED_DAYS)))).all()
            self._marks_read = True
        mark = self.session.get(RollUpMark, name)
        if mark is None or mark.through_day < period.start:
            split = (None, [(period.start, following)])
        else:
            last = min(mark.through_day, period.end)
            changed = {day for day in CHANGED_DAYS[name](self.session, mark.rolled_at - ROLL_UP_MARGIN, last)
                       if day >= period.start}
            live: list[tuple[date, date]] = []
            for first in sorted(changed) + ([last + timedelta(days=1)] if last < period.end else []):
                end = first + timedelta(days=1) if first <= last else following
                if live and live[-1][1] == first:
                    live[-1] = (live[-1][0], end)  # neighbouring days read as one range
                else:
                    live.append((first, end))
            split = ((period.start, last, changed), live)
        self._days[(name, period)] = split
        return split

    @staticmethod
    def _live_months(live: list[tuple[date, date]]) -> list[tuple[str, datetime, datetime]]:
        """The live ranges of days cut at the months' ends: (month, since, until) in UTC."""
        pieces = []
        for first, following in live:
            while first < following:
                month_end = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
                pieces.append((f"{first:%Y-%m}", day_start(first), day_start(min(following, month_end))))
                first = min(following, month_end)
        return pieces

    def monthly_statement(self, months: MonthRange, *, raw: bool = False):
        """(month, orders placed and not cancelled, delivered, revenue of delivered)."""
        rows = self._order_rows(months, raw)
        return (select(rows.c.month, func.sum(rows.c.orders), func.sum(rows.c.delivered), func.sum(rows.c.revenue))
                .group_by(rows.c.month))

    def cooperatives_statement(self, months: MonthRange, *, raw: bool = False):
        """(cooperative, orders placed and not cancelled, revenue of delivered) of the `top` best
        by revenue: ranked and named in the database, so only those rows come back."""
        rows = self._order_rows(months, raw)
        placed, revenue = func.sum(rows.c.orders), func.sum(rows.c.revenue)
        return (select(Cooperative.name, placed, revenue)
                .select_from(rows)
                .join(Cooperative, Cooperative.id == rows.c.cooperative_id)
                .group_by(Cooperative.id, Cooperative.name)
                .having(placed > 0)
                .order_by(revenue.desc(), placed.desc(), Cooperative.id)
                .limit(self.top))

    def _order_rows(self, months: MonthRange, raw: bool):
        """(month, cooperative, orders placed and not cancelled, delivered, revenue of delivered)
        rows to be summed: the months as rolled up, less the changed days' rolled-up figures, plus
        the live days' orders; or, with `raw`, every order of the period (the reference). Built
        once for both figures that sum them."""
        key = (months, raw)
        if key not in self._order_rows_built:
            self._order_rows_built[key] = self._build_order_rows(months, raw)
        return self._order_rows_built[key]

    def _build_order_rows(self, months: MonthRange, raw: bool):
        delivered = Order.status.in_(DELIVERED)

        def orders(month):
            return select(month.label("month"), Order.cooperative_id.label("cooperative_id"),
                          case((Order.status != OrderStatus.CANCELLED, 1), else_=0).label("orders"),
                          case((delivered, 1), else_=0).label("delivered"),
                          case((delivered, Order.goods_total_vnd), else_=0).label("revenue"))

        if raw:
            buckets = self._month_buckets(months)
            return (orders(buckets.c.month).select_from(buckets)
                    .join(Order, and_(Order.created_at >= buckets.c.since, Order.created_at < buckets.c.until))
                    .subquery("order_rows"))
        rolled_days, live = self.order_days(months.period)
        parts = []
        if rolled_days is not None:
            _first, _last, changed = rolled_days
            buckets = self._month_buckets(months)
            month = OrderMonthTotal
            parts.append(
                select(buckets.c.month.label("month"), month.cooperative_id.label("cooperative_id"),
                       month.orders.label("orders"), month.delivered.label("delivered"),
                       month.revenue_vnd.label("revenue"))
                .select_from(buckets)
                .join(month, month.month == buckets.c.first)
            )
            if changed:
                day = OrderDayTotal
                parts.append(
                    select(buckets.c.month, day.cooperative_id, -day.orders, -day.delivered, -day.revenue_vnd)
                    .select_from(buckets)
                    .join(day, and_(day.day >= buckets.c.first, day.day < buckets.c.following))
                    .where(day.day.in_(sorted(changed)))
                )
        # One select per live range, its bounds written out, so that the planner knows how few
        # orders it holds (joined to a list of ranges it would guess a third of the table).
        for key, since, until in self._live_months(live):
            parts.append(orders(literal(key, String())).where(Order.created_at >= since, Order.created_at < until))
        return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("order_rows")

    def categories_statement(self, period: Period):
        """(category, delivered order lines, units, revenue): rolled-up days plus live days."""
        rolled_days, live = self.order_days(period)
        parts = []
        if rolled_days is not None:
            first, last, changed = rolled_days
            day = CategoryDayTotal.day
            parts.append(
                select(CategoryDayTotal.category.label("category"), func.sum(CategoryDayTotal.lines).label("lines"),
                       func.sum(CategoryDayTotal.units).label("units"), func.sum(CategoryDayTotal.revenue_vnd).label("revenue"))
                .where(day >= first, day <= last, *([day.not_in(sorted(changed))] if changed else []))
                .group_by(CategoryDayTotal.category)
            )
        if live:
            parts.append(self._raw_categories(_within(Order.created_at, [(day_start(first), day_start(following))
                                                                         for first, following in live])))
        both = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("both")
        return (select(both.c.category, func.sum(both.c.lines), func.coalesce(func.sum(both.c.units), 0),
                       func.coalesce(func.sum(both.c.revenue), 0))
                .group_by(both.c.category))

    def _raw_categories(self, placed):
        """Delivered lines per category of the orders placed as `placed` says. Lines are
        summed per product first (a few thousand groups), then per category; lines, not distinct
        orders, are counted: distinct orders would need a sort of every line."""
        per_product = (
            select(OrderLine.product_id.label("product_id"), func.count().label("lines"),
                   func.sum(OrderLine.quantity).label("units"), func.sum(OrderLine.line_total_vnd).label("revenue"))
            .join(Order, Order.id == OrderLine.order_id)
            .where(placed, Order.status.in_(DELIVERED))
            .group_by(OrderLine.product_id)
            .subquery("per_product")
        )
        return (
            select(Product.category.label("category"), func.sum(per_product.c.lines).label("lines"),
                   func.sum(per_product.c.units).label("units"), func.sum(per_product.c.revenue).label("revenue"))
            .join(Product, Product.id == per_product.c.product_id)
            .group_by(Product.category)
        )

    # -- the same figures straight from the raw rows: what the page would run without roll-ups. The
    # benchmark times them as the reference, and the tests check the roll-ups against them.
    def raw_statements(self, months: MonthRange) -> dict:
        period = months.period
        return {
            "monthly": self.monthly_statement(months, raw=True),
            "cooperatives": self.cooperatives_statement(months, raw=True),
            "categories": self.raw_categories_statement(period),
            "shipments": self.raw_shipments_statement(period),
            "scans": self.raw_scans_statement(period),
        }

    def raw_categories_statement(self, period: Period):
        return self._raw_categories(and_(Order.created_at >= period.since, Order.created_at < period.until))

    def raw_scans_statement(self, period: Period):
        return (select(ScanDay.day, func.sum(ScanDay.count))
                .where(ScanDay.day >= period.start, ScanDay.day <= period.end)
                .group_by(ScanDay.day))

    def scans_statement(self, period: Period):
        """Scans per day: the rolled-up totals of finished days, and the live per-batch counts of the
        days after the last one rolled up (today, yesterday, or more if the roll-up has not run).
        Summed by day, not by month, so no date is formatted per row; Python makes the months."""
        # Looked up first, so the live part is an index range over the last few days only.
        rolled_through = self.session.exec(select(func.max(ScanDayTotal.day))).one()
        live_from = max(period.start, rolled_through + timedelta(days=1)) if rolled_through else period.start
        rolled = (select(ScanDayTotal.day.label("day"), ScanDayTotal.count.label("count"))
                  .where(ScanDayTotal.day >= period.start, ScanDayTotal.day <= period.end))
        live = (select(ScanDay.day.label("day"), func.sum(ScanDay.count).label("count"))
                .where(ScanDay.day >= live_from, ScanDay.day <= period.end)
                .group_by(ScanDay.day))
        return union_all(rolled, live)

    def shipments_statement(self, period: Period):
        """(status, shipments) created in the period: rolled-up days plus live days."""
        rolled_days, live = self.shipment_days(period)
        parts = []
        if rolled_days is not None:
            first, last, changed = rolled_days
            day = ShipmentDayTotal.day
            parts.append(select(ShipmentDayTotal.status.label("status"), func.sum(ShipmentDayTotal.shipments).label("shipments"))
                         .where(day >= first, day <= last, *([day.not_in(sorted(changed))] if changed else []))
                         .group_by(ShipmentDayTotal.status))
        if live:
            parts.append(self._raw_shipments(_within(Shipment.created_at, [(day_start(first), day_start(following))
                                                                            for first, following in live])))
        both = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("both")
        return select(both.c.status, func.sum(both.c.shipments)).group_by(both.c.status)

    def _raw_shipments(self, created):
        return (select(Shipment.status.label("status"), func.count().label("shipments"))
                .where(created).group_by(Shipment.status))

    def raw_shipments_statement(self, period: Period):
        return self._raw_shipments(and_(Shipment.created_at >= period.since, Shipment.created_at < period.until))

    def cod_statement(self):
        """Cash on delivery still owed today, whatever the period, by the rules of the COD
        reconciliation (workers.postal.reconciliation), summed instead of listed. The WHERE clause
        is the partial index's own condition, so only open shipments are read."""
        not_collected = Shipment.cod_collected_vnd.is_(None)
        not_remitted = and_(Shipment.cod_collected_vnd.is_not(None), Shipment.cod_remitted_vnd.is_(None))
        short_paid = and_(Shipment.cod_remitted_vnd.is_not(None), Shipment.cod_remitted_vnd < Shipment.cod_collected_vnd)

        def total(condition, value=1):
            return func.coalesce(func.sum(case((condition, value), else_=0)), 0)

        return (
            select(total(not_collected), total(not_collected, Shipment.cod_amount_vnd),
                   total(not_remitted), total(not_remitted, Shipment.cod_collected_vnd),
                   total(short_paid), total(short_paid, Shipment.cod_collected_vnd - Shipment.cod_remitted_vnd))
            .where(Shipment.status == ShipmentStatus.DELIVERED, text(COD_OPEN))
        )

    def recalls_statement(self, period: Period):
        return (
            select(Recall.recalled_at, Recall.gtin, Recall.lot, Product.name, Cooperative.name, Recall.reason)
            .select_from(Recall)
            .outerjoin(Product, Product.gtin == Recall.gtin)
            .outerjoin(Cooperative, Cooperative.id == Product.cooperative_id)
            .where(Recall.recalled_at >= period.since, Recall.recalled_at < period.until)
            .order_by(Recall.recalled_at.desc())
        )

    # -- the tables ----------------------------------------------------------------------------------
    def _monthly_table(self, months: MonthRange, rows) -> Table:
        totals = {month: [int(placed), int(delivered), int(revenue)] for month, placed, delivered, revenue in rows}
        return Table("monthly", gettext("Orders and revenue per month"),
                     [gettext("Month"), gettext("Orders placed"), gettext("Orders delivered"), gettext("Revenue (VND)")],
                     [[month, *totals.get(month, (0, 0, 0))] for month in months.months()],
                     ["month", "number", "number", "vnd"])

    def _cooperatives_table(self, rows) -> Table:
        return Table("cooperatives", gettext("Top %(count)s cooperatives by revenue", count=self.top),
                     [gettext("Cooperative"), gettext("Orders placed"), gettext("Revenue (VND)")],
                     [[name, int(placed), int(revenue)] for name, placed, revenue in rows],
                     ["text", "number", "vnd"])

    def _categories_table(self, rows) -> Table:
        from shop.catalog.forms import CATEGORY_LABELS

        table_rows = sorted(([str(CATEGORY_LABELS.get(category, category)), int(lines), int(units), int(revenue)]
                             for category, lines, units, revenue in rows), key=lambda row: -row[3])
        return Table("categories", gettext("Delivered sales per product category"),
                     [gettext("Category"), gettext("Order lines"), gettext("Units"), gettext("Revenue (VND)")], table_rows,
                     ["text", "number", "number", "vnd"])

    def _scans_table(self, months: MonthRange, rows) -> Table:
        counted: dict[str, int] = defaultdict(int)
        for day, count in rows:
            if isinstance(day, str):  # SQLite hands back the ISO text when grouped
                day = date.fromisoformat(day)
            counted[f"{day:%Y-%m}"] += int(count)
        return Table("scans", gettext("QR code scans per month"), [gettext("Month"), gettext("Scans")],
                     [[m, counted.get(m, 0)] for m in months.months()], ["month", "number"])

    def _shipments_table(self, rows) -> Table:
        from kernel.labels import status_label

        counted = {status: int(count) for status, count in rows}
        order = [s.value for s in ShipmentStatus]
        table_rows = [[status_label(status), counted[status]] for status in order if counted.get(status)]
        table_rows += [[status_label(status), n] for status, n in counted.items() if status not in order]
        return Table("shipments", gettext("Shipments by status"), [gettext("Status"), gettext("Shipments")], table_rows,
                     ["text", "number"])

    def _cod_table(self, rows) -> Table:
        a, b, c, d, e, f = (int(value) for value in rows[0])
        return Table("cod", gettext("Cash on delivery outstanding"),
                     [gettext("What"), gettext("Shipments"), gettext("Amount (VND)")],
                     [[gettext("Delivered, cash not yet recorded as collected"), a, b],
                      [gettext("Collected, not yet paid to the cooperative"), c, d],
                      [gettext("Paid to the cooperative short of what was collected"), e, f]],
                     ["text", "number", "vnd"])

    def _recalls_table(self, rows) -> Table:
        table_rows = [[at, gtin, lot, product or "", cooperative or "", reason]
                      for at, gtin, lot, product, cooperative, reason in rows]
        return Table("recalls", gettext("Recalls"), [gettext("Date"), "GTIN", gettext("Lot"), gettext("Product"),
                                                      gettext("Cooperative"), gettext("Reason")], table_rows,
                     ["date", "text", "text", "text", "text", "text"])


SCAN_RECOUNT_DAYS = 7


def roll_up_scans(session: Session, today: date | None = None) -> int:
    """Sum the finished days' scans into `scan_day_total`, up to the day before yesterday (a day's
    buffered counts have normally been flushed long before). The last week rolled up is summed
    again each time, so counts that reach the database late (a worker down for a few days) are
    still taken in. Returns the number of days added; running it twice adds nothing."""
    today = today or datetime.now(LOCAL_TZ).date()
    until = today - timedelta(days=1)  # exclusive: yesterday and today stay live
    before = session.exec(select(func.count()).select_from(ScanDayTotal)).one()
    session.execute(delete(ScanDayTotal).where(ScanDayTotal.day >= until - timedelta(days=SCAN_RECOUNT_DAYS)))
    last = session.exec(select(func.max(ScanDayTotal.day))).one()
    query = select(ScanDay.day, func.sum(ScanDay.count), literal(utcnow(), UTCDateTime())).where(ScanDay.day < until)
    if last is not None:
        query = query.where(ScanDay.day > last)
    session.execute(insert(ScanDayTotal).from_select(["day", "count", "rolled_at"], query.group_by(ScanDay.day)))
    session.flush()
    # Counted rather than taken from the cursor: drivers disagree on rowcount for INSERT … SELECT.
    return session.exec(select(func.count()).select_from(ScanDayTotal)).one() - before


ORDERS_ROLL_UP, SHIPMENTS_ROLL_UP = "orders", "shipments"
# A change is stamped when it is made and seen by others when its transaction commits, a moment
# later; changes stamped this long before a roll-up began still count as after it (their days are
# read live, and summed again by the next run), so none committed during a run is missed.
ROLL_UP_MARGIN = timedelta(minutes=15)
RECOUNT_DAYS = 7


def changed_order_days(session: Session, since: datetime, through: date) -> set[date]:
    """The local days, up to `through`, on which orders were placed that changed status at or after
    `since` (every change of status is written to `orderstatuschange`, placing the order included)."""
    day = local_day(session, Order.created_at)
    query = (select(day).distinct()
             .select_from(OrderStatusChange)
             .join(Order, Order.id == OrderStatusChange.order_id)
             .where(OrderStatusChange.at >= since, Order.created_at < day_start(through + timedelta(days=1))))
    return {_as_date(value) for value in session.exec(query)}


def changed_shipment_days(session: Session, since: datetime, through: date) -> set[date]:
    """The local days, up to `through`, on which shipments were created that changed at or after
    `since` (the postal services stamp `updated_at` with every change of status)."""
    day = local_day(session, Shipment.created_at)
    query = (select(day).distinct()
             .where(Shipment.updated_at >= since, Shipment.created_at < day_start(through + timedelta(days=1))))
    return {_as_date(value) for value in session.exec(query)}


CHANGED_DAYS = {ORDERS_ROLL_UP: changed_order_days, SHIPMENTS_ROLL_UP: changed_shipment_days}


def _days_to_sum(session: Session, name: str, created_at, now: datetime) -> tuple[set[date], RollUpMark]:
    """The finished days a roll-up run sums: all of them the first time; then the days finished
    since the last run, the last week, and the days whose rows changed since the last run began.
    The mark is moved on to this run."""
    through = now.astimezone(LOCAL_TZ).date() - timedelta(days=1)
    mark = session.get(RollUpMark, name)
    if mark is None:
        first = session.exec(select(func.min(created_at))).one()
        days = set()
        if first is not None:
            first_day = first.astimezone(LOCAL_TZ).date()
            days = {first_day + timedelta(days=n) for n in range((through - first_day).days + 1)}
        mark = RollUpMark(name=name, through_day=through, rolled_at=now)
    else:
        days = CHANGED_DAYS[name](session, mark.rolled_at - ROLL_UP_MARGIN, mark.through_day)
        start = min(mark.through_day + timedelta(days=1), through - timedelta(days=RECOUNT_DAYS - 1))
        days |= {start + timedelta(days=n) for n in range((through - start).days + 1)}
        mark.through_day, mark.rolled_at = max(mark.through_day, through), now
    session.add(mark)
    return {day for day in days if day <= through}, mark


def roll_up_orders(session: Session, now: datetime | None = None) -> int:
    """Sum each finished local day's orders into `order_day_total` (per cooperative, and per month
    in `order_month_total`) and `category_day_total` (per product category), and their shipments
    into `shipment_day_total` (per status). Each run sums again the days whose orders or shipments
    changed since the previous run (a late delivery, a cancellation, a return) and the last week,
    and adds the days finished since; today stays live. Returns the number of order days summed."""
    now = now or utcnow()
    roll_up_shipments(session, now)
    days, _mark = _days_to_sum(session, ORDERS_ROLL_UP, Order.created_at, now)
    if days:
        session.execute(delete(OrderDayTotal).where(OrderDayTotal.day.in_(sorted(days))))
        session.execute(delete(CategoryDayTotal).where(CategoryDayTotal.day.in_(sorted(days))))
        placed_in = _within(Order.created_at, day_ranges(days))
        day = local_day(session, Order.created_at)
        delivered = Order.status.in_(DELIVERED)
        session.execute(insert(OrderDayTotal).from_select(
            ["day", "cooperative_id", "orders", "delivered", "revenue_vnd"],
            select(day, Order.cooperative_id, func.sum(case((Order.status != OrderStatus.CANCELLED, 1), else_=0)),
                   func.sum(case((delivered, 1), else_=0)), func.sum(case((delivered, Order.goods_total_vnd), else_=0)))
            .where(placed_in)
            .group_by(day, Order.cooperative_id)))
        session.execute(insert(CategoryDayTotal).from_select(
            ["day", "category", "lines", "units", "revenue_vnd"],
            select(day, Product.category, func.count(), func.sum(OrderLine.quantity), func.sum(OrderLine.line_total_vnd))
            .select_from(OrderLine)
            .join(Order, Order.id == OrderLine.order_id)
            .join(Product, Product.id == OrderLine.product_id)
            .where(placed_in, delivered)
            .group_by(day, Product.category)))
        # Each month any of those days falls in is summed again from its daily rows.
        for month in sorted({day.replace(day=1) for day in days}):
            following = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
            session.execute(delete(OrderMonthTotal).where(OrderMonthTotal.month == month))
            session.execute(insert(OrderMonthTotal).from_select(
                ["month", "cooperative_id", "orders", "delivered", "revenue_vnd"],
                select(literal(month, Date()), OrderDayTotal.cooperative_id, func.sum(OrderDayTotal.orders),
                       func.sum(OrderDayTotal.delivered), func.sum(OrderDayTotal.revenue_vnd))
                .where(OrderDayTotal.day >= month, OrderDayTotal.day < following)
                .group_by(OrderDayTotal.cooperative_id)))
    session.flush()
    return len(days)


def roll_up_shipments(session: Session, now: datetime | None = None) -> int:
    """Shipments per local day of their creation and status, as `roll_up_orders` does for orders."""
    days, _mark = _days_to_sum(session, SHIPMENTS_ROLL_UP, Shipment.created_at, now or utcnow())
    if days:
        session.execute(delete(ShipmentDayTotal).where(ShipmentDayTotal.day.in_(sorted(days))))
        day = local_day(session, Shipment.created_at)
        session.execute(insert(ShipmentDayTotal).from_select(
            ["day", "status", "shipments"],
            select(day, Shipment.status, func.count())
            .where(_within(Shipment.created_at, day_ranges(days)))
            .group_by(day, Shipment.status)))
    session.flush()
    return len(days)
