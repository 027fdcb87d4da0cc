"""Journey 1 and 2, thin but real: harvest → signed record → QR → verified trace page → cash-on-
delivery order → quote and shipment job by the worker → e-mail to the cooperative → the post
delivers → the buyer sees 'delivered'. Everything over HTTP, with a real worker process."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import httpx
import pytest
import zxingcpp
from PIL import Image

from kernel import address
from shop.accounts.models import Role
from shop.accounts.services import AccountService
from shop.cooperatives.schemas import CooperativeCreate
from shop.cooperatives.services import CooperativeService
from kernel.db import unit_of_work
from tests.factories import csrf_token
from tests.live import wait_until
from traceability.services import key_service
from workers.postal.models import Partner

pytestmark = pytest.mark.e2e
PASSWORD = "mật khẩu đủ dài 2026"


def _setup_people(live) -> None:
    with live.app.app_context(), unit_of_work() as session:
        cooperatives = CooperativeService(session, key_service(session))
        cooperative = cooperatives.register(CooperativeCreate(
            name="HTX Nông nghiệp Lúa thơm Mỹ Xuyên", registration_no="2201M000999", province_code=92, ward_code=31684,
            address="Ấp Hòa Phuông, phường Mỹ Xuyên", phone="0912345601", email="st25@htx.example.vn"))
        cooperatives.approve(cooperative.id)
        partner = Partner(name="Bưu điện thành phố Cần Thơ", province_code=92, is_default=True)
        session.add(partner)
        session.flush()
        accounts = AccountService(session)
        accounts.create_user(username="clerk", password=PASSWORD, display_name="Chị Lan", role=Role.MEMBER,
                             cooperative_id=cooperative.id)
        accounts.create_user(username="postman", password=PASSWORD, display_name="Anh Tư", role=Role.PARTNER,
                             partner_id=partner.id)


def _login(client: httpx.Client, username: str) -> None:
    page = client.get("/login").text
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf_token(page)})
    assert response.status_code == 302, response.text


def _submit(client: httpx.Client, path: str, data: dict) -> httpx.Response:
    page = client.get(path).text
    return client.post(path, data={**data, "csrf_token": csrf_token(page)})


def test_harvest_to_delivered_parcel(live):
    _setup_people(live)
    live.start_worker()

    clerk = httpx.Client(base_url=live.base_url, timeout=20)
    buyer = httpx.Client(base_url=live.base_url, timeout=20)
    postman = httpx.Client(base_url=live.base_url, timeout=20)

    # 1. The cooperative clerk lists a product and records a harvest.
    _login(clerk, "clerk")
    response = _submit(clerk, "/htx/products/new", {
        "name": "Gạo ST25 túi 5 kg", "category": "rice", "sale_unit": "bag_5kg", "unit_weight_g": "5000", "price_vnd": "185000"})
    assert response.status_code == 303
    product_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    response = _submit(clerk, f"/htx/products/{product_id}/batches/new", {
        "lot": "ST25-2611", "harvest_date": (date.today() - timedelta(days=5)).isoformat(), "plot": "Ruộng số 7",
        "variety": "ST25", "cultivation_standard": "VietGAP", "quantity_kg": "1000"})
    assert response.status_code == 303
    batch_page = clerk.get(response.headers["Location"]).text

    # 2. Its QR code (PNG and SVG) carries the batch's GS1 Digital Link.
    png_path = re.search(r'id="qr-png" href="([^"]+)"', batch_page).group(1)
    svg_path = re.search(r'id="qr-svg" href="([^"]+)"', batch_page).group(1)
    png = clerk.get(png_path)
    assert png.headers["content-type"] == "image/png"
    decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))]
    assert len(decoded) == 1
    digital_link = decoded[0]
    assert re.fullmatch(re.escape(live.base_url) + r"/01/0893\d{10}/10/ST25-2611", digital_link)
    assert clerk.get(svg_path).text.lstrip().startswith("<")

    # 3. A consumer scans it: the trace page says the origin record is verified.
    trace = buyer.get(digital_link)
    assert trace.status_code == 200
    assert 'data-verified="true"' in trace.text
    assert "Ruộng số 7" in trace.text

    # 4. …and buys two bags, cash on delivery, to an address in Hồ Chí Minh City.
    product_page = buyer.get(f"/p/{product_id}").text
    batch_id = re.search(r'name="batch_id" value="(\d+)"', product_page).group(1)
    response = buyer.post("/cart/add", data={"batch_id": batch_id, "quantity": "2", "csrf_token": csrf_token(product_page)})
    assert response.status_code == 303
    checkout = buyer.get("/checkout").text
    ward_code, ward_name = address.wards(79)[0]
    response = buyer.post("/checkout", data={
        "csrf_token": csrf_token(checkout),
        "checkout_key": re.search(r'name="checkout_key" type="hidden" value="([^"]+)"', checkout).group(1),
        "buyer_name": "Nguyễn Thị Mai", "buyer_phone": "0903 123 456", "buyer_email": "mai@example.vn",
        "province_code": "79", "ward_code": str(ward_code), "street": "12 Lê Lợi", "note": "Gọi trước khi giao",
        "payment_method": "cod"})
    assert response.status_code == 303, response.text
    placed = buyer.get(response.headers["Location"]).text
    reference = re.search(r'class="order-ref">([^<]+)<', placed).group(1)
    track_path = re.search(r'class="track-link" href="([^"]+)"', placed).group(1)

    # 5. The worker quotes postage and creates the shipment job; the post office sees it.
    _login(postman, "postman")

    def shipment_row():
        page = postman.get("/post/").text
        return re.search(r'id="shipment-([A-Z]{2}\d{9}VN)"', page) if reference in page else None

    shipment_code = wait_until(shipment_row, message="the shipment job in the partner portal").group(1)
    portal = postman.get("/post/").text
    assert "Nguyễn Thị Mai" in portal and ward_name in portal
    assert "370.000 ₫" not in portal  # COD includes postage, so it is more than the goods alone

    # 6. The cooperative got an e-mail about the new order, in Vietnamese.
    mail = wait_until(lambda: [m for m in live.mail.messages if reference in m["Subject"]], message="the order e-mail")[0]
    assert mail["To"] == "st25@htx.example.vn"
    text_part = mail.get_body(preferencelist=("plain",)).get_content()
    assert "Gạo ST25 túi 5 kg" in text_part and "370.000 ₫" in text_part
    assert mail.get_body(preferencelist=("html",)) is not None

    tracking = buyer.get(track_path).text
    fee = re.search(r"Postage</th><td>([\d.]+) ₫|Phí vận chuyển</th><td>([\d.]+) ₫", tracking)
    assert fee, "the quoted postage shows on the order"

    # 7. The post picks the parcel up and delivers it; the buyer's page follows.
    for status in ("picked_up", "delivered"):
        page = postman.get("/post/").text
        response = postman.post(f"/post/shipments/{shipment_code}/status", data={"status": status, "csrf_token": csrf_token(page)})
        assert response.status_code == 303
    tracking = buyer.get(track_path).text
    assert 'data-status="delivered"' in tracking
    assert shipment_code in tracking

    # The buyer, who left an e-mail address, heard about the hand-over and the delivery.
    buyer_mail = wait_until(lambda: [m["Subject"] for m in live.mail.messages if m["To"] == "mai@example.vn"] if len(
        [m for m in live.mail.messages if m["To"] == "mai@example.vn"]) >= 2 else None, message="the buyer's e-mails")
    assert any("Đã giao hàng" in subject for subject in buyer_mail)

    # 8. The post office's own signatures are now in the batch's record, and it all still verifies.
    lot_path = digital_link.removeprefix(live.base_url)
    verification = buyer.get(f"/api/verify{lot_path}").json()
    assert verification["verified"] is True, verification["failures"]
    assert len(verification["credentials"]) == 3  # harvest, picked up (shipping), delivered (receiving)
