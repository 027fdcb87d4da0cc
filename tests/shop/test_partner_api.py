import io

import pytest
from sqlmodel import select

from shop.accounts.apikeys import ApiKeyService
from shop.orders.schemas import CartLine
from shop.orders.services import OrderService
from shop.orders.tasks import prepare_shipment
from tests.shop.test_orders import _checkout
from workers.postal.models import Partner, Shipment


@pytest.fixture
def job(app, factory, session):
    cooperative = factory.cooperative()
    partner = factory.partner()
    batch = factory.batch(cooperative, factory.product(cooperative))
    with app.app_context():
        order = OrderService(session).place("api-key-order", [CartLine(batch_id=batch.id, quantity=1)], _checkout())[0]
        code = prepare_shipment.run(order.id)
        _key, token = ApiKeyService(session).create("partner", partner.id, "Vietnam Post ERP")
    session.commit()
    return {"Authorization": f"Bearer {token}"}, code, order, partner


def _update(client, auth, code, **body):
    return client.post(f"/api/partner/v1/shipments/{code}/updates", json=body, headers=auth)


def test_partner_lists_accepts_and_moves_its_jobs(client, session, job):
    auth, code, order, _ = job
    listing = client.get("/api/partner/v1/shipments", headers=auth).get_json()
    assert [s["code"] for s in listing["shipments"]] == [code]
    assert client.post(f"/api/partner/v1/shipments/{code}/accept", headers=auth).get_json()["shipment"]["status"] == "accepted"
    assert _update(client, auth, code, id="u1", status="picked_up").get_json()["applied"] is True
    # out of order: 'delivered' before 'out_for_delivery' — forward moves through the missing steps
    assert _update(client, auth, code, id="u3", status="delivered").get_json()["shipment"]["status"] == "delivered"
    late = _update(client, auth, code, id="u2", status="out_for_delivery").get_json()
    assert late["applied"] is False and late["shipment"]["status"] == "delivered"  # never backwards
    session.refresh(order)
    assert order.status == "delivered"


def test_duplicate_updates_apply_once_and_cod_amounts_are_recorded_once(client, session, job):
    auth, code, _, _ = job
    first = _update(client, auth, code, id="cod-1", status="cod_collected", amount_vnd=213_000)
    again = _update(client, auth, code, id="cod-1", status="cod_collected", amount_vnd=999)
    assert first.get_json()["applied"] is True and again.get_json()["applied"] is False
    shipment = session.exec(select(Shipment).where(Shipment.code == code)).one()
    assert shipment.cod_collected_vnd == 213_000


@pytest.mark.parametrize(("body", "field"), [
    ({"status": "picked_up"}, "id"),
    ({"id": "x", "status": "teleported"}, "status"),
    ({"id": "x", "status": "cod_collected"}, "amount_vnd"),
    ({"id": "x", "status": "cod_collected", "amount_vnd": -5}, "amount_vnd"),
    ({"id": "x", "status": "cod_collected", "amount_vnd": 12.5}, "amount_vnd"),
])
def test_bad_payloads_name_the_field(client, job, body, field):
    auth, code, _, _ = job
    response = _update(client, auth, code, **body)
    assert response.status_code == 400 and response.get_json()["field"] == field


def test_unknown_shipment_other_partners_and_missing_keys(app, client, session, job):
    auth, code, _, _ = job
    assert _update(client, auth, "EN000000005VN", id="z", status="picked_up").status_code == 404
    assert client.get("/api/partner/v1/shipments").status_code == 401
    other = Partner(name="Bưu cục khác", province_code=79)
    session.add(other)
    session.flush()
    with app.app_context():
        _key, token = ApiKeyService(session).create("partner", other.id, "other")
    session.commit()
    stranger = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/partner/v1/shipments", headers=stranger).get_json()["shipments"] == []
    assert _update(client, stranger, code, id="z", status="picked_up").status_code == 404


def test_openapi_document_is_served(client):
    document = client.get("/api/partner/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.") and "/shipments/{code}/updates" in document["paths"]


def test_cod_reconciliation_flags_differences_for_the_cooperative_and_the_alliance(app, client, factory, session, job):
    from shop.accounts.models import Role
    from tests.factories import login

    auth, code, order, _ = job
    _update(client, auth, code, id="p", status="picked_up")
    _update(client, auth, code, id="d", status="delivered")
    shipment = session.exec(select(Shipment).where(Shipment.code == code)).one()
    _update(client, auth, code, id="c", status="cod_collected", amount_vnd=shipment.cod_amount_vnd - 10_000)
    factory.user(Role.MEMBER, cooperative_id=order.cooperative_id, username="codclerk")
    factory.user(Role.ALLIANCE_ADMIN, username="codadmin")
    session.commit()
    login(client, "codclerk")
    page = client.get("/htx/cod").get_data(as_text=True)
    assert code in page and 'data-flags="collected_differs not_remitted"' in page
    assert "Tiền thu hộ khác số phải thu" in page  # the flag is named, not shown as its code
    csv_text = client.get("/htx/cod?format=csv").get_data(as_text=True)
    assert code in csv_text and "Tiền thu hộ khác số phải thu" in csv_text
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(client.get("/htx/cod?format=xlsx").data)).active
    row = next(r for r in sheet.iter_rows(values_only=True) if r[0] == code)
    assert row[3] == shipment.cod_amount_vnd and row[4] == shipment.cod_amount_vnd - 10_000
    assert client.get("/htx/cod?from=2026-13-01").status_code == 400
    admin = app.test_client()
    login(admin, "codadmin")
    assert code in admin.get("/alliance/cod").get_data(as_text=True)
    other = factory.cooperative()
    factory.user(Role.MEMBER, cooperative_id=other.id, username="othercod")
    session.commit()
    stranger = app.test_client()
    login(stranger, "othercod")
    assert code not in stranger.get("/htx/cod").get_data(as_text=True)


def test_inbound_partner_webhooks_are_verified_before_anything_changes(client, session, job):
    import json
    import time

    from workers import webhooks

    _, code, _, partner = job
    partner.webhook_secrets = webhooks.new_secret()
    session.commit()
    url = f"/api/partner/v1/webhook/{partner.id}"
    body = json.dumps({"id": "wh-1", "shipment": code, "status": "picked_up"}).encode()
    good = webhooks.sign_headers([partner.webhook_secrets], "msg_wh1", body)
    unsigned = {"content-type": "application/json"}
    stale = webhooks.sign_headers([partner.webhook_secrets], "msg_wh1", body, now=time.time() - 3600)
    forged = webhooks.sign_headers([webhooks.new_secret()], "msg_wh1", body)
    for headers, reason in ((unsigned, "missing_headers"), (stale, "stale"), (forged, "bad_signature")):
        refused = client.post(url, data=body, headers=headers)
        assert refused.status_code == 401 and refused.get_json()["reason"] == reason
    assert session.exec(select(Shipment.status).where(Shipment.code == code)).one() == "awaiting_pickup"
    tampered = client.post(url, data=body.replace(b"picked_up", b"delivered"), headers=good)
    assert tampered.status_code == 401
    accepted = client.post(url, data=body, headers=good)
    assert accepted.status_code == 200 and accepted.get_json()["shipment"]["status"] == "picked_up"
    again = client.post(url, data=body, headers=good)
    assert again.get_json()["applied"] is False
