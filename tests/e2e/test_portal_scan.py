"""The post-office counter in Debian's Chromium: staff scan labels (a USB scanner types the code and
Enter into the focused input), each scan changes the shipment in the database through the partner
update path, repeats and backward moves are answered clearly, and the input stays focused for the
next parcel. Also the camera button, driven by a stand-in BarcodeDetector, and the page without
JavaScript."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from shop.accounts.models import Role
from shop.accounts.services import AccountService
from shop.catalog.schemas import BatchCreate, ProductCreate
from shop.catalog.services import CatalogService
from shop.cooperatives.schemas import CooperativeCreate
from shop.cooperatives.services import CooperativeService
from kernel.db import unit_of_work
from shop.orders.schemas import CartLine, CheckoutData
from shop.orders.services import OrderService
from shop.orders.tasks import prepare_shipment
from tests.e2e.browser import RecordingPage, chromium
from traceability.services import CredentialService, key_service
from workers.postal.models import Partner, Shipment

pytestmark = pytest.mark.e2e
PASSWORD = "quầy bưu điện 2026"


def _shipments(live, count: int) -> list[str]:
    """Orders from one cooperative, each handed to the post office as a shipment job."""
    with live.app.app_context(), unit_of_work() as session:
        keys = key_service(session)
        cooperatives = CooperativeService(session, keys)
        cooperative = cooperatives.register(CooperativeCreate(
            name="HTX Nông nghiệp Hòa Tú", registration_no="2201K000777", province_code=92, ward_code=31684,
            address="Ấp Hòa Tú 1", phone="0912345601"))
        cooperatives.approve(cooperative.id)
        partner = Partner(name="Bưu điện Cần Thơ", province_code=92, is_default=True)
        session.add(partner)
        session.flush()
        AccountService(session).create_user(username="quay1", password=PASSWORD, display_name="Chị Lan", role=Role.PARTNER,
                                            partner_id=partner.id)
        catalog = CatalogService(session, cooperative.id, alliance_gs1_prefix=live.app.config["GS1_COMPANY_PREFIX"],
                                 credentials=CredentialService(session, keys))
        product = catalog.create_product(ProductCreate(name="Gạo ST25 túi 5 kg", price_vnd=185_000, unit_weight_g=5000))
        batch = catalog.create_batch(product.id, BatchCreate(lot="ST-2611", harvest_date=date.today() - timedelta(days=5),
                                                             plot="Ruộng 1", quantity_kg=Decimal(500)))
        checkout = CheckoutData(buyer_name="Nguyễn Thị Mai", buyer_phone="0903123456", province_code=92, ward_code=31540,
                                street="12 Lê Lợi", payment_method="cod")
        order_ids = [OrderService(session).place(f"counter-{n}", [CartLine(batch_id=batch.id, quantity=1)], checkout)[0].id
                     for n in range(count)]
    with live.app.app_context():
        return [prepare_shipment.run(order_id) for order_id in order_ids]


def _status(live, code: str) -> str:
    with live.app.app_context(), unit_of_work() as session:
        return session.exec(select(Shipment.status).where(Shipment.code == code)).one()


def _cod_due(live, code: str) -> int:
    with live.app.app_context(), unit_of_work() as session:
        return session.exec(select(Shipment.cod_amount_vnd).where(Shipment.code == code)).one()


def _log_in(page, base_url: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#username", "quay1")
    page.fill("#password", PASSWORD)
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"{base_url}/post/**")


def _scan(page, code: str) -> str:
    """Type like a keyboard-wedge scanner into whatever has the focus, and wait for the answer."""
    before = page.locator("#scan-log li").count()
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.querySelectorAll('#scan-log li').length > {before}")
    return page.get_attribute("#scan-result", "data-outcome")


def test_counter_staff_scan_labels_and_shipments_move(live):
    first, second = _shipments(live, 2)
    with chromium() as browser:
        counter = RecordingPage(browser, locale="vi-VN")
        page = counter.page
        _log_in(page, live.base_url)
        page.goto(f"{live.base_url}/post/scan")
        assert page.evaluate("document.activeElement.id") == "scan-code"
        assert page.is_hidden("#amount-field")  # only asked for when recording cash

        page.select_option("#scan-status", "picked_up")
        assert _scan(page, first) == "updated"
        assert "đã cập nhật" in page.inner_text("#scan-result") and first in page.inner_text("#scan-result")
        assert _status(live, first) == "picked_up"
        assert page.evaluate("document.activeElement.id") == "scan-code"  # ready for the next parcel
        assert page.input_value("#scan-code") == ""

        assert _scan(page, first) == "already"  # the same label scanned twice
        assert "không có gì thay đổi" in page.inner_text("#scan-result")
        assert _scan(page, second.lower()) == "updated"
        assert _status(live, second) == "picked_up"

        page.select_option("#scan-status", "delivered")
        assert page.evaluate("document.activeElement.id") == "scan-code"
        assert _scan(page, first) == "updated"
        assert _status(live, first) == "delivered"

        page.select_option("#scan-status", "in_transit")
        assert _scan(page, first) == "refused"
        assert "bị từ chối" in page.inner_text("#scan-result")
        assert "bad" in page.get_attribute("#scan-result", "class")
        assert _status(live, first) == "delivered"

        assert _scan(page, "EN000000005VN") == "unknown"
        assert "EN000000005VN" in page.inner_text("#scan-result")

        # Cash at the counter: the amount field appears and is asked for first.
        page.select_option("#scan-status", "cod_collected")
        assert page.is_visible("#amount-field")
        page.fill("#scan-amount", "385.000")
        page.press("#scan-amount", "Enter")  # Enter after the amount moves on to the code
        assert page.evaluate("document.activeElement.id") == "scan-code"
        # Not what the shipment asks for: refused, naming the sum due, until the clerk confirms it.
        assert _scan(page, first) == "invalid"
        due = _cod_due(live, first)
        assert f"{due:,}".replace(",", ".") + " ₫" in page.inner_text("#scan-result")
        page.fill("#scan-amount", "385.000")
        page.check("#scan-amount-confirmed")
        page.focus("#scan-code")
        assert _scan(page, first) == "updated"
        assert "385.000 ₫" in page.inner_text("#scan-result")
        assert not page.is_checked("#scan-amount-confirmed")  # confirmed for that one parcel only

        # A burst: the scanner fires the next label before the last answer is back; both are applied in order.
        page.select_option("#scan-status", "out_for_delivery")
        page.keyboard.type(second)
        page.keyboard.press("Enter")
        page.keyboard.type(second)
        page.keyboard.press("Enter")
        page.wait_for_function("document.querySelectorAll('#scan-log li').length >= 10")
        outcomes = page.eval_on_selector_all("#scan-log li", "items => items.slice(0, 2).map(i => i.dataset.outcome)")
        assert outcomes == ["already", "updated"]  # newest first
        assert _status(live, second) == "out_for_delivery"

        assert page.inner_text("#tally-ok") == "5" and page.inner_text("#tally-same") == "2"
        assert page.inner_text("#tally-bad") == "3"
        assert page.locator("#scan-log li").count() == 10
        assert counter.hosts() == {"127.0.0.1"} and counter.errors == []
        counter.close()


# A stand-in for the browser's BarcodeDetector and camera (Chromium on Linux has neither): the
# camera is a canvas stream and the detector "sees" the codes the test puts in front of it.
FAKE_CAMERA = """
window.__codesInView = [];
window.BarcodeDetector = class {
  constructor(options) { window.__detectorFormats = options.formats; }
  static getSupportedFormats() { return Promise.resolve(["code_128", "qr_code", "ean_13"]); }
  detect() { return Promise.resolve(window.__codesInView.map(function (c) { return {rawValue: c, format: "qr_code"}; })); }
};
navigator.mediaDevices.getUserMedia = function () {
  var canvas = document.createElement("canvas");
  canvas.width = 64; canvas.height = 64;
  canvas.getContext("2d").fillRect(0, 0, 64, 64);
  return Promise.resolve(canvas.captureStream(5));
};
"""


def test_camera_button_scans_once_per_label_in_view(live):
    (code,) = _shipments(live, 1)
    with chromium() as browser:
        counter = RecordingPage(browser, locale="en-US")
        page = counter.page
        page.add_init_script(FAKE_CAMERA)
        _log_in(page, live.base_url)
        page.goto(f"{live.base_url}/post/scan")
        page.select_option("#scan-status", "picked_up")
        page.click("#scan-camera")
        page.wait_for_selector("#scan-video", state="visible")
        assert page.evaluate("window.__detectorFormats") == ["code_128", "qr_code"]
        page.evaluate(f"window.__codesInView = ['{code}']")
        page.wait_for_function("document.querySelectorAll('#scan-log li').length >= 1")
        assert page.get_attribute("#scan-result", "data-outcome") == "updated"
        assert "updated, now Picked up" in page.inner_text("#scan-result")
        page.wait_for_timeout(1500)  # the label stays in view: it is not sent again and again
        assert page.locator("#scan-log li").count() == 1
        page.click("#scan-camera")  # stop
        assert page.is_hidden("#scan-video")
        assert _status(live, code) == "picked_up"
        assert counter.errors == []
        counter.close()


def test_counter_works_without_javascript(live):
    (code,) = _shipments(live, 1)
    with chromium() as browser:
        context = browser.new_context(locale="vi-VN", java_script_enabled=False)
        page = context.new_page()
        _log_in(page, live.base_url)
        page.goto(f"{live.base_url}/post/scan")
        assert page.is_visible("#amount-field") and not page.is_visible("#scan-camera")
        page.select_option("#scan-status", "picked_up")
        page.fill("#scan-code", code)
        page.press("#scan-code", "Enter")
        page.wait_for_url("**/post/scan?status=picked_up&done=1")
        assert page.get_attribute("#scan-result", "data-outcome") == "updated"
        assert _status(live, code) == "picked_up"
        assert page.input_value("#scan-status") == "picked_up"
        context.close()
