import io
import re
import threading
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlmodel import select

from shop.accounts.models import Role
from shop.catalog.models import Batch, Reservation
from shop.orders.models import Order
from shop.orders.schemas import CartLine
from shop.orders.services import OrderService, ReservationService
from shop.payments.vietqr import decode_vietqr
from kernel.timeutil import utcnow
from tests.factories import csrf_token, login
from tests.shop.test_orders import _buy, _checkout


def test_checkout_page_holds_stock_and_placing_uses_the_hold(client, factory, session):
    cooperative = factory.cooperative()
    batch = factory.batch(cooperative, factory.product(cooperative))
    response, _ = _buy(client, batch.id, quantity=3)
    assert response.status_code == 303
    session.refresh(batch)
    assert batch.stock_units == 17  # taken once: by the hold, which the order then used
    assert all(r.consumed for r in session.exec(select(Reservation).where(Reservation.batch_id == batch.id)))


def test_abandoned_holds_return_to_stock(app, factory, session):
    cooperative = factory.cooperative()
    batch = factory.batch(cooperative, factory.product(cooperative), quantity_kg=10)  # 2 bags
    with app.app_context():
        holds = ReservationService(session)
        holds.reserve("abandoned-cart-1", {batch.id: 2})
        session.refresh(batch)
        assert batch.stock_units == 0
        with pytest.raises(Exception) as refused:
            holds.reserve("second-buyer-1", {batch.id: 1})
        assert refused.value.field == "quantity"
        for reservation in session.exec(select(Reservation)):
            reservation.expires_at = utcnow() - timedelta(minutes=1)
        session.flush()
        assert holds.release(expired_only=True) == 2
    session.refresh(batch)
    assert batch.stock_units == 2


def test_cooperative_confirms_packs_and_cancels_with_sequential_invoices(app, client, factory, session):
    cooperative = factory.cooperative()
    batch = factory.batch(cooperative, factory.product(cooperative))
    with app.app_context():
        service = OrderService(session)
        first = service.place("lifecycle-key-1", [CartLine(batch_id=batch.id, quantity=1)], _checkout())[0]
        second = service.place("lifecycle-key-2", [CartLine(batch_id=batch.id, quantity=2)], _checkout())[0]
    factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="ordclerk")
    session.commit()
    login(client, "ordclerk")

    def act(order, action, **data):
        page = client.get(f"/htx/orders/{order.id}").get_data(as_text=True)
        return client.post(f"/htx/orders/{order.id}/{action}", data={"csrf_token": csrf_token(page), **data})

    assert act(first, "confirm").status_code == 303
    assert act(second, "confirm").status_code == 303
    session.refresh(first), session.refresh(second)
    numbers = [first.invoice_number, second.invoice_number]
    assert numbers[0].endswith("000001") and numbers[1].endswith("000002")
    invoice = client.get(f"/htx/orders/{first.id}/invoice.pdf")
    text = PdfReader(io.BytesIO(invoice.data)).pages[0].extract_text()
    assert first.invoice_number in text and "HÓA ĐƠN" in text and "185.000 ₫" in text
    assert client.get(f"/htx/orders/{first.id}/packing-slip.pdf").mimetype == "application/pdf"
    assert act(first, "pack").status_code == 303
    session.refresh(first)
    assert first.status == "packed"
    refused = act(first, "cancel", reason="")
    assert refused.status_code == 303
    session.refresh(first)
    assert first.status == "packed"  # no reason, no cancellation
    act(first, "cancel", reason="Khách đổi ý")
    session.refresh(first), session.refresh(batch)
    assert first.status == "cancelled" and batch.stock_units == 20 - 2
    assert act(first, "pack").status_code == 303
    session.refresh(first)
    assert first.status == "cancelled"  # illegal move refused


def test_vietqr_order_shows_a_valid_code_and_is_paid_only_when_the_cooperative_says_so(app, client, factory, session):
    cooperative = factory.cooperative()
    cooperative.bank_bin, cooperative.bank_account = "970405", "7700205123456"
    session.flush()
    batch = factory.batch(cooperative, factory.product(cooperative))
    response, _ = _buy(client, batch.id, quantity=2, payment_method="vietqr")
    assert response.status_code == 303
    placed = client.get(response.headers["Location"]).get_data(as_text=True)
    track = re.search(r'class="track-link" href="([^"]+)"', placed).group(1)
    page = client.get(track).get_data(as_text=True)
    assert 'id="vietqr"' in page
    order = session.exec(select(Order).where(Order.cooperative_id == cooperative.id)).one()
    with app.app_context():
        payload = OrderService(session).vietqr_payload(order)
    transfer = decode_vietqr(payload)
    assert transfer.bank_bin == "970405" and transfer.account_number == "7700205123456"
    assert transfer.amount_vnd == order.goods_total_vnd + order.shipping_fee_vnd
    assert order.reference.replace("-", "") in transfer.reference.replace("-", "").replace(" ", "")
    assert order.paid_at is None
    factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="payclerk")
    session.commit()
    login(client, "payclerk")
    detail = client.get(f"/htx/orders/{order.id}").get_data(as_text=True)
    client.post(f"/htx/orders/{order.id}/paid", data={"csrf_token": csrf_token(detail)})
    session.refresh(order)
    assert order.paid_at is not None and order.paid_confirmed_by.startswith("member:")


