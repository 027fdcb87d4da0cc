"""Offline-verifiable labels in a real Chromium against the running service.

The label's QR code (read here from the served PNG, as a phone camera would) is the batch's
Digital Link plus `#v1.…`, a summary signed by the cooperative's key that the alliance root
certified (traceability/compact.py). static/js/offline.js checks it with WebCrypto and the root
key in the page: once the page is loaded, further labels verify with every request blocked, and
the server never sees a fragment. Damaged labels fail with exactly the reason the Python check
gives. In the back office, the page states the QR version each code costs.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest
import zxingcpp
from PIL import Image

from shop.accounts.models import Role
from shop.accounts.services import AccountService
from shop.catalog.schemas import BatchCreate, ProductCreate
from shop.catalog.services import CatalogService
from shop.cooperatives.schemas import CooperativeCreate
from shop.cooperatives.services import CooperativeService
from kernel.db import unit_of_work
from tests.e2e.browser import RecordingPage, chromium
from tests.live import LiveStack
from traceability import compact, crypto
from traceability.compact import CompactError
from traceability.schemas import IssuerRef
from traceability.services import CredentialService, key_service

pytestmark = pytest.mark.e2e

PASSWORD = "mật khẩu đủ dài 2026"
PRODUCT = "Gạo ST25 túi 5 kg"
COOPERATIVE = "HTX Lúa thơm Mỹ Xuyên"
BOX = "#offline-summary"


@dataclass(frozen=True)
class Label:
    gtin: str
    lot: str
    batch_id: int
    cooperative_id: int
    url: str  # the Digital Link, as served at this test's port
    label: str  # what the offline QR code says

    @property
    def fragment(self) -> str:
        return self.label.partition("#")[2]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One stack for the module; every request the web app receives is recorded as the server
    saw it (request line, path and query), to show that no fragment ever arrives."""
    stack = LiveStack(tmp_path_factory.mktemp("browser-offline"))
    stack.received = []
    inner = stack.app.wsgi_app

    def recording(environ, start_response):
        stack.received.append(" ".join(str(environ.get(k, "")) for k in ("REQUEST_URI", "RAW_URI", "PATH_INFO", "QUERY_STRING")))
        return inner(environ, start_response)

    stack.app.wsgi_app = recording
    try:
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def make_label(live, lot: str, username: str | None = None) -> Label:
    with live.app.app_context(), unit_of_work() as session:
        keys = key_service(session)
        cooperatives = CooperativeService(session, keys)
        cooperative = cooperatives.register(CooperativeCreate(
            name=COOPERATIVE, registration_no=f"5901{lot[-4:]}", province_code=92, ward_code=31783,
            address="Ấp Hoà Phuông", phone="0912345603"))
        cooperatives.approve(cooperative.id)
        if username:
            AccountService(session).create_user(username=username, password=PASSWORD, display_name="Anh Tư",
                                                role=Role.MEMBER, cooperative_id=cooperative.id)
        catalog = CatalogService(session, cooperative.id, alliance_gs1_prefix=live.app.config["GS1_COMPANY_PREFIX"],
                                 credentials=CredentialService(session, keys))
        product = catalog.create_product(ProductCreate(name=PRODUCT, price_vnd=185_000, unit_weight_g=5000))
        batch = catalog.create_batch(product.id, BatchCreate(
            lot=lot, harvest_date=date.today() - timedelta(days=4), plot="Ruộng số 7", variety="ST25",
            quantity_kg=Decimal("800")))
        gtin, batch_id, cooperative_id = product.gtin, batch.id, cooperative.id
    url = f"{live.base_url}/01/{gtin}/10/{lot}"
    png = httpx.get(f"{live.base_url}/qr/01/{gtin}/10/{lot}.png?offline=1", timeout=20)
    png.raise_for_status()
    decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))]
    assert len(decoded) == 1 and decoded[0].startswith(url + "#v1.")
    return Label(gtin, lot, batch_id, cooperative_id, url, decoded[0])


@pytest.fixture(scope="module")
def label(live) -> Label:
    return make_label(live, "ST25-0611", username="nhanvien")


def signing_keys(live, label: Label):
    """(cooperative private key, its certified expiry, root private key, root public raw)."""
    with live.app.app_context(), unit_of_work() as session:
        keys = key_service(session)
        key = keys.active_key(IssuerRef("cooperative", label.cooperative_id, COOPERATIVE))
        root = keys.alliance_root()
        return (keys.private_key(key), key.not_after.date(), keys.private_key(root),
                crypto.b64url_decode(root.public_key))


def summary_of(label: Label, **changes) -> dict:
    base = {"g": label.gtin, "l": label.lot, "n": PRODUCT, "h": (date.today() - timedelta(days=4)).isoformat(),
            "c": COOPERATIVE, "t": date.today().isoformat()}
    return dict(base, **changes)


