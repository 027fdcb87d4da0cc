"""The partner portal for post-office staff: pick-ups grouped by commune/ward and cooperative,
accepting jobs, shipping labels decoded the way a scanner reads them, and the scan counter
(plain form posts and the JSON answers the page's script uses)."""

from __future__ import annotations

import io
import re
import unicodedata
import uuid

import pypdf
import pypdfium2
import pytest
import zxingcpp
from flask import g
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from kernel import address
from shop.accounts.models import Role
from shop.orders.schemas import CartLine
from shop.orders.services import OrderService
from shop.orders.tasks import prepare_shipment
from tests.factories import csrf_token, login
from tests.shop.test_orders import _checkout
from workers.postal.labels import SIZES
from workers.postal.models import Partner, PartnerUpdate, Shipment, ShipmentStatus, ShipmentStatusChange

# Two cooperatives in two communes of Cần Thơ (92), and a third one sharing the first's commune.
HOA_TU, THOI_AN_HOI = 31684, 31540


def _ship_all(app, session, wanted: dict[str, list[tuple]]) -> dict[str, list[Shipment]]:
    """Place every order first, then let the shipment task (its own unit of work) make the jobs."""
    orders: dict[str, list] = {}
    for name, items in wanted.items():
        for batch, quantity, checkout in items:
            with app.app_context():
                # Whatever place() reaches through get_session() must use this test's session, not a
                # second one whose savepoint the first would release under it.
                g.db_session = session
                orders.setdefault(name, []).append(OrderService(session).place(
                    f"portal-{uuid.uuid4().hex}", [CartLine(batch_id=batch.id, quantity=quantity)], _checkout(**checkout))[0])
                g.pop("db_session")
    session.commit()
    with app.app_context():
        codes = {name: [prepare_shipment.run(order.id) for order in placed] for name, placed in orders.items()}
    return {name: [session.exec(select(Shipment).where(Shipment.code == code)).one() for code in found]
            for name, found in codes.items()}


@pytest.fixture
def post(app, factory, session):
    """A partner with staff, three pick-up groups and another partner with its own staff."""
    partner = factory.partner()
    rice = factory.cooperative(name="HTX Nông nghiệp Hòa Tú", ward_code=HOA_TU)
    shallots = factory.cooperative(name="HTX Hành tím Hòa Tú", ward_code=HOA_TU)
    pomelo = factory.cooperative(name="HTX Cây ăn trái Thới An Hội", ward_code=THOI_AN_HOI)
    batches = {c.id: factory.batch(c, factory.product(c)) for c in (rice, shallots, pomelo)}
    shipments = _ship_all(app, session, {
        "rice": [(batches[rice.id], 1, {}), (batches[rice.id], 2, {})],
        "shallots": [(batches[shallots.id], 1, {})],
        "pomelo": [(batches[pomelo.id], 1, {"buyer_name": "Trần Văn Bình"})],
    })
    factory.user(Role.PARTNER, partner_id=partner.id, username="counter1")
    other = Partner(name="Bưu cục khác", province_code=79)
    session.add(other)
    session.flush()
    factory.user(Role.PARTNER, partner_id=other.id, username="stranger")
    session.commit()
    return {"partner": partner, "cooperatives": {"rice": rice, "shallots": shallots, "pomelo": pomelo}, "shipments": shipments}


def _status(session, code: str) -> str:
    session.expire_all()
    return session.exec(select(Shipment.status).where(Shipment.code == code)).one()


def _token(client, path: str = "/post/") -> str:
    return csrf_token(client.get(path).get_data(as_text=True))


# ---------------------------------------------------------------------------------------------
# Pick-ups grouped by commune/ward and cooperative
# ---------------------------------------------------------------------------------------------


def _group_cards(html: str) -> dict[str, tuple[int, int]]:
    return {m.group(1): (int(m.group(2)), int(m.group(3))) for m in re.finditer(
        r'id="group-(\d+-\d+)" data-count="(\d+)" data-cod="(\d+)"', html)}


