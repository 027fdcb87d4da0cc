"""Offline-verifiable labels (traceability/compact.py): a signed batch summary in the QR code's URL
fragment. The format round-trips, every kind of damage fails with its own reason, the server never
receives the fragment, and the QR code carries exactly the Digital Link plus the fragment, at the
QR version the response states."""

from __future__ import annotations

import io
import json
import struct
from datetime import date, timedelta

import pytest
from flask import request

from traceability import compact, crypto, gs1
from traceability.compact import CompactError, make_fragment, open_fragment

GTIN, LOT = "08930000000019", "ST25-2611"
SUMMARY = {"g": GTIN, "l": LOT, "n": "Gạo ST25 túi 5 kg", "h": "2026-05-01", "c": "HTX Lúa thơm Sóc Trăng",
           "t": "2026-05-05"}
TODAY = date(2026, 5, 6)


@pytest.fixture(scope="module")
def keys():
    return crypto.generate_ed25519(), crypto.generate_ed25519()  # (cooperative, alliance root)


def make(keys, summary=SUMMARY, expiry=date(2029, 1, 1)):
    coop, root = keys
    return make_fragment(summary, coop, expiry, root)


def opened(fragment, root_key, *, gtin=GTIN, lot=LOT, today=TODAY):
    return open_fragment(fragment, crypto.public_key_raw(root_key), expected_gtin=gtin, expected_lot=lot, today=today)


def reason(fragment, root_key, **kwargs) -> str:
    with pytest.raises(CompactError) as caught:
        opened(fragment, root_key, **kwargs)
    return caught.value.reason


def parts(fragment: str) -> bytearray:
    version, _, data = fragment.partition(".")
    assert version == "v1"
    return bytearray(crypto.b64url_decode(data))


def rebuilt(data: bytes) -> str:
    return "v1." + crypto.b64url_encode(bytes(data))


# -- the format ----------------------------------------------------------------------------------
def test_round_trip_returns_the_summary_and_the_key_expiry(keys):
    fragment = make(keys)
    assert fragment.startswith("v1.") and len(fragment) < 400
    summary = opened(fragment, keys[1])
    assert summary == dict(SUMMARY, key_expires="2029-01-01")
    assert opened("#" + fragment, keys[1]) == summary  # as location.hash spells it


def test_layout_is_key_expiry_statement_signature_summary(keys):
    coop, root = keys
    data = parts(make(keys))
    public = crypto.public_key_raw(coop)
    assert data[:32] == public
    assert struct.unpack(">I", data[32:36])[0] == (date(2029, 1, 1) - date(1970, 1, 1)).days
    short_kid = bytes.fromhex(crypto.sha256_hex(public))[:8]
    root.public_key().verify(bytes(data[36:100]), b"nongsan/key/v1" + public + bytes(data[32:36]) + short_kid)
    coop.public_key().verify(bytes(data[100:164]), b"nongsan/summary/v1" + bytes(data[164:]))
    assert json.loads(data[164:]) == SUMMARY
    assert bytes(data[164:]) == json.dumps(SUMMARY, ensure_ascii=False, separators=(",", ":")).encode()


def test_long_names_are_cut_to_48_characters(keys):
    long = dict(SUMMARY, n="Gạo thơm ST25 đặc sản Sóc Trăng, túi 5 kg, vụ Đông Xuân 2026", c="H" * 60)
    summary = opened(make(keys, long), keys[1])
    assert len(summary["n"]) == 48 and summary["n"].endswith("…") and summary["n"].startswith("Gạo thơm ST25")
    assert len(summary["c"]) == 48


def test_a_summary_without_a_gtin_or_dates_is_not_signed(keys):
    with pytest.raises(ValueError):
        make(keys, dict(SUMMARY, g="123"))
    with pytest.raises(ValueError):
        make(keys, dict(SUMMARY, h="1/5/2026"))


# -- every failure, with its reason ----------------------------------------------------------------
@pytest.mark.parametrize("fragment", [
    "", "v1.", "v2.AAAA", "v1", "x.AAAA", "v1.!!!!", "v1.AAAA=", "v1." + "A" * 200, "v1.AB",
])
def test_garbage_is_malformed(keys, fragment):
    assert reason(fragment, keys[1]) == "malformed"