def python_reason(live, label: Label, fragment: str) -> str | None:
    root_raw = signing_keys(live, label)[3]
    try:
        compact.open_fragment(fragment, root_raw, expected_gtin=label.gtin, expected_lot=label.lot)
    except CompactError as error:
        return error.reason
    return None


def flip(fragment: str, at: int) -> str:
    """Another base64url character at `at` characters into the data (after "v1.")."""
    i = 3 + at
    return fragment[:i] + ("B" if fragment[i] == "A" else "A") + fragment[i + 1:]


def settled(page, state: str, name: str | None = None, timeout: int = 15_000) -> None:
    page.wait_for_function(
        """([state, name]) => {
             const box = document.getElementById("offline-summary");
             const shown = box.querySelector('[data-field="n"]');
             return box.dataset.state === state && (!name || (shown && shown.textContent === name));
           }""", arg=[state, name], timeout=timeout)


@pytest.fixture
def opened(browser, live):
    pages: list[RecordingPage] = []

    def open_(url: str, init_script: str | None = None) -> RecordingPage:
        recording = RecordingPage(browser)
        pages.append(recording)
        if init_script:
            recording.page.add_init_script(init_script)
        recording.page.goto(url)
        return recording

    yield open_
    for recording in pages:
        try:
            assert recording.hosts() == {"127.0.0.1"}, recording.requests
            assert not recording.errors, recording.errors
        finally:
            recording.close()


# -- a label that verifies, then more with the network gone ----------------------------------------
def test_the_label_verifies_on_the_page_and_again_with_the_network_blocked(opened, live, label):
    data = label.fragment.partition(".")[2]
    visitor = opened(label.label)
    page = visitor.page
    settled(page, "ok", PRODUCT)
    assert page.is_visible(BOX)
    fields = page.eval_on_selector_all(f"{BOX} dd", "items => Object.fromEntries(items.map(d => [d.dataset.field, d.textContent]))")
    harvest = date.today() - timedelta(days=4)
    assert fields["n"] == PRODUCT and fields["c"] == COOPERATIVE and fields["l"] == label.lot and fields["g"] == label.gtin
    assert fields["h"] == harvest.strftime("%d/%m/%Y")
    labels = page.eval_on_selector_all(f"{BOX} dt", "items => items.map(d => d.textContent)")
    assert labels[:3] == ["Sản phẩm", "Hợp tác xã", "Ngày thu hoạch"]
    assert page.text_content("#offline-result").startswith("✔ Nhãn hợp lệ")
    # The browser asked for the page and its files, never with the fragment; nor did the server see it.
    assert all("#" not in url and data[:32] not in url for url in visitor.requests)
    assert live.received and not any(data[:32] in line or "#" in line for line in live.received)

    # From here on, nothing leaves the page: every request it tries is recorded and refused.
    blocked: list[str] = []
    page.route("**/*", lambda route: (blocked.append(route.request.url), route.abort()))
    requests_before = len(visitor.requests)
    cooperative_key, expiry, root_key, _root_raw = signing_keys(live, label)

    page.evaluate("location.hash = ''")
    settled(page, "idle")
    assert page.is_hidden(BOX)

    other_day = compact.make_fragment(summary_of(label, n="Gạo ST25 túi 10 kg", t="2026-01-02"), cooperative_key, expiry, root_key)
    page.evaluate(f"location.hash = {json.dumps(other_day)}")
    settled(page, "ok", "Gạo ST25 túi 10 kg")
    assert page.text_content(f'{BOX} [data-field="t"]') == "02/01/2026"

    tampered = flip(other_day, 160)  # inside the cooperative's signature
    page.evaluate(f"location.hash = {json.dumps(tampered)}")
    settled(page, "failed")
    assert page.get_attribute(BOX, "data-reason") == "bad_signature" == python_reason(live, label, tampered)
    assert "chữ ký" in page.text_content("#offline-result")
    assert page.eval_on_selector_all(f"{BOX} dd", "items => items.length") == 0  # no fields from a bad label

    page.evaluate(f"location.hash = {json.dumps(label.fragment)}")
    settled(page, "ok", PRODUCT)
    page.evaluate("location.hash = 'report'")  # the page's own anchors are not labels
    settled(page, "idle")

    assert blocked == [], f"the offline check made requests: {blocked}"
    assert len(visitor.requests) == requests_before


def test_a_flipped_character_fails_the_label(opened, label):
    page = opened(f"{label.url}#{flip(label.fragment, 180)}").page
    settled(page, "failed")
    assert page.get_attribute(BOX, "data-reason") == "bad_signature"
    assert page.text_content("#offline-result").startswith("✘ Nhãn không hợp lệ")
    # The online verification of the page is separate and still passes: the batch is fine.
    assert page.get_attribute("#verification", "data-verified") == "true"