def test_pickups_are_grouped_by_commune_and_cooperative_with_counts_and_cod_totals(client, post):
    login(client, "counter1")
    html = client.get("/post/").get_data(as_text=True)
    rice, shallots, pomelo = (post["cooperatives"][k] for k in ("rice", "shallots", "pomelo"))
    cards = _group_cards(html)
    expected = {
        f"{rice.id}-{HOA_TU}": (2, sum(s.cod_amount_vnd for s in post["shipments"]["rice"])),
        f"{shallots.id}-{HOA_TU}": (1, post["shipments"]["shallots"][0].cod_amount_vnd),
        f"{pomelo.id}-{THOI_AN_HOI}": (1, post["shipments"]["pomelo"][0].cod_amount_vnd),
    }
    assert cards == expected
    assert all(isinstance(cod, int) and cod > 0 for _count, cod in cards.values())
    # Communes by their 2025 names, each section holding its cooperatives.
    hoa_tu = html.index(f'id="ward-{HOA_TU}"')
    thoi_an_hoi = html.index(f'id="ward-{THOI_AN_HOI}"')
    assert address.ward_name(HOA_TU) in html and address.ward_name(THOI_AN_HOI) in html
    section = html[hoa_tu:thoi_an_hoi] if hoa_tu < thoi_an_hoi else html[hoa_tu:]
    assert f'id="group-{rice.id}-{HOA_TU}"' in section and f'id="group-{shallots.id}-{HOA_TU}"' in section
    for shipment in post["shipments"]["rice"]:
        assert f'id="shipment-{shipment.code}"' in html
    total = sum(cod for _count, cod in expected.values())
    assert f"{total:,}".replace(",", ".") + " ₫" in html


def test_status_filter_narrows_groups(app, client, session, post):
    code = post["shipments"]["pomelo"][0].code
    with app.app_context():
        from workers.postal.services import ShipmentService
        ShipmentService(session).update_status(post["partner"].id, code, "picked_up", actor="test")
    session.commit()
    login(client, "counter1")
    open_pickups = client.get("/post/").get_data(as_text=True)
    assert code not in open_pickups  # the default list is what is still to pick up
    picked = client.get("/post/?status=picked_up").get_data(as_text=True)
    assert code in picked and post["shipments"]["rice"][0].code not in picked
    assert code in client.get("/post/?status=all").get_data(as_text=True)
    assert client.get("/post/?status=nonsense").status_code == 200  # unknown filter: the default list