def test_non_canonical_base64_is_malformed(keys):
    """Another spelling of the same bytes (a stray bit in the last character) is refused."""
    data = parts(make(keys))
    if len(data) % 3 == 0:  # then the last character has no unused bits to set
        data = data[:-1]
    fragment = rebuilt(data)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelled = fragment[:-1] + alphabet[alphabet.index(fragment[-1]) ^ 1]
    assert parts(fragment) == data
    assert reason(respelled, keys[1]) == "malformed"


def resigned_body(keys, body: bytes, root_key=None) -> str:
    """Well signed, whatever the summary says: only the format checks can refuse it."""
    coop, root = keys
    public = crypto.public_key_raw(coop)
    expiry = struct.pack(">I", (date(2029, 1, 1) - date(1970, 1, 1)).days)
    statement = (root_key or root).sign(b"nongsan/key/v1" + public + expiry + bytes.fromhex(crypto.sha256_hex(public))[:8])
    return rebuilt(public + expiry + statement + coop.sign(b"nongsan/summary/v1" + body) + body)


@pytest.mark.parametrize("body", [
    b'{"g":"08930000000019","l":"ST25-2611","n":"G","h":"2026-05-01","c":"H","t":"2026-05-05"} ',  # trailing space
    b'{"l":"ST25-2611","g":"08930000000019","n":"G","h":"2026-05-01","c":"H","t":"2026-05-05"}',  # other order
    b'{"g":"08930000000019","l":"ST25-2611","n":"G","h":"2026-05-01","c":"H","t":"2026-05-05","x":"1"}',
    b'{"g":"08930000000019","l":"X","l":"ST25-2611","n":"G","h":"2026-05-01","c":"H","t":"2026-05-05"}',  # duplicate
    b'{"g":"08930000000019","l":"ST25-2611","n":"\\u0047","h":"2026-05-01","c":"H","t":"2026-05-05"}',  # escape
    b'{"g":"08930000000019","l":"ST25-2611","n":"\\ud800","h":"2026-05-01","c":"H","t":"2026-05-05"}',  # lone half
    b'{"g":"08930000000019","l":"ST25-2611","n":"a\\nb","h":"2026-05-01","c":"H","t":"2026-05-05"}',  # control
    b'{"g":8930000000019,"l":"ST25-2611","n":"G","h":"2026-05-01","c":"H","t":"2026-05-05"}',
    b'{"g":"08930000000019","l":"ST25-2611","n":"G","h":"01/05/2026","c":"H","t":"2026-05-05"}',
    '{"g":"08930000000019","l":"ST25-2611","n":"G","h":"2026-05-01","c":"H","t":"2026-05-05"}'.encode("utf-16"),
    b"[]",
])
def test_a_well_signed_summary_in_another_spelling_is_malformed(keys, body):
    assert reason(resigned_body(keys, body), keys[1]) == "malformed"


def test_the_canonical_spelling_resigned_passes(keys):
    body = json.dumps(SUMMARY, ensure_ascii=False, separators=(",", ":")).encode()
    assert opened(resigned_body(keys, body), keys[1])["n"] == SUMMARY["n"]


def test_a_fragment_certified_by_another_root_is_refused(keys):
    other_root = crypto.generate_ed25519()
    fragment = make_fragment(SUMMARY, keys[0], date(2029, 1, 1), other_root)
    assert opened(fragment, other_root)["l"] == LOT  # fine for that root…
    assert reason(fragment, keys[1]) == "bad_key_statement"  # …not for ours


def test_a_key_the_root_never_certified_is_refused(keys):
    data = parts(make(keys))
    data[:32] = crypto.public_key_raw(crypto.generate_ed25519())  # swap in another cooperative key
    assert reason(rebuilt(data), keys[1]) == "bad_key_statement"


def test_a_later_expiry_than_certified_is_refused(keys):
    data = parts(make(keys, expiry=date(2026, 5, 1)))
    data[32:36] = struct.pack(">I", (date(2040, 1, 1) - date(1970, 1, 1)).days)
    assert reason(rebuilt(data), keys[1]) == "bad_key_statement"


