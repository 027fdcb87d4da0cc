"""The buyer's journey in Debian's Chromium: scan page → Mua ngay → cart → checkout with a
two-level address chosen from the lists, postage quoted by a real worker → order placed → tracking."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from kernel import address
from shop.catalog.schemas import BatchCreate, ProductCreate
from shop.catalog.services import CatalogService
from shop.cooperatives.schemas import CooperativeCreate
from shop.cooperatives.services import CooperativeService
from kernel.db import unit_of_work
from tests.e2e.browser import RecordingPage, chromium
from traceability.services import CredentialService, key_service
from workers.postal.models import Partner

pytestmark = pytest.mark.e2e


def test_buyer_scans_buys_and_follows_the_order(live):
    with live.app.app_context(), unit_of_work() as session:
        keys = key_service(session)
        cooperatives = CooperativeService(session, keys)
        cooperative = cooperatives.register(CooperativeCreate(
            name="HTX Cây ăn trái Thới An Hội", registration_no="2201K000555", province_code=92, ward_code=31540,
            address="Ấp An Phú", phone="0912345603"))
        cooperatives.approve(cooperative.id)
        session.add(Partner(name="Bưu điện Cần Thơ", province_code=92, is_default=True))
        catalog = CatalogService(session, cooperative.id, alliance_gs1_prefix=live.app.config["GS1_COMPANY_PREFIX"],
                                 credentials=CredentialService(session, keys))
        product = catalog.create_product(ProductCreate(name="Bưởi Năm Roi (hộp 2 trái)", price_vnd=120_000, unit_weight_g=3000))
        catalog.create_batch(product.id, BatchCreate(lot="NR-2611", harvest_date=date.today() - timedelta(days=8),
                                                     plot="Vườn ông Bưởi", quantity_kg=Decimal("600")))
        gtin = product.gtin
    live.start_worker(beat=False)
    ward_code, ward_name = address.wards(79)[3]
    with chromium() as browser:
        buyer = RecordingPage(browser, locale="vi-VN")
        page = buyer.page
        page.goto(f"{live.base_url}/01/{gtin}/10/NR-2611")
        page.click("text=Mua ngay")
        page.fill("input[name=quantity]", "2")
        page.click("text=Thêm vào giỏ")
        assert "240.000 ₫" in page.inner_text("table")
        page.click("text=Đặt hàng")
        page.fill("#buyer_name", "Nguyễn Thị Mai")
        page.fill("#buyer_phone", "0903 123 456")
        page.select_option("#province_code", "79")
        page.wait_for_function("document.querySelectorAll('#ward_code option').length > 10")
        page.select_option("#ward_code", str(ward_code))
        page.wait_for_function("document.getElementById('quote-amount').textContent.includes('₫')", timeout=30_000)
        quoted = page.inner_text("#quote-amount")
        # Cash on delivery from Cần Thơ to Hồ Chí Minh City: the parts are named in Vietnamese and add up.
        parts = page.inner_text("#quote-items")
        assert "theo khối lượng" in parts and "thu hộ" in parts and "Thuế GTGT" in parts
        amounts = [int(a.replace(".", "")) for a in re.findall(r"([\d.]+) ₫", parts)]
        assert sum(amounts) == int(quoted.replace(".", "").replace(" ₫", ""))
        page.fill("#street", "12 Lê Lợi, khu phố 3")
        page.fill("#note", "Gọi trước khi giao")
        page.click("#checkout button[type=submit]")
        page.wait_for_selector(".order-ref")
        page.click(".track-link")
        assert page.get_attribute("#order-status", "data-status") == "placed"
        body = page.inner_text("main")
        assert ward_name in body and "Nguyễn Thị Mai" in body
        assert quoted in body  # the postage shown before placing is the one charged
        assert buyer.hosts() == {"127.0.0.1"} and buyer.errors == []
