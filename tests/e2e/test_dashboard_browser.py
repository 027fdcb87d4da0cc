"""The province dashboard in Debian's Chromium: its SVG charts are drawn, with bars and titles in the
reader's language, and the page asks nothing of any other host."""

from __future__ import annotations

import pytest

from shop.accounts.models import Role
from shop.accounts.services import AccountService
from shop.catalog.schemas import BatchCreate, ProductCreate
from shop.catalog.services import CatalogService
from shop.cooperatives.schemas import CooperativeCreate
from shop.cooperatives.services import CooperativeService
from kernel.db import unit_of_work
from tests.e2e.browser import RecordingPage, chromium
from tests.shop.test_dashboard import fill_dashboard, month_start
from traceability.services import CredentialService, key_service
from workers.postal.models import Partner

pytestmark = pytest.mark.e2e
PASSWORD = "mật khẩu đủ dài 2026"


def _world(live) -> None:
    from datetime import date, timedelta
    from decimal import Decimal

    with live.app.app_context(), unit_of_work() as session:
        keys = key_service(session)
        cooperatives = CooperativeService(session, keys)
        made = []
        for name, registration, product_name, category in (
            ("HTX Lúa gạo Mỹ Xuyên", "2201M000101", "Gạo ST25 túi 5 kg", "rice"),
            ("HTX Bưởi Năm Roi Kế Sách", "2201K000102", "Bưởi Năm Roi", "fruit"),
        ):
            cooperative = cooperatives.register(CooperativeCreate(
                name=name, registration_no=registration, province_code=92, ward_code=31684, address="Ấp 1", phone="0912345678"))
            cooperatives.approve(cooperative.id)
            catalog = CatalogService(session, cooperative.id, alliance_gs1_prefix=live.app.config["GS1_COMPANY_PREFIX"],
                                     credentials=CredentialService(session, keys))
            product = catalog.create_product(ProductCreate(name=product_name, price_vnd=100_000, unit_weight_g=1000,
                                                           category=category))
            batch = catalog.create_batch(product.id, BatchCreate(lot=f"L-{registration[-3:]}", plot="Ruộng 1",
                                                                 harvest_date=date.today() - timedelta(days=3),
                                                                 quantity_kg=Decimal(500)))
            made.append((cooperative, product, batch))
        partner = Partner(name="Bưu điện Cần Thơ", province_code=92, is_default=True)
        session.add(partner)
        session.flush()
        (a, rice, rice_batch), (b, pomelo, pomelo_batch) = made
        fill_dashboard(session, a=a, b=b, rice=rice, rice_batch=rice_batch, pomelo=pomelo, pomelo_batch=pomelo_batch,
                       partner_id=partner.id)
        AccountService(session).create_user(username="lienminh", password=PASSWORD, display_name="Chị Mai",
                                            role=Role.ALLIANCE_ADMIN)


def _bars(page, chart_id: str) -> int:
    return page.locator(f"svg#{chart_id} rect.bar").count()


def test_dashboard_charts_render_in_vietnamese_and_english(live):
    _world(live)
    url = f"{live.base_url}/alliance/dashboard?from={month_start(2):%Y-%m}&to={month_start(0):%Y-%m}"
    with chromium() as browser:
        visitor = RecordingPage(browser, locale="vi-VN")
        page = visitor.page
        page.goto(f"{live.base_url}/login")
        page.fill("#username", "lienminh")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.goto(url)
        assert page.get_attribute("html", "lang") == "vi"
        for chart_id in ("chart-orders", "chart-revenue", "chart-cooperatives", "chart-categories", "chart-scans",
                         "chart-shipments", "chart-cod"):
            box = page.locator(f"svg#{chart_id}").bounding_box()
            assert box and box["width"] > 200 and box["height"] > 50, chart_id  # laid out, not just in the markup
        assert _bars(page, "chart-orders") == 3  # one bar per month of the period
        assert _bars(page, "chart-cooperatives") == 2
        assert _bars(page, "chart-categories") == 2
        # A bar's height follows its value: last month had 4 orders, the month before 2.
        heights = [float(page.locator("svg#chart-orders rect.bar").nth(i).get_attribute("height")) for i in range(3)]
        assert heights[1] > heights[0] > heights[2] > 0
        assert page.text_content("svg#chart-orders text.chart-title") == "Đơn hàng đã đặt theo tháng"
        assert page.text_content("svg#chart-scans text.chart-title") == "Lượt quét mã QR theo tháng"
        assert page.locator("svg#chart-orders title").first.text_content() == "Đơn hàng đã đặt theo tháng"
        assert "8.200.000 ₫" in page.inner_text("#key-figures")
        page.click("text=English")
        page.wait_for_load_state()
        assert page.get_attribute("html", "lang") == "en"
        assert _bars(page, "chart-orders") == 3
        assert page.text_content("svg#chart-orders text.chart-title") == "Orders placed per month"
        assert page.text_content("svg#chart-shipments text.chart-title") == "Shipments by status"
        assert "Delivered" in page.locator("svg#chart-shipments").inner_html()
        assert visitor.hosts() == {"127.0.0.1"}, visitor.requests
        assert visitor.errors == []