def test_transfer_needs_the_cooperatives_bank_account(client, factory, session):
    cooperative = factory.cooperative()
    batch = factory.batch(cooperative, factory.product(cooperative))
    response, _ = _buy(client, batch.id, payment_method="vietqr")
    assert response.status_code == 400 and 'data-field="payment_method"' in response.get_data(as_text=True)


def test_old_three_level_address_is_refused_with_the_new_province_named(client, factory):
    cooperative = factory.cooperative()
    batch = factory.batch(cooperative, factory.product(cooperative))
    response, _ = _buy(client, batch.id, street="Ấp Hòa Phuông, huyện Mỹ Xuyên, tỉnh Sóc Trăng")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and 'data-field="street"' in page
    assert "Cần Thơ" in page


def test_quote_api_without_a_worker_says_so_instead_of_hanging(app, client, factory):
    app.config["QUOTE_WAIT_SECONDS"] = 0.2
    cooperative = factory.cooperative()
    batch = factory.batch(cooperative, factory.product(cooperative))
    _buy(client, batch.id)  # leaves the cart empty after placing; fill it again
    page = client.get("/login").get_data(as_text=True)
    client.post("/cart/add", data={"batch_id": batch.id, "quantity": 1, "csrf_token": csrf_token(page)})
    from kernel import address

    ward = address.wards(79)[0][0]
    response = client.get(f"/api/quote?province=79&ward={ward}")
    assert response.status_code == 503 and response.get_json()["error"]
    assert client.get("/api/quote?province=79&ward=31684").status_code == 400


def test_many_buyers_racing_for_the_last_units_never_oversell(tmp_path):
    """Real concurrent transactions (threads, each its own connection) on the test database."""
    from kernel.db import unit_of_work
    from tests.live import LiveStack

    stack = LiveStack(tmp_path)
    try:
        app = stack.app
        from tests.factories import Factory

        with app.app_context(), unit_of_work() as session:
            factory = Factory(app, session)
            cooperative = factory.cooperative()
            batch = factory.batch(cooperative, factory.product(cooperative), quantity_kg=25)  # 5 bags
            batch_id = batch.id
        outcomes: list[str] = []
        lock = threading.Lock()

        def buyer(n: int) -> None:
            with app.app_context():
                try:
                    with unit_of_work() as session:
                        OrderService(session).place(f"race-{n:04d}-key", [CartLine(batch_id=batch_id, quantity=1)], _checkout())
                    result = "sold"
                except Exception as error:  # noqa: BLE001
                    result = "refused" if getattr(error, "field", None) == "quantity" else f"error: {error!r}"
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=buyer, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(set(outcomes)) == ["refused", "sold"], outcomes
        assert outcomes.count("sold") == 5 and outcomes.count("refused") == 15
        with app.app_context(), unit_of_work() as session:
            assert session.get(Batch, batch_id).stock_units == 0
            assert len(session.exec(select(Order)).all()) == 5
    finally:
        stack.close()


def test_cancelling_stops_the_shipment_job_and_recalled_stock_is_never_resold(app, client, factory, session):
    from shop.orders.tasks import prepare_shipment
    from workers.postal.models import Shipment

    cooperative = factory.cooperative()
    factory.partner()
    batch = factory.batch(cooperative, factory.product(cooperative))
    with app.app_context():
        service = OrderService(session)
        order = service.place("cancel-ship-1", [CartLine(batch_id=batch.id, quantity=2)], _checkout())[0]
        code = prepare_shipment.run(order.id)
        factory.catalog(cooperative).recall_batch(batch.id, "Phát hiện nấm mốc", actor="member:1")
        service.cancel(cooperative.id, order.id, "member:1", "Lô hàng bị thu hồi")
    shipment = session.exec(select(Shipment).where(Shipment.code == code)).one()
    session.refresh(batch)
    assert shipment.status == "cancelled"
    assert batch.stock_units == 0  # the two bags did not go back on sale
    assert client.get(f"/p/{batch.product_id}").get_data(as_text=True).count('name="batch_id"') == 0


def test_huge_ids_in_urls_are_404_not_500(client):
    assert client.get("/p/99999999999999999999999").status_code == 404
    assert client.get("/?page=99999999999999999999").status_code == 200
    assert client.get("/?province=99999999999999999999").status_code == 200


def test_same_idempotency_key_header_gives_one_order(client, factory, session):
    import re as _re

    cooperative = factory.cooperative()
    batch = factory.batch(cooperative, factory.product(cooperative))
    page = client.get("/login").get_data(as_text=True)
    client.post("/cart/add", data={"batch_id": batch.id, "quantity": 1, "csrf_token": csrf_token(page)})
    form = client.get("/checkout").get_data(as_text=True)
    from kernel import address

    data = {"csrf_token": csrf_token(form), "checkout_key": _re.search(r'name="checkout_key" type="hidden" value="([^"]+)"', form).group(1),
            "buyer_name": "Lê Văn Bình", "buyer_phone": "0912345678", "province_code": "79",
            "ward_code": str(address.wards(79)[0][0]), "street": "5 Nguyễn Huệ", "payment_method": "cod"}
    first = client.post("/checkout", data=data, headers={"Idempotency-Key": "retry-123"})
    assert first.status_code == 303
    client.post("/cart/add", data={"batch_id": batch.id, "quantity": 1, "csrf_token": csrf_token(page)})
    second = client.post("/checkout", data=data, headers={"Idempotency-Key": "retry-123"})
    assert second.status_code == 303
    assert len(session.exec(select(Order).where(Order.cooperative_id == cooperative.id)).all()) == 1
    session.refresh(batch)
    assert batch.stock_units == 19
