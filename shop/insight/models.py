"""The alliance's own survey findings, and the indexes the dashboard's aggregates read through.

The indexes sit on other packages' tables but are declared here, next to the queries that need
them, so that the models and migration 0014 describe the same schema.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Index, Text, text
from sqlmodel import Field, SQLModel

from shop.catalog.models import Batch
from shop.orders.models import Order, OrderLine, OrderStatusChange
from kernel.timeutil import UTCDateTime, utcnow
from traceability.models import Credential, ProblemReport, Recall, ScanDay
from workers.postal.models import Shipment


class SurveyFinding(SQLModel, table=True):
    """What the alliance's staff saw when they visited a cooperative, kept beside its score."""

    __tablename__ = "survey_finding"

    id: int | None = Field(default=None, primary_key=True)
    cooperative_id: int = Field(foreign_key="cooperative.id", index=True)
    survey_date: date
    surveyor: str = Field(max_length=120)
    findings: str = Field(sa_type=Text)
    # The class the surveyors would give; may differ from the computed one, which is the point.
    assessed_class: str | None = Field(default=None, max_length=10)
    recorded_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ScanDayTotal(SQLModel, table=True):
    """All batches' scans of one finished day, summed once. A day's counts stop changing once it is
    over (buffered counters are flushed within minutes), so the dashboard reads these few hundred
    rows instead of one row per batch per day, and adds the days not yet rolled up from `scanday`."""

    __tablename__ = "scan_day_total"

    day: date = Field(primary_key=True)
    count: int = Field(sa_type=BigInteger)
    rolled_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OrderDayTotal(SQLModel, table=True):
    """One cooperative's orders placed on one finished local day, summed by the hourly roll-up:
    placed and not cancelled, delivered (or settled), and the revenue of those delivered. An order's
    status keeps changing after its day is over, so the roll-up sums again every day whose orders
    changed since its last run, and the dashboard reads such days live until it has."""

    __tablename__ = "order_day_total"

    day: date = Field(primary_key=True)
    cooperative_id: int = Field(primary_key=True)
    orders: int
    delivered: int
    revenue_vnd: int = Field(sa_type=BigInteger)


class OrderMonthTotal(SQLModel, table=True):
    """The same figures per calendar month: the sum of that month's rows in `order_day_total`,
    written by the same run, so the dashboard reads one row per cooperative and month (and takes
    back out, from the daily rows, any day it reads live)."""

    __tablename__ = "order_month_total"

    month: date = Field(primary_key=True)  # its first day
    cooperative_id: int = Field(primary_key=True)
    orders: int
    delivered: int
    revenue_vnd: int = Field(sa_type=BigInteger)


class CategoryDayTotal(SQLModel, table=True):
    """The delivered order lines of one product category on one finished local day (the day the
    order was placed), summed by the same roll-up as `OrderDayTotal`."""

    __tablename__ = "category_day_total"

    day: date = Field(primary_key=True)
    category: str = Field(primary_key=True, max_length=20)
    lines: int
    units: int = Field(sa_type=BigInteger)
    revenue_vnd: int = Field(sa_type=BigInteger)


class ShipmentDayTotal(SQLModel, table=True):
    """Shipments created on one finished local day, per status, summed by the same roll-up; a
    shipment changed since (its `updated_at`) makes its day live until the next run."""

    __tablename__ = "shipment_day_total"

    day: date = Field(primary_key=True)
    status: str = Field(primary_key=True, max_length=20)
    shipments: int


class RollUpMark(SQLModel, table=True):
    """How far a roll-up has got: every day up to `through_day` is summed in its totals table, as
    the raw rows stood when the run began (`rolled_at`); changes after that make their days live."""

    __tablename__ = "roll_up_mark"

    name: str = Field(primary_key=True, max_length=40)
    through_day: date
    rolled_at: datetime = Field(sa_type=UTCDateTime)


# Month-by-month and per-cooperative sums over the orders of a period read only these columns.
# The id too, so that a few days' orders are joined to their lines from the index alone.
Index("ix_insight_order_period", Order.__table__.c.created_at, Order.__table__.c.status,
      Order.__table__.c.cooperative_id, Order.__table__.c.goods_total_vnd, Order.__table__.c.id)
# Which orders changed since the last roll-up (their days are read live until the next one).
Index("ix_insight_orderstatus_at", OrderStatusChange.__table__.c.at, OrderStatusChange.__table__.c.order_id)
# Scans per month: a range of days, summed, without touching the table.
Index("ix_insight_scanday_day", ScanDay.__table__.c.day, ScanDay.__table__.c.count)
# Sales per product category: the lines of the period's orders without touching the table.
Index("ix_insight_orderline_sales", OrderLine.__table__.c.order_id, OrderLine.__table__.c.product_id,
      OrderLine.__table__.c.quantity, OrderLine.__table__.c.line_total_vnd)
# Which shipments changed since the last roll-up.
Index("ix_insight_shipment_updated", Shipment.__table__.c.updated_at, Shipment.__table__.c.created_at)
# Shipments of a period by status.
Index("ix_insight_shipment_period", Shipment.__table__.c.created_at, Shipment.__table__.c.status)
# Cash on delivery still owed: only the few shipments not yet settled with the cooperative.
COD_OPEN = ("cod_amount_vnd > 0 AND (cod_collected_vnd IS NULL OR cod_remitted_vnd IS NULL "
            "OR cod_remitted_vnd < cod_collected_vnd)")
Index("ix_insight_shipment_cod_open", Shipment.__table__.c.status, postgresql_where=text(COD_OPEN),
      sqlite_where=text(COD_OPEN))
# When each order reached the post (on-time fulfilment).
Index("ix_insight_orderstatus_to", OrderStatusChange.__table__.c.to_status, OrderStatusChange.__table__.c.order_id,
      OrderStatusChange.__table__.c.at)
# Signed events and complaints found by batch; batches and recalls by period.
Index("ix_insight_credential_batch", Credential.__table__.c.gtin, Credential.__table__.c.lot,
      Credential.__table__.c.event_type)
Index("ix_insight_problemreport_created", ProblemReport.__table__.c.created_at)
Index("ix_insight_batch_created", Batch.__table__.c.created_at)
Index("ix_insight_recall_at", Recall.__table__.c.recalled_at)
