from datetime import date, timedelta

import pytest

from shop.accounts.models import Role
from traceability import gs1
from tests.factories import csrf_token, login


@pytest.fixture
def member_client(client, factory):
    cooperative = factory.cooperative()
    factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="clerk")
    login(client, "clerk")
    client.cooperative = cooperative
    return client


def _post_form(client, path, data):
    page = client.get(path)
    return client.post(path, data={**data, "csrf_token": csrf_token(page.get_data(as_text=True))})


def test_new_product_gets_a_valid_gtin_under_the_alliance_prefix(member_client, app):
    response = _post_form(member_client, "/htx/products/new", {
        "name": "Gạo ST25 túi 5 kg", "category": "rice", "sale_unit": "bag_5kg", "unit_weight_g": "5000", "price_vnd": "185000"})
    assert response.status_code == 303
    page = member_client.get(response.headers["Location"]).get_data(as_text=True)
    gtin = page.split("GTIN ")[1][:14]
    assert gs1.is_valid_gtin(gtin)
    assert gtin.startswith("0" + app.config["GS1_COMPANY_PREFIX"])


@pytest.mark.parametrize(
    ("field", "value"),
    [("price_vnd", "-5"), ("price_vnd", "12.5"), ("unit_weight_g", "0"), ("name", "")],
)
def test_bad_product_input_names_the_field_and_writes_nothing(member_client, factory, session, field, value):
    from sqlmodel import select

    from shop.catalog.models import Product

    data = {"name": "Hành tím", "category": "vegetables", "sale_unit": "kg", "unit_weight_g": "1000", "price_vnd": "45000"}
    data[field] = value
    response = _post_form(member_client, "/htx/products/new", data)
    assert response.status_code == 400
    assert f'data-field="{field}"' in response.get_data(as_text=True)
    assert session.exec(select(Product).where(Product.cooperative_id == member_client.cooperative.id)).all() == []


def test_new_batch_is_signed_and_its_trace_page_verifies(member_client, factory, app):
    product = factory.product(member_client.cooperative)
    response = _post_form(member_client, f"/htx/products/{product.id}/batches/new", {
        "lot": "ST25-01", "harvest_date": (date.today() - timedelta(days=2)).isoformat(), "plot": "Ruộng 7",
        "variety": "ST25", "cultivation_standard": "VietGAP", "quantity_kg": "250.5"})
    assert response.status_code == 303
    trace = member_client.get(f"/01/{product.gtin}/10/ST25-01")
    assert trace.status_code == 200
    assert 'data-verified="true"' in trace.get_data(as_text=True)
    body = member_client.get(f"/api/verify/01/{product.gtin}/10/ST25-01").get_json()
    assert body["verified"] is True
    assert [c["name"] for c in body["credentials"][0]["checks"]] == ["signature", "certificate", "key_status", "subject", "hash_chain", "log_inclusion"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("lot", "lô 1"), ("lot", "X" * 21), ("harvest_date", (date.today() + timedelta(days=2)).isoformat()), ("quantity_kg", "0"), ("quantity_kg", "abc")],
)
def test_bad_batch_input_is_refused_with_the_field_named(member_client, factory, field, value):
    product = factory.product(member_client.cooperative)
    data = {"lot": "OK-1", "harvest_date": date.today().isoformat(), "plot": "Ruộng 1", "quantity_kg": "10"}
    data[field] = value
    response = _post_form(member_client, f"/htx/products/{product.id}/batches/new", data)
    assert response.status_code == 400
    assert f'data-field="{field}"' in response.get_data(as_text=True)
    assert member_client.get(f"/01/{product.gtin}/10/OK-1").status_code == 404


def test_pending_cooperative_cannot_list_products(client, factory):
    cooperative = factory.cooperative(approved=False)
    factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="waiting")
    login(client, "waiting")
    response = _post_form(client, "/htx/products/new", {
        "name": "Bưởi", "category": "fruit", "sale_unit": "box", "unit_weight_g": "3000", "price_vnd": "120000"})
    assert response.status_code == 400
    assert "not approved" in response.get_data(as_text=True) or "chưa được duyệt" in response.get_data(as_text=True)


def test_member_cannot_see_or_change_another_cooperatives_products_and_batches(member_client, factory):
    other = factory.cooperative(name="HTX Khác")
    product = factory.product(other)
    batch = factory.batch(other, product)
    assert member_client.get(f"/htx/products/{product.id}").status_code == 404
    assert member_client.get(f"/htx/batches/{batch.id}").status_code == 404
    response = _post_form(member_client, f"/htx/products/{product.id}/batches/new", {
        "lot": "STEAL", "harvest_date": date.today().isoformat(), "plot": "x", "quantity_kg": "5"})
    assert response.status_code == 404
    assert b"HTX Kh" not in member_client.get("/htx/").data


def test_search_ignores_vietnamese_diacritics(client, factory):
    cooperative = factory.cooperative()
    rice = factory.product(cooperative, name="Gạo ST25 túi 5 kg")
    factory.product(cooperative, name="Hành tím Vĩnh Châu", unit_weight_g=1000, price_vnd=45000)
    page = client.get("/?q=gao st25").get_data(as_text=True)
    assert "Gạo ST25" in page and "Hành tím" not in page
    page = client.get("/?q=hanh tim vinh chau").get_data(as_text=True)
    assert "Hành tím Vĩnh Châu" in page and "Gạo ST25" not in page
    assert rice.name_ascii == "gao st25 tui 5 kg"


def test_qr_codes_encode_the_digital_link(client, factory, app):
    import io

    import zxingcpp
    from PIL import Image

    cooperative = factory.cooperative()
    product = factory.product(cooperative)
    batch = factory.batch(cooperative, product, lot="QR/1")
    expected = gs1.DigitalLink(product.gtin, "QR/1").uri(app.config["PUBLIC_BASE_URL"])
    assert expected.endswith("/10/QR%2F1")
    png = client.get(f"/qr/01/{product.gtin}/10/QR%2F1.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))] == [expected]
    svg = client.get(f"/qr/01/{product.gtin}/10/QR%2F1.svg")
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    assert client.get(f"/qr/01/{product.gtin}/10/QR%2F1.png?ec=Z").status_code == 400
    assert batch.stock_units == 20


def test_malformed_digital_link_is_a_400_and_unknown_batch_a_404(client, factory):
    cooperative = factory.cooperative()
    product = factory.product(cooperative)
    bad_check = product.gtin[:-1] + str((int(product.gtin[-1]) + 1) % 10)
    assert client.get(f"/01/{bad_check}/10/X").status_code == 400
    assert client.get(f"/01/{product.gtin}/21/S/10/X").status_code == 400
    assert client.get(f"/01/{product.gtin}/10/NOPE").status_code == 404
