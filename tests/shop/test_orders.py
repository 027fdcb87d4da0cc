import re

import pytest
from sqlmodel import select

from shop.accounts.models import Role
from shop.catalog.models import Reservation
from kernel.errors import ServiceError
from shop.orders.models import Order, OrderStatus
from shop.orders.schemas import CartLine, CheckoutData
from shop.orders.services import OrderService
from tests.factories import csrf_token, login
from kernel.outbox import OutboxMessage

HCMC, BEN_THANH = 79, None


def _ward(province: int) -> int:
    from kernel import address

    return address.wards(province)[0][0]


def _checkout(**overrides) -> CheckoutData:
    data = dict(buyer_name="Nguyễn Thị Mai", buyer_phone="0903 123 456", province_code=79, ward_code=_ward(79),
                street="12 Lê Lợi", payment_method="cod")
    data.update(overrides)
    return CheckoutData(**data)


def _buy(client, batch_id: int, quantity: int = 1, **fields):
    product_page = client.get("/login")
    client.post("/cart/add", data={"batch_id": batch_id, "quantity": quantity,
                                   "csrf_token": csrf_token(product_page.get_data(as_text=True))})
    page = client.get("/checkout").get_data(as_text=True)
    key = re.search(r'id="checkout_key" name="checkout_key" type="hidden" value="([^"]+)"', page).group(1)
    data = {"csrf_token": csrf_token(page), "checkout_key": key, "buyer_name": "Trần Văn An", "buyer_phone": "0912345678",
            "province_code": "79", "ward_code": str(_ward(79)), "street": "12 Lê Lợi", "payment_method": "cod"}
    data.update(fields)
    return client.post("/checkout", data=data), data


def test_cart_over_two_cooperatives_becomes_two_orders_with_server_prices(app, factory, session):
    a, b = factory.cooperative(), factory.cooperative()
    rice = factory.product(a, price_vnd=185_000)
    pomelo = factory.product(b, name="Bưởi Năm Roi", price_vnd=120_000, unit_weight_g=3000)
    batch_a, batch_b = factory.batch(a, rice), factory.batch(b, pomelo)
    with app.app_context():
        orders = OrderService(session).place(
            "checkout-0001", [CartLine(batch_id=batch_a.id, quantity=2), CartLine(batch_id=batch_b.id, quantity=1)], _checkout())
    assert sorted(o.goods_total_vnd for o in orders) == [120_000, 370_000]
    assert {o.cooperative_id for o in orders} == {a.id, b.id}
    assert all(o.buyer_phone == "0903123456" for o in orders)
    session.refresh(batch_a)
    assert batch_a.stock_units == 20 - 2
    tasks = session.exec(select(OutboxMessage.task_name).where(OutboxMessage.kwargs["order_id"].as_integer().in_([o.id for o in orders]))).all()
    assert sorted(tasks) == ["nongsan.orders.prepare_shipment"] * 2 + ["nongsan.orders.send_new_order_email"] * 2


def test_placing_the_same_checkout_twice_gives_one_order(app, factory, session):
    cooperative = factory.cooperative()
    batch = factory.batch(cooperative, factory.product(cooperative))
    with app.app_context():
        service = OrderService(session)
        first = service.place("same-key-123", [CartLine(batch_id=batch.id, quantity=1)], _checkout())
        second = service.place("same-key-123", [CartLine(batch_id=batch.id, quantity=1)], _checkout())
    assert [o.id for o in first] == [o.id for o in second]
    session.refresh(batch)
    assert batch.stock_units == 19


def test_double_submitted_checkout_form_places_one_order(client, factory, session):
    cooperative = factory.cooperative()
    batch = factory.batch(cooperative, factory.product(cooperative))
    response, data = _buy(client, batch.id)
    assert response.status_code == 303
    again = client.post("/checkout", data=data)  # the retried POST; the cart is empty by now
    assert again.status_code in (303, 400)
    assert len(session.exec(select(Order).where(Order.cooperative_id == cooperative.id)).all()) == 1


def test_overselling_is_refused_and_leaves_stock_untouched(app, factory, session):
    cooperative = factory.cooperative()
    batch = factory.batch(cooperative, factory.product(cooperative), quantity_kg=10)  # 2 bags of 5 kg
    with app.app_context():
        with pytest.raises(Exception) as refused:
            OrderService(session).place("greedy-key-1", [CartLine(batch_id=batch.id, quantity=3)], _checkout())
    assert refused.value.field == "quantity"
    session.refresh(batch)
    assert batch.stock_units == 2
    assert session.exec(select(Order).where(Order.checkout_key == "greedy-key-1")).all() == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("buyer_phone", "12345"), ("ward_code", "31684"), ("province_code", "0"), ("buyer_email", "not-an-email"), ("street", "")],
)
def test_bad_checkout_input_names_the_field(client, factory, session, field, value):
    cooperative = factory.cooperative()
    batch = factory.batch(cooperative, factory.product(cooperative))
    response, _ = _buy(client, batch.id, **{field: value})
    assert response.status_code == 400
    assert f'data-field="{field}"' in response.get_data(as_text=True)
    session.refresh(batch)
    held = sum(r.quantity for r in session.exec(select(Reservation).where(Reservation.batch_id == batch.id, Reservation.consumed == False)))  # noqa: E712
    assert held == 1 and batch.stock_units == 20 - held  # only the checkout page's hold, no order
    assert session.exec(select(Order).where(Order.cooperative_id == cooperative.id)).all() == []


