import pytest
from sqlmodel import select

from shop.accounts.models import Role
from shop.orders.models import OrderStatus
from shop.orders.schemas import CartLine
from shop.orders.services import OrderService
from shop.orders.tasks import prepare_shipment
from tests.factories import csrf_token, login
from tests.shop.test_orders import _checkout
from workers.postal.models import Partner, Shipment, ShipmentStatus
from workers.postal.schemas import Parcel
from workers.postal.services import ShipmentService, s10_check_digit
from workers.postal.tariff import TariffAdapter, zone_of


def test_s10_check_digit_matches_the_upu_example():
    assert s10_check_digit("47312482") == 9  # S = 200, 11 - 200 mod 11
    assert s10_check_digit("00000000") == 5  # C = 11 becomes 5
    assert s10_check_digit("00000001") == 4


def test_zones_follow_provinces_and_regions():
    assert zone_of(92, 92) == "intra_province"
    assert zone_of(92, 79) == "intra_region"  # Cần Thơ → Hồ Chí Minh City
    assert zone_of(92, 1) == "inter_region"  # Cần Thơ → Hà Nội


def test_quote_uses_chargeable_weight_steps_cod_fee_and_vat():
    tariff = TariffAdapter()
    light = tariff.quote(Parcel(92, 79, 0, weight_g=400))
    assert light.base_fee_vnd == 28_000 and light.cod_fee_vnd == 0
    assert light.total_vnd == 28_000 + 2_240
    heavy = tariff.quote(Parcel(92, 79, 0, weight_g=1_200, cod_amount_vnd=2_000_000))
    assert heavy.base_fee_vnd == 28_000 + 2 * 5_000
    assert heavy.cod_fee_vnd == 20_000  # 1 % of 2.000.000 ₫, above the 10.000 ₫ minimum
    bulky = tariff.quote(Parcel(92, 79, 0, weight_g=500, length_cm=40, width_cm=30, height_cm=30))
    assert bulky.chargeable_weight_g == 6_000  # 40×30×30/6000 kg
    assert all(isinstance(v, int) for v in (heavy.total_vnd, heavy.vat_vnd))


@pytest.fixture
def placed_order(app, factory, session):
    cooperative = factory.cooperative()
    factory.partner()
    batch = factory.batch(cooperative, factory.product(cooperative))
    with app.app_context():
        order = OrderService(session).place("ship-key-001", [CartLine(batch_id=batch.id, quantity=2)], _checkout())[0]
    return order


def test_preparing_a_shipment_twice_creates_one_job(app, session, placed_order):
    with app.app_context():
        first = prepare_shipment.run(placed_order.id)
        second = prepare_shipment.run(placed_order.id)
    assert first == second
    shipments = session.exec(select(Shipment).where(Shipment.order_id == placed_order.id)).all()
    assert len(shipments) == 1
    shipment = shipments[0]
    session.refresh(placed_order)
    assert placed_order.shipping_fee_vnd == shipment.shipping_fee_vnd > 0
    assert shipment.cod_amount_vnd == placed_order.goods_total_vnd + shipment.shipping_fee_vnd


def test_shipment_status_moves_forward_only_and_repeats_are_harmless(app, session, placed_order):
    with app.app_context():
        code = prepare_shipment.run(placed_order.id)
        service = ShipmentService(session)
        partner_id = session.exec(select(Shipment.partner_id).where(Shipment.code == code)).one()
        _, changed = service.update_status(partner_id, code, "picked_up", actor="partner:1")
        assert changed
        _, changed = service.update_status(partner_id, code, "picked_up", actor="partner:1")
        assert not changed
        with pytest.raises(Exception) as backwards:
            service.update_status(partner_id, code, "awaiting_pickup", actor="partner:1")
        assert backwards.value.status == 409
        with pytest.raises(Exception) as unknown:
            service.update_status(partner_id, code, "teleported", actor="partner:1")
        assert unknown.value.field == "status"
        service.update_status(partner_id, code, "delivered", actor="partner:1")
    session.refresh(placed_order)
    assert placed_order.status == OrderStatus.DELIVERED