def test_an_expired_key_is_refused_the_day_after(keys):
    fragment = make(keys, expiry=date(2026, 5, 6))
    assert opened(fragment, keys[1], today=date(2026, 5, 6))["key_expires"] == "2026-05-06"
    assert reason(fragment, keys[1], today=date(2026, 5, 7)) == "key_expired"


@pytest.mark.parametrize("at", [36, 99], ids=["statement-first", "statement-last"])
def test_a_flipped_key_statement_byte(keys, at):
    data = parts(make(keys))
    data[at] ^= 0x01
    assert reason(rebuilt(data), keys[1]) == "bad_key_statement"


@pytest.mark.parametrize("at", [100, 163], ids=["signature-first", "signature-last"])
def test_a_flipped_summary_signature_byte(keys, at):
    data = parts(make(keys))
    data[at] ^= 0x01
    assert reason(rebuilt(data), keys[1]) == "bad_signature"


def test_a_changed_summary_breaks_the_signature(keys):
    data = parts(make(keys))
    body = bytes(data[164:]).replace("túi 5 kg".encode(), "túi 9 kg".encode())
    assert body != bytes(data[164:])
    assert reason(rebuilt(data[:164] + body), keys[1]) == "bad_signature"


def test_the_summary_of_another_batch_is_the_wrong_batch(keys):
    fragment = make(keys)
    assert reason(fragment, keys[1], lot="ST25-2612") == "wrong_batch"
    assert reason(fragment, keys[1], gtin="08930000000026") == "wrong_batch"


def test_checks_run_in_order(keys):
    """An expired key on the wrong batch with a bad signature: the first failing check names it."""
    data = parts(make(keys, expiry=date(2026, 5, 1)))
    data[120] ^= 1
    assert reason(rebuilt(data), keys[1], lot="OTHER") == "key_expired"
    assert reason(rebuilt(data), keys[1], lot="OTHER", today=date(2026, 4, 1)) == "bad_signature"


def test_an_unknown_reason_is_a_programming_error():
    with pytest.raises(ValueError):
        CompactError("nope")


# -- from a real batch, through the HTTP views -------------------------------------------------------
@pytest.fixture
def labelled(app, factory, session):
    cooperative = factory.cooperative(name="HTX Lúa thơm Sóc Trăng")
    product = factory.product(cooperative, name="Gạo ST25 túi 5 kg")
    batch = factory.batch(cooperative, product, lot="ST25/2611")
    session.commit()
    link = gs1.DigitalLink(product.gtin, batch.lot)
    return cooperative, product, batch, link


def root_raw(app, session) -> bytes:
    from traceability.services import key_service

    with app.app_context():
        return crypto.b64url_decode(key_service(session).alliance_root().public_key)


def fragment_for(app, session, link) -> str:
    from traceability.services import key_service

    with app.app_context():
        return compact.offline_fragment_for(session, key_service(session), link.gtin, link.lot)


def decode_png(data: bytes) -> list[str]:
    import zxingcpp
    from PIL import Image

    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(data)))]


def test_the_fragment_summarises_the_verified_harvest_record(app, session, labelled):
    _cooperative, _product, batch, link = labelled
    summary = open_fragment(fragment_for(app, session, link), root_raw(app, session),
                            expected_gtin=link.gtin, expected_lot=link.lot)
    assert summary["n"] == "Gạo ST25 túi 5 kg" and summary["c"] == "HTX Lúa thơm Sóc Trăng"
    assert summary["h"] == batch.harvest_date.isoformat() and summary["l"] == "ST25/2611"
    assert date.fromisoformat(summary["key_expires"]) > date.today() + timedelta(days=365)