def test_old_three_level_ward_of_another_province_is_refused(app, factory, session):
    cooperative = factory.cooperative()
    batch = factory.batch(cooperative, factory.product(cooperative))
    with app.app_context(), pytest.raises(Exception) as refused:
        OrderService(session).place("wrong-ward-1", [CartLine(batch_id=batch.id, quantity=1)], _checkout(ward_code=31684))
    assert refused.value.field == "ward_code"


def test_buyer_sees_order_only_with_link_and_phone(client, factory):
    cooperative = factory.cooperative()
    batch = factory.batch(cooperative, factory.product(cooperative))
    response, _ = _buy(client, batch.id)
    placed = client.get(response.headers["Location"]).get_data(as_text=True)
    track = re.search(r'class="track-link" href="([^"]+)"', placed).group(1)
    stranger = client.application.test_client()
    page = stranger.get(track).get_data(as_text=True)
    assert "Trần Văn An" not in page
    wrong = stranger.post(track, data={"phone": "0999999999", "csrf_token": csrf_token(page)}).get_data(as_text=True)
    assert "Trần Văn An" not in wrong
    right = stranger.post(track, data={"phone": "+84 912 345 678", "csrf_token": csrf_token(page)}).get_data(as_text=True)
    assert "Trần Văn An" in right and 'data-status="placed"' in right


def test_member_cannot_see_another_cooperatives_orders(client, factory, app, session):
    mine, theirs = factory.cooperative(), factory.cooperative()
    batch = factory.batch(theirs, factory.product(theirs))
    with app.app_context():
        order = OrderService(session).place("theirs-key-1", [CartLine(batch_id=batch.id, quantity=1)], _checkout())[0]
    session.commit()
    factory.user(Role.MEMBER, cooperative_id=mine.id, username="nosy")
    login(client, "nosy")
    assert client.get(f"/htx/orders/{order.id}").status_code == 404
    assert order.reference not in client.get("/htx/orders").get_data(as_text=True)


def test_illegal_order_transitions_are_refused(app, factory, session):
    cooperative = factory.cooperative()
    batch = factory.batch(cooperative, factory.product(cooperative))
    with app.app_context():
        service = OrderService(session)
        order = service.place("transit-key-1", [CartLine(batch_id=batch.id, quantity=2)], _checkout())[0]
        with pytest.raises(ServiceError) as refused:
            service.transition(order, OrderStatus.DELIVERED, "member:1")
        # The reader sees the states by name, not their codes (the app context here is Vietnamese).
        assert refused.value.status == 409 and "placed" not in refused.value.message and "delivered" not in refused.value.message
        service.transition(order, OrderStatus.CANCELLED, "member:1", reason="buyer asked")
        with pytest.raises(Exception):
            service.transition(order, OrderStatus.CONFIRMED, "member:1")
    session.refresh(batch)
    assert batch.stock_units == 20  # cancelling restored the two bags


def test_an_order_keeps_the_tariff_version_that_priced_it(app, factory, session):
    """A later tariff changes neither the fee nor the version an earlier order was charged under."""
    from tests.workers.test_tariff import _rates
    from workers.postal.tariff import TariffBook

    cooperative = factory.cooperative()
    batch = factory.batch(cooperative, factory.product(cooperative))
    with app.app_context():
        [first] = OrderService(session).place("checkout-tariff-1", [CartLine(batch_id=batch.id, quantity=1)], _checkout())
        assert first.shipping_tariff_version == 1 and first.shipping_quote_source == "tariff"
        fee_before = first.shipping_fee_vnd
        from kernel.db import run_committed_callbacks

        TariffBook(session).publish(_rates(vat_percent="20"), "VAT twenty per cent", based_on=1)
        session.commit()
        run_committed_callbacks(session)  # what the request boundary does: the quote cache moves on
        [second] = OrderService(session).place("checkout-tariff-2", [CartLine(batch_id=batch.id, quantity=1)], _checkout())
    session.refresh(first)
    assert second.shipping_tariff_version == 2 and second.shipping_fee_vnd > fee_before
    assert first.shipping_tariff_version == 1 and first.shipping_fee_vnd == fee_before


@pytest.mark.parametrize(("language", "subject_word", "body_phrase"), [
    ("en", "Order", "Follow your order"),
    ("vi", "Đơn hàng", "Theo dõi đơn hàng"),
])
def test_the_buyer_is_written_to_in_the_language_of_the_checkout(app, client, factory, session, language, subject_word,
                                                                 body_phrase):
    from email import message_from_bytes, policy
    from pathlib import Path

    from shop.orders.tasks import send_buyer_update

    cooperative = factory.cooperative()
    batch = factory.batch(cooperative, factory.product(cooperative))
    client.set_cookie("lang", language)
    response, _data = _buy(client, batch.id, buyer_email="an@example.vn")
    assert response.status_code in (302, 303)
    order = session.exec(select(Order).where(Order.buyer_email == "an@example.vn")).one()
    assert order.locale == language
    with app.app_context():
        assert send_buyer_update.run(order.id, "confirmed") is True
    [eml] = (Path(app.instance_path) / "mail").glob("*.eml")
    mail = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert mail["Subject"].startswith(f"[nongsan] {subject_word}")
    assert body_phrase in mail.get_body(preferencelist=("plain",)).get_content()