def test_another_partner_sees_nothing_and_gets_404_on_direct_urls(client, session, post):
    login(client, "stranger")
    html = client.get("/post/").get_data(as_text=True)
    rice = post["cooperatives"]["rice"]
    code = post["shipments"]["rice"][0].code
    assert code not in html and "pickup-group" not in html
    token = csrf_token(html)
    assert client.get(f"/post/pickups/{rice.id}/{HOA_TU}").status_code == 404
    assert client.get(f"/post/pickups/{rice.id}/{HOA_TU}/labels.pdf").status_code == 404
    assert client.get(f"/post/shipments/{code}/label.pdf").status_code == 404
    assert client.get(f"/post/shipments/{code}").status_code == 404
    assert client.post(f"/post/shipments/{code}/accept", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/post/pickups/{rice.id}/{HOA_TU}/accept", data={"csrf_token": token}).status_code == 404
    scan = client.post("/post/scan", data={"csrf_token": token, "code": code, "status": "picked_up", "scan_id": "a1"},
                       headers={"Accept": "application/json"})
    assert scan.status_code == 404 and scan.get_json()["outcome"] == "unknown"
    assert _status(session, code) == ShipmentStatus.AWAITING_PICKUP


def test_portal_needs_a_partner_login(client, factory, post):
    assert client.get("/post/").status_code == 302
    assert client.get("/post/scan").status_code == 302
    factory.user(Role.MEMBER, cooperative_id=post["cooperatives"]["rice"].id, username="farmer")
    login(client, "farmer")
    assert client.get("/post/").status_code == 403
    assert client.get(f"/post/shipments/{post['shipments']['rice'][0].code}/label.pdf").status_code == 403


def test_group_page_lists_the_whole_group(client, post):
    login(client, "counter1")
    rice = post["cooperatives"]["rice"]
    html = client.get(f"/post/pickups/{rice.id}/{HOA_TU}").get_data(as_text=True)
    assert all(s.code in html for s in post["shipments"]["rice"])
    assert post["shipments"]["shallots"][0].code not in html


# ---------------------------------------------------------------------------------------------
# Accepting jobs
# ---------------------------------------------------------------------------------------------


def test_accepting_one_job_is_idempotent_and_shared_with_the_partner_api(client, session, post):
    login(client, "counter1")
    code = post["shipments"]["shallots"][0].code
    first = client.post(f"/post/shipments/{code}/accept", data={"csrf_token": _token(client)})
    assert first.status_code == 303
    assert _status(session, code) == ShipmentStatus.ACCEPTED
    again = client.post(f"/post/shipments/{code}/accept", data={"csrf_token": _token(client)})
    assert again.status_code == 303
    changes = session.exec(select(ShipmentStatusChange).join(Shipment, Shipment.id == ShipmentStatusChange.shipment_id)
                           .where(Shipment.code == code, ShipmentStatusChange.to_status == "accepted")).all()
    assert len(changes) == 1 and changes[0].actor.startswith("portal:")
    # The same update id as the API's accept: one update, whichever side sent it.
    updates = session.exec(select(PartnerUpdate).where(PartnerUpdate.shipment_code == code)).all()
    assert [u.update_id for u in updates] == [f"accept:{code}"]


def test_accept_all_of_a_pickup_group_accepts_only_that_group_once(client, session, post):
    login(client, "counter1")
    rice = post["cooperatives"]["rice"]
    response = client.post(f"/post/pickups/{rice.id}/{HOA_TU}/accept", data={"csrf_token": _token(client), "next": "/post/?status=all"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/post/?status=all")
    assert [_status(session, s.code) for s in post["shipments"]["rice"]] == ["accepted", "accepted"]
    assert _status(session, post["shipments"]["shallots"][0].code) == "awaiting_pickup"  # same commune, other cooperative
    page = client.get("/post/?status=all").get_data(as_text=True)
    assert "Đã chấp nhận 2 trên 2 bưu gửi" in page  # Vietnamese unless the reader chose English
    again = client.post(f"/post/pickups/{rice.id}/{HOA_TU}/accept", data={"csrf_token": _token(client)})
    assert again.status_code == 303
    assert "Đã chấp nhận 0 trên 2 bưu gửi" in client.get("/post/").get_data(as_text=True)
    count = session.exec(select(ShipmentStatusChange).where(ShipmentStatusChange.to_status == "accepted")).all()
    assert len(count) == 2


def test_accept_without_csrf_token_is_refused(client, session, post):
    login(client, "counter1")
    code = post["shipments"]["shallots"][0].code
    assert client.post(f"/post/shipments/{code}/accept").status_code == 400
    assert _status(session, code) == "awaiting_pickup"


# ---------------------------------------------------------------------------------------------
# Shipping labels: read back as a printer and a scanner would
# ---------------------------------------------------------------------------------------------


def _decode(pdf: bytes, page: int, dpi: int = 203) -> dict[str, str]:
    document = pypdfium2.PdfDocument(pdf)
    try:
        image = document[page].render(scale=dpi / 72, grayscale=True).to_pil()
    finally:
        document.close()
    return {r.format.name: r.text for r in zxingcpp.read_barcodes(
        image, formats=[zxingcpp.BarcodeFormat.Code128, zxingcpp.BarcodeFormat.QRCode])}


def _flat(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.split()))


@pytest.mark.parametrize(("size", "width_mm", "height_mm"), [("thermal", 100, 150), ("a6", 105, 148)])
def test_label_pdf_has_both_codes_addresses_phone_weight_and_cod(client, post, size, width_mm, height_mm):
    login(client, "counter1")
    shipment = post["shipments"]["rice"][1]
    response = client.get(f"/post/shipments/{shipment.code}/label.pdf?size={size}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pdf = response.data
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (width_mm, height_mm)
    text = _flat(reader.pages[0].extract_text())
    for expected in ("HTX Nông nghiệp Hòa Tú", address.ward_name(HOA_TU), "0912345678",  # sender and its phone
                     "Nguyễn Thị Mai", "0903123456", address.ward_name(shipment.recipient_ward_code),
                     f"{shipment.cod_amount_vnd:,}".replace(",", ".") + " ₫", shipment.order_reference):
        assert _flat(expected) in text, expected
    assert re.search(r"Khối lượng: \d+(,\d+)? (kg|g)", text)
    assert _decode(pdf, 0) == {"Code128": shipment.code, "QRCode": shipment.code}


def test_group_label_batch_prints_one_decodable_label_per_shipment(client, post):
    login(client, "counter1")
    rice = post["cooperatives"]["rice"]
    response = client.get(f"/post/pickups/{rice.id}/{HOA_TU}/labels.pdf?size=a6")
    assert response.status_code == 200
    pages = len(pypdf.PdfReader(io.BytesIO(response.data)).pages)
    assert pages == 2
    decoded = [_decode(response.data, page) for page in range(pages)]
    assert decoded == [{"Code128": s.code, "QRCode": s.code} for s in post["shipments"]["rice"]]


def test_label_size_must_be_known(client, post):
    login(client, "counter1")
    code = post["shipments"]["rice"][0].code
    response = client.get(f"/post/shipments/{code}/label.pdf?size=a4", headers={"Accept": "application/json"})
    assert response.status_code == 400 and response.get_json()["field"] == "size"
    assert set(SIZES) == {"thermal", "a6"}


def test_label_without_cod_says_no_cash(app, session, factory):
    from datetime import UTC, datetime

    from workers.postal.labels import ShippingLabel, render_labels

    label = ShippingLabel(code="EN473124829VN", order_reference="NS-1", partner_name="Bưu điện", sender_name="HTX A",
                          sender_address="Ấp 1", sender_phone="", recipient_name="Lê Thị Ánh", recipient_phone="0912000111",
                          recipient_address="Số 1 " + "đường rất dài " * 30, weight_g=350, cod_amount_vnd=0,
                          note="Hàng dễ vỡ " * 40, created_at=datetime.now(UTC))
    pdf = render_labels([label], "thermal")
    text = _flat(pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text())
    assert "Không thu tiền" in text and "350 g" in text
    assert _decode(pdf, 0) == {"Code128": "EN473124829VN", "QRCode": "EN473124829VN"}
    with pytest.raises(ValueError):
        render_labels([], "thermal")


# ---------------------------------------------------------------------------------------------
# Scan to update
# ---------------------------------------------------------------------------------------------


def _scan(client, code: str, status: str, *, scan_id: str | None = None, amount: str = "", json: bool = True,
          confirmed: bool = False):
    page = client.get("/post/scan").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page), "code": code, "status": status, "amount_vnd": amount,
            "scan_id": scan_id or uuid.uuid4().hex[:16]}
    if confirmed:
        data["amount_confirmed"] = "1"
    headers = {"Accept": "application/json"} if json else {}
    return client.post("/post/scan", data=data, headers=headers)


def test_scans_update_repeat_harmlessly_and_never_move_backwards(client, session, post):
    login(client, "counter1")
    code = post["shipments"]["pomelo"][0].code
    first = _scan(client, code.lower() + " ", "picked_up")  # scanners and typists are not always tidy
    assert first.status_code == 200
    body = first.get_json()
    assert body["outcome"] == "updated" and body["kind"] == "ok" and body["code"] == code
    assert body["recipient"] == "Trần Văn Bình" and body["current_status"] == "picked_up"
    assert _status(session, code) == "picked_up"

    again = _scan(client, code, "picked_up").get_json()
    assert again["outcome"] == "already" and _status(session, code) == "picked_up"

    forward = _scan(client, code, "delivered").get_json()  # skipped steps are walked, as in the API
    assert forward["outcome"] == "updated" and _status(session, code) == "delivered"

    backwards = _scan(client, code, "in_transit")
    assert backwards.status_code == 200 and backwards.get_json()["outcome"] == "refused"
    assert backwards.get_json()["kind"] == "bad" and _status(session, code) == "delivered"

    unknown = _scan(client, "EN000000005VN", "picked_up")
    assert unknown.status_code == 404 and unknown.get_json()["outcome"] == "unknown"
    assert unknown.get_json()["tally"] == {"ok": 2, "same": 1, "bad": 2}


def test_the_same_scan_sent_twice_is_applied_once(client, session, post):
    login(client, "counter1")
    code = post["shipments"]["pomelo"][0].code
    for expected in ("updated", "already"):  # a retry after a lost answer carries the same scan id
        assert _scan(client, code, "picked_up", scan_id="retry0001").get_json()["outcome"] == expected
    # A second delivery attempt is a real change even though the status was reached before.
    for status in ("out_for_delivery", "delivery_failed", "out_for_delivery"):
        assert _scan(client, code, status).get_json()["outcome"] == "updated"
    history = session.exec(select(ShipmentStatusChange.to_status).join(Shipment, Shipment.id == ShipmentStatusChange.shipment_id)
                           .where(Shipment.code == code).order_by(ShipmentStatusChange.id)).all()
    assert history == ["awaiting_pickup", "picked_up", "out_for_delivery", "delivery_failed", "out_for_delivery"]


def test_cash_collected_needs_an_amount_and_is_recorded_once(client, session, post):
    login(client, "counter1")
    shipment = post["shipments"]["shallots"][0]
    missing = _scan(client, shipment.code, "cod_collected")
    assert missing.status_code == 400 and missing.get_json()["field"] == "amount_vnd"
    bad = _scan(client, shipment.code, "cod_collected", amount="hai trăm")
    assert bad.status_code == 400 and bad.get_json()["field"] == "amount_vnd"
    typed = f"{shipment.cod_amount_vnd:,}".replace(",", ".") + " ₫"
    first = _scan(client, shipment.code, "cod_collected", amount=typed).get_json()
    assert first["outcome"] == "updated" and typed in first["message"]
    second = _scan(client, shipment.code, "cod_collected", amount="999000").get_json()
    assert second["outcome"] == "already"
    session.expire_all()
    assert session.exec(select(Shipment.cod_collected_vnd).where(Shipment.code == shipment.code)).one() == shipment.cod_amount_vnd


def test_counter_cash_must_match_the_cod_due_unless_the_clerk_confirms_it(client, session, post):
    login(client, "counter1")
    shipment = post["shipments"]["rice"][0]
    due = shipment.cod_amount_vnd
    short = _scan(client, shipment.code, "cod_collected", amount=str(due - 1000))
    assert short.status_code == 400 and short.get_json()["field"] == "amount_vnd"
    assert f"{due:,}".replace(",", ".") in short.get_json()["message"]  # the clerk sees what is due
    session.expire_all()
    assert session.exec(select(Shipment.cod_collected_at).where(Shipment.code == shipment.code)).one() is None
    confirmed = _scan(client, shipment.code, "cod_collected", amount=str(due - 1000), confirmed=True)
    assert confirmed.get_json()["outcome"] == "updated"
    session.expire_all()
    assert session.exec(select(Shipment.cod_collected_vnd).where(Shipment.code == shipment.code)).one() == due - 1000


def test_counter_refuses_cash_for_a_shipment_without_cod(client, session, post):
    shipment = post["shipments"]["pomelo"][0]
    shipment.cod_amount_vnd = 0
    session.add(shipment)
    session.commit()
    login(client, "counter1")
    refused = _scan(client, shipment.code, "cod_collected", amount="50000", confirmed=True)
    assert refused.status_code == 400 and refused.get_json()["field"] == "amount_vnd"
    session.expire_all()
    assert session.exec(select(Shipment.cod_collected_at).where(Shipment.code == shipment.code)).one() is None


def _session_cookie(app, client) -> dict:
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    return app.session_interface.get_signing_serializer(app).loads(cookie.value) if cookie else {}


def test_the_next_person_at_the_counter_sees_none_of_the_last_ones_scans(app, client, session, post):
    login(client, "counter1")
    shipment = post["shipments"]["pomelo"][0]
    _scan(client, shipment.code, "picked_up")
    _scan(client, shipment.code, "cod_collected", amount=str(shipment.cod_amount_vnd))
    page = client.get("/post/scan").get_data(as_text=True)
    assert f'data-code="{shipment.code}"' in page and "Trần Văn Bình" in page  # shown, read from the database
    # The session cookie is signed, not encrypted: no names or amounts in it.
    stored = str(_session_cookie(app, client))
    assert "Trần Văn Bình" not in stored and str(shipment.cod_amount_vnd) not in stored
    assert f"{shipment.cod_amount_vnd:,}".replace(",", ".") not in stored
    client.post("/logout", data={"csrf_token": csrf_token(page)})
    assert "portal_scans" not in _session_cookie(app, client)
    login(client, "stranger")  # another partner's clerk on the same browser
    page = client.get("/post/scan").get_data(as_text=True)
    assert shipment.code not in page and "Trần Văn Bình" not in page
    assert 'id="tally-ok">0<' in page


def test_old_status_form_names_statuses_and_keeps_a_partner_update(client, session, post):
    login(client, "counter1")
    code = post["shipments"]["rice"][1].code
    page = client.get("/post/").get_data(as_text=True)
    response = client.post(f"/post/shipments/{code}/status", data={"status": "delivered", "csrf_token": csrf_token(page)})
    assert response.status_code == 303 and _status(session, code) == "delivered"
    assert session.exec(select(PartnerUpdate).where(PartnerUpdate.shipment_code == code,
                                                    PartnerUpdate.status == "delivered")).first().applied
    client.set_cookie("lang", "en")
    client.post(f"/post/shipments/{code}/status", data={"status": "picked_up", "csrf_token": csrf_token(page)})
    flashed = client.get("/post/").get_data(as_text=True)
    assert "cannot go from Delivered to Picked up" in flashed and "from delivered to picked_up" not in flashed
    assert _status(session, code) == "delivered"


def test_scan_messages_come_in_vietnamese_and_english(client, post):
    login(client, "counter1")
    code = post["shipments"]["pomelo"][0].code
    client.set_cookie("lang", "en")
    english = _scan(client, code, "picked_up").get_json()["message"]
    assert english == f"{code}: updated, now Picked up."
    client.set_cookie("lang", "vi")
    vietnamese = _scan(client, code, "picked_up").get_json()["message"]
    assert vietnamese == f"{code}: đã ở trạng thái này (Đã lấy hàng); không có gì thay đổi."
    unknown = _scan(client, "XX1", "picked_up").get_json()["message"]
    assert "XX1" in unknown and unknown != english


def test_scan_bad_input_names_the_field(client, post):
    login(client, "counter1")
    code = post["shipments"]["pomelo"][0].code
    assert _scan(client, "", "picked_up").get_json()["field"] == "code"
    assert _scan(client, code, "teleported").get_json()["field"] == "status"
    assert _scan(client, code, "accepted").get_json()["field"] == "status"
    assert _scan(client, code, "picked_up", scan_id="bad id!").get_json()["field"] == "scan_id"
    assert _scan(client, "EN" + "9" * 200, "picked_up").get_json()["outcome"] == "unknown"
    # Whatever is left in the cash box does not matter when no cash is being recorded.
    assert _scan(client, code, "picked_up", amount="abc").get_json()["outcome"] == "updated"


def test_shipment_page_shows_the_history_of_its_scans(client, post):
    login(client, "counter1")
    code = post["shipments"]["pomelo"][0].code
    _scan(client, code, "in_transit")  # picked up on the way: both steps are in the history
    html = client.get(f"/post/shipments/{code}").get_data(as_text=True)
    assert re.findall(r'<li data-status="(\w+)"', html) == ["awaiting_pickup", "picked_up", "in_transit"]
    assert 'id="shipment-status" data-status="in_transit"' in html and "Trần Văn Bình" in html


def test_scan_without_javascript_posts_the_form_and_shows_the_result(client, session, post):
    login(client, "counter1")
    code = post["shipments"]["rice"][0].code
    response = _scan(client, code, "picked_up", json=False)
    assert response.status_code == 303
    assert "/post/scan" in response.headers["Location"] and "status=picked_up" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert _status(session, code) == "picked_up"
    result = re.search(r'id="scan-result" class="scan-result (\w+)"[^>]*data-outcome="(\w+)">([^<]+)<', page)
    assert result and result.group(1) == "ok" and result.group(2) == "updated" and code in result.group(3)
    assert re.search(r'<option value="picked_up" selected', page)  # the chosen status stays for the next parcel
    assert 'autofocus' in page and 'name="csrf_token"' in page
    assert f'data-code="{code}"' in page  # the log of last scans
    # A reload of the result page sends nothing again; a missing CSRF token is refused.
    assert client.post("/post/scan", data={"code": code, "status": "delivered", "scan_id": "x1"}).status_code == 400
    assert _status(session, code) == "picked_up"


def test_batch_print_refuses_more_labels_than_one_pdf_holds(client, post, monkeypatch):
    from workers.postal import views

    monkeypatch.setattr(views, "MAX_LABELS_PER_PDF", 1)
    login(client, "counter1")
    rice = post["cooperatives"]["rice"]
    response = client.get(f"/post/pickups/{rice.id}/{HOA_TU}/labels.pdf", headers={"Accept": "application/json"})
    assert response.status_code == 400 and response.get_json()["field"] == "status"
    shallots = post["cooperatives"]["shallots"]
    assert client.get(f"/post/pickups/{shallots.id}/{HOA_TU}/labels.pdf").status_code == 200


@given(st.integers(min_value=0, max_value=10**10), st.sampled_from(["", " ₫", " đ", "đ", " VND", "vnd"]), st.booleans())
def test_cash_amounts_parse_as_people_write_them(amount, suffix, grouped):
    from workers.postal.views import _parse_amount

    text = (f"{amount:,}".replace(",", "." if grouped else " ") if grouped or amount > 999 else str(amount)) + suffix
    assert _parse_amount(text) == amount


@given(st.text(max_size=30))
def test_any_amount_text_is_a_whole_number_or_refused(text):
    from workers.postal.views import _parse_amount

    try:
        value = _parse_amount(text)
    except ValueError:
        return
    assert value is None or (isinstance(value, int) and 0 <= value < 10**11)


def test_scan_log_in_the_session_stays_small_enough_for_a_cookie(client, post):
    login(client, "counter1")
    code = post["shipments"]["pomelo"][0].code
    for _ in range(12):
        _scan(client, code, "in_transit")  # long Vietnamese messages: refused, then already
        _scan(client, "EN000000005VN", "delivery_failed")
    page = client.get("/post/scan").get_data(as_text=True)
    assert page.count("<li class=") == 8  # the last eight results
    cookie = client.get_cookie("session")
    assert cookie is not None and len(cookie.value) < 3000, len(cookie.value)  # browsers drop cookies above 4096 bytes