def test_the_offline_qr_code_is_the_digital_link_plus_the_fragment(app, client, session, labelled):
    _cooperative, _product, _batch, link = labelled
    plain = client.get(f"/qr{link.path}.png")
    offline = client.get(f"/qr{link.path}.png?offline=1")
    assert plain.status_code == offline.status_code == 200 and offline.mimetype == "image/png"
    uri = link.uri(app.config["PUBLIC_BASE_URL"])
    fragment = fragment_for(app, session, link)
    assert decode_png(plain.data) == [uri]
    assert decode_png(offline.data) == [f"{uri}#{fragment}"]
    plain_version, offline_version = int(plain.headers["X-QR-Version"]), int(offline.headers["X-QR-Version"])
    assert offline_version > plain_version
    # The header is the version drawn: 8-pixel modules and a 4-module quiet zone on each side.
    from PIL import Image

    assert Image.open(io.BytesIO(offline.data)).size[0] == 8 * (17 + 4 * offline_version + 8)
    assert "no-store" in offline.headers["Cache-Control"]
    svg = client.get(f"/qr{link.path}.svg?offline=1")
    assert svg.mimetype == "image/svg+xml" and svg.headers["X-QR-Version"] == str(offline_version)


def test_info_states_the_version_each_code_costs(app, client, labelled):
    _cooperative, _product, _batch, link = labelled
    plain = client.get(f"/qr{link.path}.svg?info=1")
    offline = client.get(f"/qr{link.path}.svg?offline=1&info=1")
    assert plain.get_json()["version"] == int(plain.headers["X-QR-Version"])
    info = offline.get_json()
    assert info["offline"] is True and info["ec"] == "M" and info["modules"] == 17 + 4 * info["version"]
    assert info["version"] > plain.get_json()["version"]
    assert info["uri_length"] > plain.get_json()["uri_length"] + 200
    higher = client.get(f"/qr{link.path}.svg?offline=1&info=1&ec=H").get_json()
    assert higher["version"] > info["version"] and higher["uri_length"] == info["uri_length"]


def test_the_server_never_receives_the_fragment(app, client, session, labelled):
    _cooperative, _product, _batch, link = labelled
    fragment = fragment_for(app, session, link)
    data = fragment.partition(".")[2]
    with client:
        page = client.get(f"{link.path}#{fragment}")
        received = [request.path, request.full_path, request.url, request.environ.get("QUERY_STRING", ""),
                    request.environ.get("RAW_URI", ""), request.environ.get("REQUEST_URI", ""),
                    *request.args.keys(), *request.args.values()]
    assert page.status_code == 200
    assert not any(data[:40] in text or "#" in text for text in received), received
    html = page.get_data(as_text=True)
    assert data[:40] not in html
    # What the page's script needs: the alliance root key and the batch it is about.
    assert f'data-root-key="{crypto.b64url_encode(root_raw(app, session))}"' in html
    assert f'data-gtin="{link.gtin}"' in html and 'data-lot="ST25/2611"' in html
    assert "js/offline.js" in html


def test_a_key_rotation_signs_with_the_new_active_key(app, session, labelled):
    from traceability.models import KeyOwnerKind
    from traceability.schemas import IssuerRef
    from traceability.services import key_service

    cooperative, _product, _batch, link = labelled
    with app.app_context():
        keys = key_service(session)
        issuer = IssuerRef(KeyOwnerKind.COOPERATIVE, cooperative.id, cooperative.name)
        old = keys.active_key(issuer)
        new = keys.rotate(issuer)
    public = parts(fragment_for(app, session, link))[:32]
    assert public == crypto.b64url_decode(new.public_key) != crypto.b64url_decode(old.public_key)


def test_no_offline_code_for_an_unknown_a_lotless_or_a_recalled_batch(app, client, factory, session, labelled):
    cooperative, product, batch, link = labelled
    assert client.get(f"/qr/01/{product.gtin}/10/NO-SUCH.png?offline=1").status_code == 404
    lotless = client.get(f"/qr/01/{product.gtin}.png?offline=1")
    assert lotless.status_code == 400 and lotless.get_json()["field"] == "lot"
    assert client.get(f"/qr/01/{product.gtin}.png").headers["X-QR-Version"]  # the plain code is fine
    with app.app_context():
        factory.catalog(cooperative).recall_batch(batch.id, "Nhiễm nấm mốc", actor="test")
    session.commit()
    recalled = client.get(f"/qr{link.path}.png?offline=1")
    assert recalled.status_code == 409 and recalled.mimetype == "application/problem+json"
    assert client.get(f"/qr{link.path}.png").status_code == 200
