"""The province dashboard: its figures from known rows, its charts in both languages, every table as
CSV and XLSX, the monthly PDF report, and who may open it."""

from __future__ import annotations

import io
import itertools
import re
from datetime import date, datetime, time

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlmodel import select

from shop.accounts.models import Role
from kernel.i18n import LOCAL_TZ
from shop.insight.schemas import MonthRange
from shop.orders.models import Order, OrderLine
from tests.factories import login
from traceability.models import Recall, ScanDay
from workers.postal.models import Shipment, WebhookDelivery

_numbers = itertools.count(1)


def month_start(months_back: int, today: date | None = None) -> date:
    today = today or datetime.now(LOCAL_TZ).date()
    year, month = today.year, today.month - months_back
    while month < 1:
        month += 12
        year -= 1
    return date(year, month, 1)


def at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour, 0), LOCAL_TZ)


def order(session, cooperative_id: int, product, batch, *, status: str, total: int, placed: datetime, partner_id: int | None = None,
          shipment_status: str | None = None, cod: int = 0, collected: int | None = None, remitted: int | None = None) -> Order:
    n = next(_numbers)
    row = Order(reference=f"NS-D{n:07d}", public_token=f"dash-{n}-{cooperative_id}", checkout_key=f"dash-{n}",
                cooperative_id=cooperative_id, status=status, buyer_name="Anh Bình", buyer_phone="0912345678",
                province_code=92, ward_code=31684, street="Ấp 2", goods_total_vnd=total, shipping_fee_vnd=30_000,
                weight_g=1000, created_at=placed)
    session.add(row)
    session.flush()
    session.add(OrderLine(order_id=row.id, product_id=product.id, batch_id=batch.id, product_name=product.name, lot=batch.lot,
                          quantity=2, unit_price_vnd=total // 2, line_total_vnd=total))
    if shipment_status:
        session.add(Shipment(code=f"ED{n:08d}5VN", order_id=row.id, order_reference=row.reference, cooperative_id=cooperative_id,
                             partner_id=partner_id, status=shipment_status, sender_name="HTX", sender_province_code=92,
                             sender_ward_code=31684, sender_address="Ấp 1", recipient_name="Anh Bình",
                             recipient_phone="0912345678", recipient_province_code=92, recipient_ward_code=31684,
                             recipient_address="Ấp 2", weight_g=1000, shipping_fee_vnd=30_000, cod_amount_vnd=cod,
                             cod_collected_vnd=collected, cod_remitted_vnd=remitted, created_at=placed))
    session.flush()
    return row


def fill_dashboard(session, *, a, b, rice, rice_batch, pomelo, pomelo_batch, partner_id: int) -> None:
    """Three months of known activity; the expected figures are written next to the tests."""
    m2, m1, m0 = month_start(2), month_start(1), month_start(0)
    order(session, a.id, rice, rice_batch, status="delivered", total=1_000_000, placed=at(m2.replace(day=5)), partner_id=partner_id,
          shipment_status="delivered", cod=1_000_000, collected=1_000_000, remitted=1_000_000)
    order(session, a.id, rice, rice_batch, status="delivered", total=500_000, placed=at(m2.replace(day=6)), partner_id=partner_id,
          shipment_status="delivered")
    order(session, a.id, rice, rice_batch, status="cancelled", total=9_900_000, placed=at(m2.replace(day=7)))
    order(session, a.id, rice, rice_batch, status="delivered", total=2_000_000, placed=at(m1.replace(day=3)), partner_id=partner_id,
          shipment_status="delivered", cod=2_000_000, collected=2_000_000)
    order(session, a.id, rice, rice_batch, status="placed", total=300_000, placed=at(m1.replace(day=4)))
    order(session, a.id, rice, rice_batch, status="settled", total=700_000, placed=at(m0, 1), partner_id=partner_id,
          shipment_status="delivered", cod=700_000)
    order(session, b.id, pomelo, pomelo_batch, status="delivered", total=4_000_000, placed=at(m1.replace(day=8)),
          partner_id=partner_id, shipment_status="delivered", cod=4_000_000, collected=4_000_000, remitted=3_900_000)
    order(session, b.id, pomelo, pomelo_batch, status="returned", total=250_000, placed=at(m1.replace(day=9)),
          partner_id=partner_id, shipment_status="returned")
    order(session, b.id, pomelo, pomelo_batch, status="delivered", total=8_000_000, placed=at(month_start(7).replace(day=9)))
    session.add(ScanDay(gtin=rice.gtin, lot=rice_batch.lot, day=m1.replace(day=5), count=120))
    session.add(ScanDay(gtin=pomelo.gtin, lot=pomelo_batch.lot, day=m0, count=30))
    session.add(ScanDay(gtin=rice.gtin, lot=rice_batch.lot, day=month_start(5), count=999))
    session.add(Recall(gtin=pomelo.gtin, lot=pomelo_batch.lot, reason="Dư lượng thuốc bảo vệ thực vật", recalled_by="alliance:1",
                       recalled_at=at(m1.replace(day=10))))
    session.add(WebhookDelivery(id="wh-dead-1", partner_id=partner_id, shipment_code="ED000000015VN", body="{}", status="failed",
                                attempts=12))
    session.flush()


@pytest.fixture
def world(factory, session):
    partner = factory.partner()
    a = factory.cooperative(name="HTX Lúa gạo Mỹ Xuyên")
    b = factory.cooperative(name="HTX Bưởi Năm Roi Kế Sách")
    rice = factory.product(a, name="Gạo ST25 túi 5 kg")
    rice.category = "rice"
    pomelo = factory.product(b, name="Bưởi Năm Roi", price_vnd=60_000, unit_weight_g=1500)
    pomelo.category = "fruit"
    rice_batch = factory.batch(a, rice, lot="ST-01")
    pomelo_batch = factory.batch(b, pomelo, lot="NR-01")
    fill_dashboard(session, a=a, b=b, rice=rice, rice_batch=rice_batch, pomelo=pomelo, pomelo_batch=pomelo_batch,
                   partner_id=partner.id)
    factory.user(Role.ALLIANCE_ADMIN, username="bangsolieu")
    session.commit()
    return {"a": a, "b": b}


def _range() -> str:
    return f"from={month_start(2):%Y-%m}&to={month_start(0):%Y-%m}"


def test_dashboard_figures_match_the_rows_and_charts_are_titled_in_each_language(client, world):
    login(client, "bangsolieu")
    page = client.get(f"/alliance/dashboard?{_range()}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    figures = dict(re.findall(r'data-figure="([a-z_]+)">([^<]*)<', html))
    # Orders placed, not cancelled, in the three months: A 2 + 1 + 1 + 1, B 2 = 7 (A's placed order counts).
    assert figures["orders"] == "7"
    # Delivered or settled: A 1.000.000 + 500.000 + 2.000.000 + 700.000, B 4.000.000 = 8.200.000 ₫ (5 orders).
    assert figures["delivered"] == "5"
    assert figures["revenue_vnd"] == "8.200.000 ₫"
    assert figures["scans"] == "150"  # 120 + 30; the scans five months ago are outside
    assert figures["shipments"] == "6"
    # Owed today: 700.000 not collected + 2.000.000 not remitted + 100.000 remitted short.
    assert figures["cod_outstanding_vnd"] == "2.800.000 ₫"
    assert figures["dead_letters"] == "1"
    assert figures["recalls"] == "1"
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg"') >= 6
    assert 'class="bar"' in html
    assert "Đơn hàng đã đặt theo tháng" in html and "Lượt quét mã QR theo tháng" in html
    assert f"{month_start(1):%m/%Y}" in html  # months written mm/yyyy
    assert 'aria-labelledby="chart-orders-title chart-orders-desc"' in html
    assert f'<desc id="chart-orders-desc">Cao nhất: {month_start(1):%m/%Y}, 4.</desc>' in html
    english = client.get(f"/alliance/dashboard?{_range()}&lang=en").get_data(as_text=True)
    assert "Orders placed per month" in english and "QR code scans per month" in english
    assert "Đơn hàng đã đặt theo tháng" not in english
    assert f'<desc id="chart-revenue-desc">Highest: {month_start(1):%m/%Y}, 6.000.000 ₫.</desc>' in english


def test_every_dashboard_table_downloads_as_csv_and_xlsx(client, world):
    login(client, "bangsolieu")
    for key in ("monthly", "cooperatives", "categories", "scans", "shipments", "cod", "recalls"):
        csv_response = client.get(f"/alliance/dashboard/{key}.csv?{_range()}")
        assert csv_response.status_code == 200, key
        assert csv_response.headers["Content-Disposition"].startswith(f'attachment; filename="{key}-')
        xlsx = client.get(f"/alliance/dashboard/{key}.xlsx?{_range()}")
        assert xlsx.status_code == 200, key
        load_workbook(io.BytesIO(xlsx.get_data()))
    cooperatives = client.get(f"/alliance/dashboard/cooperatives.csv?{_range()}").get_data().decode("utf-8-sig").splitlines()
    # Revenue of delivered orders: A 4.200.000 ₫ from 5 orders placed, B 4.000.000 ₫ from 2.
    assert cooperatives[1:] == ["HTX Lúa gạo Mỹ Xuyên,5,4200000", "HTX Bưởi Năm Roi Kế Sách,2,4000000"]
    categories = load_workbook(io.BytesIO(client.get(f"/alliance/dashboard/categories.xlsx?{_range()}").get_data())).active
    rows = [[cell.value for cell in row] for row in categories.iter_rows(min_row=2)]
    assert rows == [["Gạo", 4, 8, 4_200_000], ["Trái cây", 1, 2, 4_000_000]]
    monthly = client.get(f"/alliance/dashboard/monthly.csv?{_range()}").get_data().decode("utf-8-sig").splitlines()
    assert monthly[1:] == [f"{month_start(2):%Y-%m},2,2,1500000", f"{month_start(1):%Y-%m},4,2,6000000",
                           f"{month_start(0):%Y-%m},1,1,700000"]
    assert client.get(f"/alliance/dashboard/secrets.csv?{_range()}").status_code == 404
    assert client.get(f"/alliance/dashboard/monthly.json?{_range()}").status_code == 404


def test_dashboard_period_is_checked(client, world):
    login(client, "bangsolieu")
    bad = client.get("/alliance/dashboard?from=2026-13")
    assert bad.status_code == 400 and "yyyy-mm" in bad.get_data(as_text=True)
    assert client.get("/alliance/dashboard?from=2026-05&to=2026-01").status_code == 400
    assert client.get("/alliance/dashboard?from=2020-01&to=2026-01").status_code == 400
    # Well-formed but out-of-range years are refused, not a 500 from the calendar's edge.
    for query in ("/alliance/dashboard?to=9999-12", "/alliance/dashboard?to=0001-01", "/alliance/dashboard?from=0001-01",
                  "/alliance/dashboard/report.pdf?month=9999-12", "/alliance/dashboard/report.pdf?month=0001-01"):
        assert client.get(query).status_code == 400, query
    for query in ("to=0001-01-01", "to=9999-12-31", "from=0001-01-01"):
        far = client.get(f"/alliance/ranking?{query}")
        assert far.status_code == 400 and "1900" in far.get_data(as_text=True), query
    assert client.get("/alliance/dashboard").status_code == 200


def test_monthly_pdf_report_holds_the_months_figures(client, world):
    login(client, "bangsolieu")
    month = month_start(1)
    response = client.get(f"/alliance/dashboard/report.pdf?month={month:%Y-%m}&lang=en")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.get_data())).pages)
    assert f"BÁO CÁO THÁNG {month:%m/%Y}" in text
    # Last month: A 2.000.000 delivered + 300.000 placed, B 4.000.000 delivered + 250.000 returned.
    assert "Đơn hàng đã đặt: 4" in text
    assert "Đơn hàng đã giao: 2" in text
    assert "Doanh thu đơn đã giao: 6.000.000 ₫" in text
    assert "Lượt quét mã QR: 120" in text
    assert "Tiền thu hộ (COD) còn phải thanh toán: 2.800.000 ₫" in text
    assert "HTX Bưởi Năm Roi Kế Sách" in text and "Trái cây" in text
    assert "Đã chuyển hoàn" in text and "NR-01" in text  # the month's returned shipment and recall
    assert "Xếp loại hợp tác xã" in text
    # Neither cooperative reaches 50 points over twelve months with this little activity.
    assert "Yếu (dưới 50 điểm): 2 hợp tác xã" in text
    assert client.get("/alliance/dashboard/report.pdf?month=May").status_code == 400


