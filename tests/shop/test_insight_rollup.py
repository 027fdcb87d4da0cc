"""The daily order roll-up: the dashboard's order figures (months, cooperatives, categories, shipments) are
the same read through `order_day_total` / `category_day_total` as summed straight from the orders,
before and after a roll-up, with today's orders read live and with orders changed after a roll-up
(cancelled, delivered late) counted at once and summed again by the next run."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from kernel.i18n import LOCAL_TZ
from shop.insight.models import (
    CategoryDayTotal,
    OrderDayTotal,
    OrderMonthTotal,
    RollUpMark,
    ShipmentDayTotal,
)
from shop.insight.schemas import MonthRange
from shop.insight.services import DashboardService, day_start, roll_up_orders
from shop.orders.models import Order, OrderStatus
from shop.orders.services import OrderService
from kernel.timeutil import utcnow
from tests.factories import login
from tests.shop.test_dashboard import month_start, order, world  # noqa: F401 - the dashboard's known rows
from workers.postal.models import Shipment

TABLES = ("monthly", "cooperatives", "categories", "shipments")


def _months() -> MonthRange:
    return MonthRange(month_start(7), month_start(0))


def page_figures(session, months: MonthRange) -> dict:
    service = DashboardService(session)
    return {key: service.table(key, months).rows for key in TABLES}


def raw_figures(session, months: MonthRange) -> dict:
    """The same tables from the statements over the raw orders, which never read a roll-up."""
    service = DashboardService(session)
    raw = service.raw_statements(months)
    return {"monthly": service._monthly_table(months, service._rows(raw["monthly"])).rows,
            "cooperatives": service._cooperatives_table(service._rows(raw["cooperatives"])).rows,
            "categories": service._categories_table(service._rows(raw["categories"])).rows,
            "shipments": service._shipments_table(service._rows(raw["shipments"])).rows}


def _products(session):
    from shop.catalog.models import Batch, Product

    rice = session.exec(select(Product).where(Product.category == "rice")).one()
    batch = session.exec(select(Batch).where(Batch.product_id == rice.id)).one()
    return rice, batch


@pytest.fixture
def recent(session, world):  # noqa: F811 - the fixture imported above
    """Orders of yesterday (rolled up by the next run) and today (always live) beside the months."""
    rice, batch = _products(session)
    now = datetime.now(LOCAL_TZ)
    yesterday = order(session, world["a"].id, rice, batch, status="delivered", total=310_000, placed=now - timedelta(days=1))
    today = order(session, world["a"].id, rice, batch, status="placed", total=120_000, placed=now - timedelta(minutes=1))
    session.flush()
    return {"yesterday": yesterday, "today": today, "rice": rice, "batch": batch, **world}


def test_roll_up_gives_the_raw_figures_and_leaves_today_live(app, session, recent):
    months = _months()
    with app.test_request_context():
        raw = raw_figures(session, months)
        assert page_figures(session, months) == raw  # nothing rolled up yet: all live
        days = roll_up_orders(session)
        assert days > 0
        assert page_figures(session, months) == raw == raw_figures(session, months)
    today = datetime.now(LOCAL_TZ).date()
    rolled_days = {row.day for row in session.exec(select(OrderDayTotal))}
    assert today not in rolled_days and today - timedelta(days=1) in rolled_days
    assert session.get(RollUpMark, "orders").through_day == today - timedelta(days=1)
    # The known rows, summed by hand: cooperative A on the 5th two months ago, one delivered order.
    fifth = session.exec(select(OrderDayTotal).where(OrderDayTotal.day == month_start(2).replace(day=5))).one()
    assert (fifth.cooperative_id, fifth.orders, fifth.delivered, fifth.revenue_vnd) == (recent["a"].id, 1, 1, 1_000_000)
    # The cancelled order of the 7th counts nowhere, but its day is summed (to zero).
    seventh = session.exec(select(OrderDayTotal).where(OrderDayTotal.day == month_start(2).replace(day=7))).one()
    assert (seventh.orders, seventh.delivered, seventh.revenue_vnd) == (0, 0, 0)
    # The month row is the sum of its days: A's two delivered orders and the cancelled one, two months ago.
    month = session.exec(select(OrderMonthTotal).where(OrderMonthTotal.month == month_start(2),
                                                       OrderMonthTotal.cooperative_id == recent["a"].id)).one()
    assert (month.orders, month.delivered, month.revenue_vnd) == (2, 2, 1_500_000)
    assert sum(row.shipments for row in session.exec(select(ShipmentDayTotal))) == 6
    fruit = session.exec(select(CategoryDayTotal).where(CategoryDayTotal.category == "fruit")).all()
    assert sorted((row.lines, row.units, row.revenue_vnd) for row in fruit) == [(1, 2, 4_000_000), (1, 2, 8_000_000)]


def test_orders_placed_after_the_roll_up_count_at_once(app, session, recent):
    months = _months()
    with app.test_request_context():
        roll_up_orders(session)
        before = page_figures(session, months)
        order(session, recent["b"].id, recent["rice"], recent["batch"], status="delivered", total=90_000,
              placed=datetime.now(LOCAL_TZ))
        session.flush()
        after = page_figures(session, months)
        assert after == raw_figures(session, months)
    this_month = f"{month_start(0):%Y-%m}"
    row_before = next(row for row in before["monthly"] if row[0] == this_month)
    row_after = next(row for row in after["monthly"] if row[0] == this_month)
    assert row_after[1:] == [row_before[1] + 1, row_before[2] + 1, row_before[3] + 90_000]


def test_an_order_cancelled_after_its_day_was_rolled_up_is_taken_out_at_once_and_summed_again(app, session, recent):
    months = _months()
    placed = session.exec(select(Order).where(Order.status == OrderStatus.PLACED,
                                              Order.created_at < day_start(month_start(0)))).one()
    placed_day = placed.created_at.astimezone(LOCAL_TZ).date()
    with app.test_request_context():
        roll_up_orders(session)
        assert session.exec(select(OrderDayTotal.orders).where(OrderDayTotal.day == placed_day)).one() == 1
        before = page_figures(session, months)
        OrderService(session).transition(placed, OrderStatus.CANCELLED, "member:1", "Hết hàng")
        session.flush()
        # Read live until the next run: the cancelled order no longer counts, whatever the roll-up says.
        changed = page_figures(session, months)
        assert changed == raw_figures(session, months) != before
        assert roll_up_orders(session) >= 1
        assert session.exec(select(OrderDayTotal.orders).where(OrderDayTotal.day == placed_day)).one() == 0
        assert page_figures(session, months) == changed
        # An hour later the change is long before the run, so the day is read from its totals alone.
        roll_up_orders(session, now=utcnow() + timedelta(hours=1))
        service = DashboardService(session)
        rolled, _live = service.order_days(months.period)
        assert rolled is not None and placed_day not in rolled[2]
        assert page_figures(session, months) == changed
    month = f"{placed_day:%Y-%m}"
    assert next(r for r in changed["monthly"] if r[0] == month)[1] == next(r for r in before["monthly"] if r[0] == month)[1] - 1


def test_a_late_delivery_moves_revenue_and_categories_alike(app, session, recent):
    months = _months()
    late = order(session, recent["b"].id, recent["rice"], recent["batch"], status="handed_to_post", total=440_000,
                 placed=datetime.combine(month_start(1).replace(day=20), datetime.min.time(), LOCAL_TZ) + timedelta(hours=9))
    session.flush()
    with app.test_request_context():
        roll_up_orders(session, now=utcnow() - timedelta(hours=1))
        OrderService(session).transition(late, OrderStatus.DELIVERED, "partner:1")
        session.flush()
        assert page_figures(session, months) == raw_figures(session, months)
        roll_up_orders(session)
        after = page_figures(session, months)
        assert after == raw_figures(session, months)
    rice = next(row for row in after["categories"] if row[3] and row[0] in ("Gạo", "Rice"))
    # A's five delivered rice orders (4.200.000 ₫ in the months, 310.000 ₫ yesterday) and B's late one.
    assert rice[1:] == [6, 12, 4_950_000]


def test_the_dashboard_page_shows_the_same_figures_before_and_after_the_roll_up(app, client, session, recent):
    login(client, "bangsolieu")
    query = f"from={month_start(7):%Y-%m}&to={month_start(0):%Y-%m}"

    def shown() -> list[str]:
        html = client.get(f"/alliance/dashboard?{query}").get_data(as_text=True)
        return re.findall(r'data-figure="[a-z_]+">[^<]*<', html) + re.findall(r"<td[^>]*>([^<]*)</td>", html)

    before = shown()
    with app.test_request_context():
        roll_up_orders(session)
    session.commit()
    assert session.exec(select(OrderDayTotal)).first() is not None
    # 7 in the last three months, B's order seven months ago, yesterday's and today's.
    assert 'data-figure="orders">10<' in before
    assert shown() == before


def test_a_shipment_returned_after_the_roll_up_counts_at_once_and_is_summed_again(app, session, recent):
    months = _months()
    shipment = session.exec(select(Shipment).where(Shipment.status == "delivered").order_by(Shipment.id)).first()
    shipment_day = shipment.created_at.astimezone(LOCAL_TZ).date()
    with app.test_request_context():
        roll_up_orders(session)
        before = dict(page_figures(session, months)["shipments"])
        # As the postal services record a change: the status and the time of the change.
        shipment.status, shipment.updated_at = "returned", utcnow()
        session.flush()
        changed = page_figures(session, months)
        assert changed == raw_figures(session, months)
        shown = dict(changed["shipments"])
        assert shown["Đã chuyển hoàn"] == before["Đã chuyển hoàn"] + 1
        assert shown["Đã giao hàng"] == before["Đã giao hàng"] - 1
        roll_up_orders(session, now=utcnow() + timedelta(hours=1))
        assert shipment_day not in DashboardService(session).shipment_days(months.period)[0][2]
        assert page_figures(session, months) == changed
    rolled = session.exec(select(ShipmentDayTotal).where(ShipmentDayTotal.day == shipment_day)).all()
    assert [(row.status, row.shipments) for row in rolled] == [("returned", 1)]


def test_a_change_stamped_shortly_before_a_run_keeps_its_day_live(app, session, recent):
    """A change made while a run was starting may commit after the run has read the orders: its day
    stays live (read from the orders) until a run begins well after it."""
    months = _months()
    placed = session.exec(select(Order).where(Order.status == OrderStatus.PLACED,
                                              Order.created_at < day_start(month_start(0)))).one()
    placed_day = placed.created_at.astimezone(LOCAL_TZ).date()
    with app.test_request_context():
        roll_up_orders(session, now=utcnow() - timedelta(hours=1))
        OrderService(session).transition(placed, OrderStatus.CANCELLED, "member:1", "Hết hàng")
        session.flush()
        roll_up_orders(session, now=utcnow() + timedelta(minutes=10))
        assert placed_day in DashboardService(session).order_days(months.period)[0][2]
        roll_up_orders(session, now=utcnow() + timedelta(minutes=30))
        assert placed_day not in DashboardService(session).order_days(months.period)[0][2]
        assert page_figures(session, months) == raw_figures(session, months)


def test_the_hourly_beat_runs_the_order_roll_up(app):
    celery = app.extensions["celery"]
    entry = celery.conf.beat_schedule["roll-up-orders"]
    assert entry["task"] == "nongsan.insight.roll_up_orders" and entry["task"] in celery.tasks
    assert entry["schedule"] <= 3600
