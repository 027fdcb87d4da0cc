"""What a person sees, in Debian's Chromium: the scan page in both languages, and the label sheet
progress bar running to 100 % with the PDF offered at the end (a real worker renders it)."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader

from shop.accounts.models import Role
from shop.accounts.services import AccountService
from shop.catalog.schemas import BatchCreate, ProductCreate
from shop.catalog.services import CatalogService
from shop.cooperatives.schemas import CooperativeCreate
from shop.cooperatives.services import CooperativeService
from kernel.db import unit_of_work
from tests.e2e.browser import RecordingPage, chromium
from traceability.services import CredentialService, key_service

pytestmark = pytest.mark.e2e
PASSWORD = "mật khẩu đủ dài 2026"


def _world(live):
    with live.app.app_context(), unit_of_work() as session:
        keys = key_service(session)
        cooperatives = CooperativeService(session, keys)
        cooperative = cooperatives.register(CooperativeCreate(
            name="HTX Hành tím Vĩnh Châu", registration_no="2201V000777", province_code=92, ward_code=31783,
            address="Khóm Wathpich", phone="0912345602"))
        cooperatives.approve(cooperative.id)
        AccountService(session).create_user(username="inlabel", password=PASSWORD, display_name="Chị Hành",
                                            role=Role.MEMBER, cooperative_id=cooperative.id)
        catalog = CatalogService(session, cooperative.id, alliance_gs1_prefix=live.app.config["GS1_COMPANY_PREFIX"],
                                 credentials=CredentialService(session, keys))
        product = catalog.create_product(ProductCreate(name="Hành tím Vĩnh Châu 1 kg", price_vnd=45_000, unit_weight_g=1000))
        batch = catalog.create_batch(product.id, BatchCreate(lot="HT-2611", harvest_date=date.today() - timedelta(days=2),
                                                             plot="Giồng cát khóm Wathpich", quantity_kg=Decimal("800")))
        return product.gtin, batch.id


def test_scan_page_in_vietnamese_and_english(live):
    gtin, _batch_id = _world(live)
    url = f"{live.base_url}/01/{gtin}/10/HT-2611"
    with chromium() as browser:
        visitor = RecordingPage(browser, locale="vi-VN")
        visitor.page.goto(url)
        assert visitor.page.get_attribute("html", "lang") == "vi"
        assert "Thu hoạch" in visitor.page.inner_text("ol.timeline")
        assert visitor.page.get_attribute("#verification", "data-verified") == "true"
        assert visitor.page.is_visible("text=Mua ngay")
        visitor.page.click("text=English")
        assert visitor.page.get_attribute("html", "lang") == "en"
        assert "Harvest" in visitor.page.inner_text("ol.timeline")
        assert visitor.page.is_visible("text=Buy now")
        assert visitor.hosts() == {"127.0.0.1"}, visitor.requests
        assert visitor.errors == []
        english = RecordingPage(browser, locale="en-US")
        english.page.goto(url)
        assert english.page.get_attribute("html", "lang") == "en"


def test_label_sheet_progress_reaches_100_and_the_pdf_downloads(live):
    gtin, batch_id = _world(live)
    live.start_worker(beat=False)
    with chromium() as browser:
        clerk = RecordingPage(browser)
        page = clerk.page
        page.goto(f"{live.base_url}/login")
        page.fill("#username", "inlabel")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{live.base_url}/htx/batches/{batch_id}/labels")
        page.select_option("#preset", "a4-4x10")
        page.fill("#count", "400")
        page.check("input[name=serialised]")
        page.click("#labels-form button[type=submit]")
        page.wait_for_selector("#label-download:not([hidden])", timeout=90_000)
        assert page.get_attribute("#label-progress", "value") == "100"
        assert page.inner_text("#label-percent") == "100"
        with page.expect_download() as download_info:
            page.click("#label-download")
        pdf = PdfReader(io.BytesIO(open(download_info.value.path(), "rb").read()))
        assert len(pdf.pages) == 10  # 400 labels, 40 a page
        assert f"(01){gtin}(10)HT-2611(21)000001" in pdf.pages[0].extract_text()
        assert clerk.hosts() == {"127.0.0.1"}


def test_application_form_lists_the_communes_of_the_chosen_province(live):
    """The shared province → commune picker (wards.js) on the cooperative application form."""
    from kernel import address

    with chromium() as browser:
        visitor = RecordingPage(browser, locale="vi-VN")
        page = visitor.page
        page.goto(f"{live.base_url}/apply")
        page.select_option("#province_code", "92")
        page.wait_for_function("document.querySelectorAll('#ward_code option').length > 10")
        shown = page.eval_on_selector_all("#ward_code option", "options => options.map(o => o.textContent)")
        assert set(shown[1:]) == {name for _code, name in address.wards(92)}
        assert visitor.errors == []