def test_only_the_alliance_opens_the_dashboard(client, factory, session, world):
    factory.user(Role.MEMBER, cooperative_id=world["a"].id, username="thanhvien")
    session.commit()
    assert client.get("/alliance/dashboard").status_code in (302, 401)
    login(client, "thanhvien")
    assert client.get("/alliance/dashboard").status_code == 403
    assert client.get("/alliance/dashboard/monthly.csv").status_code == 403
    assert client.get("/alliance/dashboard/report.pdf").status_code == 403


def test_month_range_helpers():
    months = MonthRange(date(2025, 11, 1), date(2026, 2, 1))
    assert months.months() == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert months.period.end == date(2026, 2, 28)
    assert MonthRange.last_months(12, date(2026, 11, 29)).first == date(2025, 12, 1)


def test_scans_read_the_same_before_and_after_the_daily_roll_up(app, client, session, world):
    from datetime import timedelta

    from shop.insight.models import ScanDayTotal
    from shop.insight.services import DashboardService, roll_up_scans

    today = datetime.now(LOCAL_TZ).date()
    yesterday = today - timedelta(days=1)
    gtin, lot = session.exec(select(ScanDay.gtin, ScanDay.lot)).first()
    session.add(ScanDay(gtin=gtin, lot=lot, day=yesterday, count=7))
    session.flush()
    months = MonthRange(month_start(2), month_start(0))
    with app.test_request_context():
        before = DashboardService(session).table("scans", months).rows
        added = roll_up_scans(session)
        assert roll_up_scans(session) == 0  # a second run adds nothing
        after = DashboardService(session).table("scans", months).rows
    rolled = {row.day: row.count for row in session.exec(select(ScanDayTotal))}
    assert added == len(rolled) and yesterday not in rolled and today not in rolled  # still live
    assert rolled.get(month_start(1).replace(day=5)) == 120
    assert after == before
    assert sum(row[1] for row in after) == 150 + (7 if yesterday >= month_start(2) else 0)
    # A later scan on a day still live is counted at once.
    session.add(ScanDay(gtin=gtin, lot=lot, day=today, count=5))
    session.flush()
    with app.test_request_context():
        assert sum(row[1] for row in DashboardService(session).table("scans", months).rows) == sum(row[1] for row in after) + 5


def test_scans_flushed_late_are_taken_in_by_the_next_roll_up(app, session, world):
    from datetime import timedelta

    from shop.insight.services import DashboardService, roll_up_scans

    today = datetime.now(LOCAL_TZ).date()
    three_days_ago = today - timedelta(days=3)
    gtin, lot = session.exec(select(ScanDay.gtin, ScanDay.lot)).first()
    months = MonthRange(month_start(3, three_days_ago), month_start(0))
    with app.test_request_context():
        roll_up_scans(session)
        total = sum(row[1] for row in DashboardService(session).table("scans", months).rows)
        # A worker that was down flushes its buffered counts for a day already rolled up.
        session.add(ScanDay(gtin=gtin, lot=lot, day=three_days_ago, count=11))
        session.flush()
        roll_up_scans(session)
        assert sum(row[1] for row in DashboardService(session).table("scans", months).rows) == total + 11
