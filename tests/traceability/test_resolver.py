"""The resolver at the Digital Link paths, checked against the GS1 conformance list, EPCIS and
UNTP outputs validated against the official schemas, EPCIS capture, and offline verification."""

import json
from datetime import date

import jsonschema
import pytest
from click.testing import CliRunner

from shop.accounts.apikeys import ApiKeyService
from shop.catalog.schemas import TraceEventCreate
from traceability import crypto

from tests.conformance import CONFORMANCE


def _schema(*parts):
    return json.loads((CONFORMANCE.joinpath(*parts)).read_text())


@pytest.fixture
def traced(app, factory, session):
    cooperative = factory.cooperative()
    product = factory.product(cooperative, name="Gạo ST25 Sóc Trăng")
    batch = factory.batch(cooperative, product, lot="ST25-R1")
    with app.app_context():
        factory.catalog(cooperative).record_event(batch.id, TraceEventCreate(kind="packing", event_date=date.today()))
    session.commit()
    return cooperative, product, batch


def test_default_link_is_the_human_trace_page_with_linkset_header_and_cors(client, traced):
    _, product, batch = traced
    response = client.get(f"/01/{product.gtin}/10/{batch.lot}")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert 'rel="linkset"' in response.headers["Link"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert client.head(f"/01/{product.gtin}/10/{batch.lot}").status_code == 200
    options = client.options(f"/01/{product.gtin}/10/{batch.lot}")
    assert options.status_code == 204 and "GET" in options.headers["Access-Control-Allow-Methods"]
    assert client.get(f"/01/{product.gtin}/10/{batch.lot}/").status_code == 200  # trailing slash tolerated


def test_linkset_lists_links_with_titles_for_each_level(client, traced):
    _, product, batch = traced
    response = client.get(f"/01/{product.gtin}/10/{batch.lot}?linkType=linkset")
    assert response.mimetype == "application/linkset+json"
    linkset = response.get_json()["linkset"]
    anchors = [entry["anchor"] for entry in linkset]
    assert anchors == [f"https://nongsan.test/01/{product.gtin}/10/{batch.lot}", f"https://nongsan.test/01/{product.gtin}"]
    for entry in linkset:
        for relation, links in entry.items():
            if relation.startswith("https://"):
                assert all(link["href"] and link["title"] for link in links)
    assert "https://ref.gs1.org/voc/defaultLink" in linkset[0]
    assert client.get(f"/01/{product.gtin}/10/{batch.lot}?linkType=all").get_json() == response.get_json()


def test_malformed_unknown_and_unsupported_requests(client, traced):
    _, product, batch = traced
    bad = client.get(f"/01/{product.gtin[:-1]}0/10/{batch.lot}")
    assert bad.status_code in (400,) and bad.mimetype == "application/problem+json"
    assert bad.get_json()["field"] == "gtin" or product.gtin.endswith("0")
    assert client.get(f"/01/{product.gtin}/10/NO-SUCH-LOT").status_code == 404
    assert client.get(f"/01/{product.gtin}/10/{batch.lot}?linkType=gs1:nonsense").status_code == 404
    description = client.get("/.well-known/gs1resolver").get_json()
    assert description["resolverRoot"] == "https://nongsan.test" and "gtin" in description["supportedPrimaryKeys"]


def test_epcis_document_is_valid_against_the_official_schema(client, traced):
    _, product, batch = traced
    response = client.get(f"/01/{product.gtin}/10/{batch.lot}?linkType=gs1:traceability")
    assert response.mimetype == "application/ld+json"
    document = response.get_json()
    jsonschema.validate(document, _schema("epcis", "EPCIS-JSON-Schema.json"))
    events = document["epcisBody"]["eventList"]
    assert [e["bizStep"] for e in events] == ["commissioning", "packing"]
    assert all(e["eventID"].startswith("ni:///sha-256;") and e["eventID"].endswith("?ver=CBV2.0") for e in events)


def test_event_credentials_and_passport_are_valid_untp(app, client, traced, session):
    from sqlmodel import select

    from traceability.models import Credential

    _, product, batch = traced
    dte, dpp = _schema("untp", "dte-schema-0.6.0.json"), _schema("untp", "dpp-schema-0.6.0.json")
    for credential in session.exec(select(Credential).where(Credential.gtin == product.gtin)):
        payload = json.loads(crypto.jws_parse_unverified(credential.jws)[1])
        jsonschema.validate(payload, dte, format_checker=jsonschema.FormatChecker())
    response = client.get(f"/01/{product.gtin}/10/{batch.lot}?linkType=untp:dpp")
    assert response.mimetype == "application/vc+jwt"
    header, payload, _input, _signature = crypto.jws_parse_unverified(response.get_data(as_text=True))
    assert header["typ"] == "vc+jwt" and header["alg"] == "EdDSA"
    passport = json.loads(payload)
    jsonschema.validate(passport, dpp, format_checker=jsonschema.FormatChecker())
    assert len(passport["credentialSubject"]["traceabilityInformation"][0]["traceabilityEvent"]) == 2


def test_recalled_batch_answers_410_with_red_banner_and_recalled_disposition(app, client, factory, session, traced):
    cooperative, product, batch = traced
    with app.app_context():
        factory.catalog(cooperative).recall_batch(batch.id, "Phát hiện dư lượng thuốc bảo vệ thực vật", actor="member:1")
    session.commit()
    page = client.get(f"/01/{product.gtin}/10/{batch.lot}")
    assert page.status_code == 410
    assert 'id="recall-banner"' in page.get_data(as_text=True)
    assert "dư lượng thuốc" in page.get_data(as_text=True)
    document = client.get(f"/01/{product.gtin}/10/{batch.lot}?linkType=gs1:epcis")
    assert document.status_code == 410
    assert document.get_json()["epcisBody"]["eventList"][-1]["disposition"] == "recalled"
    assert client.get(f"/api/verify/01/{product.gtin}/10/{batch.lot}").get_json()["verified"] is True


def test_offline_verify_command(app, client, traced, tmp_path):
    from shop.cli import main

    _, product, batch = traced
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(client.get(f"/api/bundle/01/{product.gtin}/10/{batch.lot}").data)
    runner = CliRunner()
    result = runner.invoke(main, ["verify", str(bundle)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "VERIFIED" in result.output
    data = json.loads(bundle.read_text())
    data["credentials"].reverse()
    bundle.write_text(json.dumps(data))
    result = runner.invoke(main, ["verify", str(bundle)])
    assert result.exit_code == 1 and "reordered" in result.output
    pinned = runner.invoke(main, ["verify", str(bundle), "--root-sha256", "00" * 32])
    assert pinned.exit_code == 1 and "pinned" in pinned.output


def _capture_doc(gtin: str, lot: str, **override):
    event = {
        "type": "ObjectEvent", "eventTime": "2026-11-20T08:00:00+07:00", "eventTimeZoneOffset": "+07:00",
        "action": "OBSERVE", "bizStep": "shipping", "disposition": "in_transit",
        "quantityList": [{"epcClass": f"https://id.gs1.org/01/{gtin}/10/{lot}", "quantity": 100, "uom": "KGM"}],
    }
    event.update(override)
    return {"@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"], "type": "EPCISDocument",
            "schemaVersion": "2.0", "creationDate": "2026-11-20T08:00:00Z", "epcisBody": {"eventList": [event]}}


def test_epcis_capture_signs_events_into_the_batch_chain(app, client, factory, session, traced):
    cooperative, product, batch = traced
    app.config["EPCIS_SCHEMA_PATH"] = str(CONFORMANCE / "epcis" / "EPCIS-JSON-Schema.json")
    with app.app_context():
        _key, token = ApiKeyService(session).create("cooperative", cooperative.id, "ERP")
    session.commit()
    response = client.post("/epcis/capture", json=_capture_doc(product.gtin, batch.lot),
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.get_json()
    verification = client.get(f"/api/verify/01/{product.gtin}/10/{batch.lot}").get_json()
    assert verification["verified"] and len(verification["credentials"]) == 3


def test_epcis_capture_refuses_bad_documents_with_problem_json(app, client, factory, session, traced):
    cooperative, product, batch = traced
    other = factory.cooperative()
    with app.app_context():
        _key, token = ApiKeyService(session).create("cooperative", cooperative.id, "ERP")
        _key, intruder = ApiKeyService(session).create("cooperative", other.id, "ERP")
    session.commit()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post("/epcis/capture", json=_capture_doc(product.gtin, batch.lot)).status_code == 401
    assert client.post("/epcis/capture", json=_capture_doc(product.gtin, batch.lot),
                       headers={"Authorization": "Bearer ns_nope_nope"}).status_code == 401
    missing = _capture_doc(product.gtin, batch.lot)
    del missing["epcisBody"]["eventList"][0]["eventTime"]
    response = client.post("/epcis/capture", json=missing, headers=auth)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert any(e["pointer"] == "/epcisBody/eventList/0/eventTime" for e in response.get_json()["errors"])
    foreign = client.post("/epcis/capture", json=_capture_doc(product.gtin, batch.lot),
                          headers={"Authorization": f"Bearer {intruder}"})
    assert foreign.status_code == 403
    assert client.post("/epcis/capture", data="{not json", headers={**auth, "Content-Type": "application/json"}).status_code == 400
    verification = client.get(f"/api/verify/01/{product.gtin}/10/{batch.lot}").get_json()
    assert len(verification["credentials"]) == 2  # nothing was written


def test_log_endpoints_give_checkable_proofs(client, traced, session):
    from traceability import merkle

    _, product, batch = traced
    key = client.get("/log/key").get_json()
    note = client.get("/log/checkpoint").get_data(as_text=True)
    checkpoint = merkle.open_checkpoint(note, key["origin"], crypto.b64url_decode(key["publicKey"]))
    bundle = client.get(f"/api/bundle/01/{product.gtin}/10/{batch.lot}").get_json()
    token = bundle["credentials"][0]
    sha = crypto.sha256_hex(token.encode())
    proof = client.get(f"/log/proof/inclusion?sha256={sha}").get_json()
    assert merkle.verify_inclusion(merkle.leaf_hash(token.encode()), proof["index"], checkpoint.size,
                                   [crypto.b64url_decode(p) for p in proof["proof"]], checkpoint.root)
    consistency = client.get(f"/log/proof/consistency?first=1&second={checkpoint.size}").get_json()
    assert len(consistency["proof"]) >= 0
    assert client.get("/log/proof/inclusion?sha256=xyz").status_code == 400
    assert client.get("/log/proof/consistency?first=5&second=2").status_code == 400
