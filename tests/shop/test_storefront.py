import io

import pytest
from PIL import Image

from shop.accounts.models import Role
from tests.factories import csrf_token, login


def _png(size=(50, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def shop_world(app, factory, session):

    st = factory.cooperative(name="HTX Lúa thơm Mỹ Xuyên")
    hanh = factory.cooperative(name="HTX Hành tím Vĩnh Châu", province_code=79, ward_code=26882)
    rice = factory.product(st, name="Gạo ST25 túi 5 kg")
    factory.product(st, name="Gạo ST24 túi 5 kg")
    onion = factory.product(hanh, name="Hành tím Vĩnh Châu", price_vnd=45_000, unit_weight_g=1000)
    factory.batch(st, rice)
    with app.app_context():
        factory.catalog(st).add_certification("VietGAP", "VG-2025-001", "Sở NN&MT Cần Thơ", None)
    session.commit()
    return st, hanh, rice, onion


def _names(client, url):
    import re

    return re.findall(r'class="card product-card"><a href="[^"]+"><strong>([^<]+)</strong>', client.get(url).get_data(as_text=True))


def test_search_ranks_and_filters_and_ignores_diacritics(client, shop_world):
    assert _names(client, "/?q=gao st25") == ["Gạo ST25 túi 5 kg"]
    assert _names(client, "/?q=gao") == ["Gạo ST24 túi 5 kg", "Gạo ST25 túi 5 kg"]
    assert _names(client, "/?q=HANH TIM") == ["Hành tím Vĩnh Châu"]
    assert _names(client, "/?q=tim") == ["Hành tím Vĩnh Châu"]
    assert _names(client, "/?in_stock=1") == ["Gạo ST25 túi 5 kg"]
    assert _names(client, "/?cert=vietgap") == ["Gạo ST24 túi 5 kg", "Gạo ST25 túi 5 kg"]
    assert _names(client, "/?province=79") == ["Hành tím Vĩnh Châu"]
    assert _names(client, "/?category=fruit") == []


def test_whole_phrase_at_the_start_ranks_first(app, client, factory, session):
    cooperative = factory.cooperative()
    for name in ("Bánh tráng gạo lứt", "Gạo lứt đỏ", "Cốm gạo lứt rang"):
        factory.product(cooperative, name=name, price_vnd=50_000, unit_weight_g=500)
    session.commit()
    assert _names(client, "/?q=gao lut")[0] == "Gạo lứt đỏ"


def test_pagination(app, client, factory, session):
    cooperative = factory.cooperative()
    for n in range(30):
        factory.product(cooperative, name=f"Bưởi Năm Roi số {n:02d}", price_vnd=120_000, unit_weight_g=3000)
    session.commit()
    first = client.get("/?q=buoi").get_data(as_text=True)
    second = client.get("/?q=buoi&page=2").get_data(as_text=True)
    assert "Bưởi Năm Roi số 00" in first and "Bưởi Năm Roi số 29" not in first
    assert "Bưởi Năm Roi số 29" in second and "30" in client.get("/?q=buoi").get_data(as_text=True)


def test_storefront_shows_profile_certifications_and_ocop(app, client, factory, session, shop_world):
    st, _hanh, rice, _onion = shop_world
    with app.app_context():
        factory.catalog(st).set_ocop(rice.id, 4, "QĐ 1234/QĐ-UBND")
    session.commit()
    page = client.get(f"/htx/{st.slug}").get_data(as_text=True)
    assert "HTX Lúa thơm Mỹ Xuyên" in page and "VietGAP" in page and "VG-2025-001" in page
    assert "★★★★" in page and "QĐ 1234/QĐ-UBND" in page
    assert client.get("/htx/khong-ton-tai").status_code == 404


@pytest.fixture
def clerk(client, factory, session, shop_world):
    st, _h, rice, _o = shop_world
    factory.user(Role.MEMBER, cooperative_id=st.id, username="photoclerk")
    session.commit()
    login(client, "photoclerk")
    return rice


def _upload(client, product_id, content: bytes, filename: str, **extra):
    page = client.get(f"/htx/products/{product_id}").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page), "photo": (io.BytesIO(content), filename), **extra}
    return client.post(f"/htx/products/{product_id}", data=data, content_type="multipart/form-data")


def test_photo_is_sniffed_resized_and_reencoded_as_jpeg(client, clerk):
    response = _upload(client, clerk.id, _png((3000, 1500)), "anh.png")
    assert response.status_code == 303
    page = client.get(f"/htx/products/{clerk.id}").get_data(as_text=True)
    src = page.split('id="product-photo"')[0].rsplit('src="', 1)[1].split('"')[0]
    photo = client.get(src)
    assert photo.mimetype == "image/jpeg" and photo.headers["X-Content-Type-Options"] == "nosniff"
    image = Image.open(io.BytesIO(photo.data))
    assert image.format == "JPEG" and max(image.size) == 1200


@pytest.mark.parametrize(("content", "filename"), [
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "anh.svg"),
    (b"<html><body>hi</body></html>", "anh.jpg"),
    (b"GIF89a" + b"\x00" * 100, "anh.gif"),
])
def test_svg_html_and_other_uploads_are_refused(client, clerk, content, filename):
    response = _upload(client, clerk.id, content, filename)
    assert response.status_code == 400 and 'data-field="photo"' in response.get_data(as_text=True)


def test_oversized_photo_is_refused(client, clerk):
    response = _upload(client, clerk.id, b"\xff\xd8" + b"0" * (5 * 1024 * 1024 + 10), "big.jpg")
    assert response.status_code == 400 and 'data-field="photo"' in response.get_data(as_text=True)


def test_ocop_needs_stars_and_a_decision(client, clerk):
    page = client.get(f"/htx/products/{clerk.id}").get_data(as_text=True)
    response = client.post(f"/htx/products/{clerk.id}", data={"csrf_token": csrf_token(page), "ocop_stars": "4", "ocop_decision": ""})
    assert response.status_code == 400 and 'data-field="ocop_decision"' in response.get_data(as_text=True)