def swapped_key(fragment: str, key) -> str:
    """The real key statement, someone else's key, which signs the summary itself."""
    data = crypto.b64url_decode(fragment[3:])
    body = data[164:]
    forged = crypto.public_key_raw(key) + data[32:100] + key.sign(b"nongsan/summary/v1" + body) + body
    return "v1." + crypto.b64url_encode(forged)


def damaged(live, label: Label) -> dict[str, str]:
    cooperative_key, expiry, root_key, _ = signing_keys(live, label)
    other = make_label(live, "ST25-0612")
    impostor = crypto.generate_ed25519()
    return {
        "key": flip(label.fragment, 10),
        "expiry": flip(label.fragment, 45),
        "statement": flip(label.fragment, 100),
        "signature": flip(label.fragment, 200),
        "summary": flip(label.fragment, 260),
        "truncated": label.fragment[:200],
        "unknown-version": "v9." + label.fragment[3:],
        "another-root": compact.make_fragment(summary_of(label), cooperative_key, expiry, impostor),
        "uncertified-key": swapped_key(label.fragment, impostor),
        "expired": compact.make_fragment(summary_of(label), cooperative_key, date.today() - timedelta(days=1), root_key),
        "another-batch": other.fragment,
        "renamed-batch": compact.make_fragment(summary_of(label, l="ST25-0699"), cooperative_key, expiry, root_key),
    }


EXPECTED = {
    "key": "bad_key_statement", "expiry": "bad_key_statement", "statement": "bad_key_statement",
    "signature": "bad_signature", "summary": None, "truncated": "malformed", "unknown-version": "malformed",
    "another-root": "bad_key_statement", "uncertified-key": "bad_key_statement", "expired": "key_expired",
    "another-batch": "wrong_batch", "renamed-batch": "wrong_batch",
}


def test_damaged_labels_fail_with_the_reason_python_gives(opened, live, label):
    """One page, each damaged label in turn through the hash; the browser's verdict is the server's."""
    cases = damaged(live, label)
    page = opened(label.label).page
    settled(page, "ok", PRODUCT)
    for name, fragment in cases.items():
        expected = python_reason(live, label, fragment)
        assert expected is not None, name
        if EXPECTED[name]:
            assert expected == EXPECTED[name], name
        else:  # a flipped summary character: no longer canonical JSON, or its signature fails
            assert expected in ("malformed", "bad_signature"), name
        page.evaluate(f"location.hash = {json.dumps(fragment)}")
        settled(page, "failed")
        assert page.get_attribute(BOX, "data-reason") == expected, name
        page.evaluate("location.hash = ''")
        settled(page, "idle")


def test_no_fragment_means_no_box_and_nothing_fetched(opened, label):
    visitor = opened(label.url)
    page = visitor.page
    page.wait_for_load_state("load")
    assert page.is_hidden(BOX) and page.get_attribute(BOX, "data-state") == "idle"
    assert [u for u in visitor.requests if "/qr/" in u or "/api/" in u] == []


def test_a_browser_without_ed25519_says_so(opened, label):
    missing = ("const importKey = SubtleCrypto.prototype.importKey; SubtleCrypto.prototype.importKey = function (f, k, a, ...r) {"
               " return a && a.name === 'Ed25519' ? Promise.reject(new DOMException('no', 'NotSupportedError')) : importKey.call(this, f, k, a, ...r) }")
    page = opened(label.label, init_script=missing).page
    settled(page, "error")
    assert "Ed25519" in page.text_content("#offline-result")


# -- the back office -------------------------------------------------------------------------------
def test_the_back_office_shows_both_codes_and_the_version_each_costs(opened, live, label):
    page = opened(f"{live.base_url}/login").page
    page.fill("#username", "nhanvien")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live.base_url}/htx/batches/{label.batch_id}")
    page.wait_for_function("() => /^\\d+$/.test(document.getElementById('qr-version-offline').textContent)"
                           " && /^\\d+$/.test(document.getElementById('qr-version-plain').textContent)")
    plain, offline = int(page.text_content("#qr-version-plain")), int(page.text_content("#qr-version-offline"))
    assert offline > plain
    served = {kind: int(httpx.get(f"{live.base_url}/qr/01/{label.gtin}/10/{label.lot}.png{query}", timeout=20).headers["X-QR-Version"])
              for kind, query in (("plain", ""), ("offline", "?offline=1"))}
    assert served == {"plain": plain, "offline": offline}
    assert page.evaluate("() => { const i = document.getElementById('qr-offline'); return i.complete && i.naturalWidth > 0 }")
    assert page.get_attribute("#qr-offline-png", "href").endswith(".png?offline=1")