def test_partner_staff_only_see_their_own_partners_shipments(app, client, factory, session, placed_order):
    with app.app_context():
        code = prepare_shipment.run(placed_order.id)
    session.commit()
    other = Partner(name="Bưu cục khác", province_code=79)
    session.add(other)
    session.flush()
    factory.user(Role.PARTNER, partner_id=other.id, username="otherpost")
    login(client, "otherpost")
    assert code not in client.get("/post/").get_data(as_text=True)
    page = client.get("/post/").get_data(as_text=True)
    response = client.post(f"/post/shipments/{code}/status", data={"status": "picked_up", "csrf_token": csrf_token(page)})
    assert response.status_code == 303
    assert session.exec(select(Shipment.status).where(Shipment.code == code)).one() == ShipmentStatus.AWAITING_PICKUP


def test_pick_up_and_delivery_are_signed_into_the_batch_record_by_the_post_office(app, client, session, placed_order):
    from shop.orders.models import OrderLine
    from shop.catalog.models import Product
    from traceability.models import Credential

    with app.app_context():
        code = prepare_shipment.run(placed_order.id)
        service = ShipmentService(session)
        partner_id = session.exec(select(Shipment.partner_id).where(Shipment.code == code)).one()
        service.update_status(partner_id, code, "picked_up", actor="partner:1")
        service.update_status(partner_id, code, "delivered", actor="partner:1")
    session.commit()
    line = session.exec(select(OrderLine).where(OrderLine.order_id == placed_order.id)).one()
    product = session.get(Product, line.product_id)
    records = session.exec(select(Credential).where(Credential.gtin == product.gtin, Credential.lot == line.lot)
                           .order_by(Credential.seq)).all()
    assert [r.event_type for r in records][-2:] == ["shipping", "receiving"]
    assert "#" in records[-1].issuer_kid and ":partner:" in records[-1].issuer_kid
    verification = client.get(f"/api/verify/01/{product.gtin}/10/{line.lot}").get_json()
    assert verification["verified"] is True, verification["failures"]


def test_a_late_update_never_moves_a_shipment_back_past_what_another_transaction_committed(app, factory, session):
    """One request has read the shipment (picked up); another commits "delivered"; the first then
    applies a late "in_transit". The lock re-reads the row, so the late update changes nothing."""
    from kernel.db import db
    from workers.postal.models import ShipmentStatusChange

    cooperative = factory.cooperative()
    factory.partner()
    batch = factory.batch(cooperative, factory.product(cooperative))
    with app.app_context():
        order = OrderService(session).place("late-update-1", [CartLine(batch_id=batch.id, quantity=1)], _checkout())[0]
        code = prepare_shipment.run(order.id)
        first = ShipmentService(session)
        partner_id = first.session.exec(select(Shipment.partner_id).where(Shipment.code == code)).one()
        first.update_status(partner_id, code, "picked_up", actor="test")
        held = first.get_for_partner(partner_id, code)  # this request keeps its copy (picked up)
        assert held.status == ShipmentStatus.PICKED_UP
        other = db.new_session()
        ShipmentService(other).apply_partner_update(partner_id, code, "u-delivered", "delivered", None, actor="other")
        other.commit()
        other.close()
        shipment, applied = first.apply_partner_update(partner_id, code, "u-late", "in_transit", None, actor="late")
        session.flush()
    assert applied is False and shipment.status == ShipmentStatus.DELIVERED and held is shipment
    steps = session.exec(select(ShipmentStatusChange.to_status).where(ShipmentStatusChange.shipment_id == shipment.id)
                         .order_by(ShipmentStatusChange.id)).all()
    assert steps[-1] == ShipmentStatus.DELIVERED and ShipmentStatus.IN_TRANSIT not in steps
