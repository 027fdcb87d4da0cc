"""The promise: a consumer can trust the record without trusting the website. Every kind of
tampering is caught and named."""

import json
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import select

from shop.catalog.schemas import TraceEventCreate
from traceability import crypto
from traceability.models import Credential, LogEntry, SigningKey
from traceability.schemas import BatchRef, IssuerRef
from traceability.services import CredentialService, VerificationService, key_service, transparency_log
from traceability.verification import Evidence, verify_evidence


@pytest.fixture
def batch_with_events(app, factory, session):
    cooperative = factory.cooperative()
    product = factory.product(cooperative)
    batch = factory.batch(cooperative, product, lot="ST25-T1")
    with app.app_context():
        catalog = factory.catalog(cooperative)
        for kind, extra in [("diary", {"input_name": "Phân NPK", "pre_harvest_interval_days": 0}),
                            ("packing", {}), ("inspection", {"certificate_no": "VG-123"})]:
            catalog.record_event(batch.id, TraceEventCreate(kind=kind, event_date=date.today(), **extra))
    return cooperative, product, batch


def _verify(app, session, gtin, lot):
    with app.app_context():
        return VerificationService(session, key_service(session)).verify_batch(BatchRef(gtin, lot))


def _credentials(session, product, batch):
    return session.exec(select(Credential).where(Credential.gtin == product.gtin, Credential.lot == batch.lot).order_by(Credential.seq)).all()


def test_genuine_batch_verifies_every_step(app, session, batch_with_events):
    _, product, batch = batch_with_events
    result = _verify(app, session, product.gtin, batch.lot)
    assert result.ok, result.failures
    assert len(result.credentials) == 4
    assert all({c.name for c in r.checks} == {"signature", "certificate", "key_status", "subject", "hash_chain", "log_inclusion"}
               for r in result.credentials)


def test_edited_payload_is_caught(app, session, batch_with_events):
    _, product, batch = batch_with_events
    credential = _credentials(session, product, batch)[0]
    header, payload, signature = credential.jws.split(".")
    body = json.loads(crypto.b64url_decode(payload))
    body["credentialSubject"][0]["ilmd"]["plot"] = "Ruộng khác"
    credential.jws = ".".join([header, crypto.b64url_encode(json.dumps(body).encode()), signature])
    session.flush()
    result = _verify(app, session, product.gtin, batch.lot)
    assert not result.ok
    assert "1:bad_signature" in result.failures


def test_swapped_signature_is_caught(app, session, batch_with_events):
    _, product, batch = batch_with_events
    first, second = _credentials(session, product, batch)[:2]
    first.jws = first.jws.rsplit(".", 1)[0] + "." + second.jws.rsplit(".", 1)[1]
    session.flush()
    assert "1:bad_signature" in _verify(app, session, product.gtin, batch.lot).failures


def test_deleted_event_breaks_the_chain(app, session, batch_with_events):
    _, product, batch = batch_with_events
    session.delete(_credentials(session, product, batch)[1])
    session.flush()
    failures = _verify(app, session, product.gtin, batch.lot).failures
    assert "2:reordered" in failures  # the third record now stands second


def test_reordered_events_are_caught(app, session, batch_with_events):
    _, product, batch = batch_with_events
    records = _credentials(session, product, batch)
    records[1].seq, records[2].seq = 99, 2
    session.flush()
    records[1].seq = 3
    session.flush()
    failures = _verify(app, session, product.gtin, batch.lot).failures
    assert "2:reordered" in failures and "3:reordered" in failures


def test_credential_resigned_by_another_cooperative_is_caught(app, factory, session, batch_with_events):
    _, product, batch = batch_with_events
    intruder = factory.cooperative(name="HTX Mạo danh")
    record = _credentials(session, product, batch)[2]
    with app.app_context():
        keys = key_service(session)
        key = keys.active_key(IssuerRef("cooperative", intruder.id, intruder.name))
        root = keys.alliance_root()
        payload = json.loads(crypto.jws_parse_unverified(record.jws)[1])
        for claimed in (payload["issuer"]["id"], key.kid.split("#")[0]):  # keeping or swapping the issuer
            payload["issuer"]["id"] = claimed
            record.jws = CredentialService(session, keys)._sign(payload, key, root, keys.private_key(key))
            record.issuer_kid = key.kid
            session.flush()
            failures = _verify(app, session, product.gtin, batch.lot).failures
            assert any(f in failures for f in ("3:issuer_mismatch", "3:foreign_issuer")), failures


def test_key_used_after_revocation_fails_but_earlier_signatures_stand(app, session, batch_with_events):
    cooperative, product, batch = batch_with_events
    from traceability.models import Checkpoint

    records = _credentials(session, product, batch)
    last = session.exec(select(LogEntry).where(LogEntry.sha256 == records[-1].sha256)).one()
    # the key is revoked at the moment the log first showed the last record: that record (and
    # anything signed later) no longer counts, the earlier ones were provably logged before
    first_showing_last = session.exec(select(Checkpoint).where(Checkpoint.tree_size > last.index).order_by(Checkpoint.tree_size)).first()
    with app.app_context():
        keys = key_service(session)
        key = keys.active_key(IssuerRef("cooperative", cooperative.id, cooperative.name))
        keys.revoke(key.kid, "phone with the key was stolen", at=first_showing_last.created_at)
    result = _verify(app, session, product.gtin, batch.lot)
    assert result.failures == ["4:key_revoked"]


def test_removed_log_entry_is_caught_and_named_by_the_audit(app, session, batch_with_events):
    _, product, batch = batch_with_events
    record = _credentials(session, product, batch)[1]
    entry = session.exec(select(LogEntry).where(LogEntry.sha256 == record.sha256)).one()
    session.delete(entry)
    session.flush()
    failures = _verify(app, session, product.gtin, batch.lot).failures
    assert "2:not_in_log" in failures
    with app.app_context():
        findings = transparency_log(session, key_service(session)).audit()
    assert f"missing log entry at index {entry.index}" in findings


def test_edited_log_entry_is_named_by_the_audit(app, session, batch_with_events):
    _, product, batch = batch_with_events
    record = _credentials(session, product, batch)[0]
    entry = session.exec(select(LogEntry).where(LogEntry.sha256 == record.sha256)).one()
    entry.leaf_hash = "00" * 32
    session.flush()
    with app.app_context():
        findings = transparency_log(session, key_service(session)).audit()
    assert f"log entry {entry.index} does not match its document" in findings
    assert any("does not match the stored entries" in f for f in findings)


def test_rotated_key_signs_new_records_and_old_ones_still_verify(app, session, factory, batch_with_events):
    cooperative, product, batch = batch_with_events
    issuer = IssuerRef("cooperative", cooperative.id, cooperative.name)
    with app.app_context():
        keys = key_service(session)
        old = keys.active_key(issuer)
        new = keys.rotate(issuer)
        factory.catalog(cooperative).record_event(batch.id, TraceEventCreate(kind="shipping", event_date=date.today()))
    assert old.status == "retired" and new.kid != old.kid
    records = _credentials(session, product, batch)
    assert records[-1].issuer_kid == new.kid and records[0].issuer_kid == old.kid
    assert _verify(app, session, product.gtin, batch.lot).ok


def test_offline_bundle_round_trips_and_detects_tampering(app, session, client, batch_with_events, tmp_path, runner_env=None):
    _, product, batch = batch_with_events
    response = client.get(f"/api/bundle/01/{product.gtin}/10/{batch.lot}")
    assert response.status_code == 200
    evidence = Evidence.from_bundle(response.get_json())
    assert verify_evidence(evidence).ok
    again = Evidence.from_bundle(json.loads(json.dumps(evidence.to_bundle())))
    assert verify_evidence(again).ok
    again.credentials[2] = again.credentials[2][:-4] + ("AAAA" if not again.credentials[2].endswith("AAAA") else "BBBB")
    assert "3:bad_signature" in verify_evidence(again).failures
    # an attacker's own "root" in the bundle does not help when the verifier pins the real one
    from traceability.x509ca import create_root, cert_to_pem

    _, fake_root = create_root("Fake", "Fake")
    forged = Evidence.from_bundle(response.get_json())
    forged.root_certificate_pem = cert_to_pem(fake_root)
    assert not verify_evidence(forged).ok


def test_did_documents_list_current_and_past_keys(app, client, session, batch_with_events):
    cooperative, *_ = batch_with_events
    with app.app_context():
        key_service(session).rotate(IssuerRef("cooperative", cooperative.id, cooperative.name))
    session.commit()
    document = client.get(f"/cooperative/{cooperative.id}/did.json").get_json()
    assert document["id"].startswith("did:web:nongsan.test:cooperative:")
    assert len(document["verificationMethod"]) == 2 and len(document["assertionMethod"]) == 1
    assert client.get("/.well-known/did.json").get_json()["id"] == "did:web:nongsan.test"
    assert client.get("/cooperative/999999/did.json").status_code == 404


def test_private_keys_are_stored_encrypted(session, batch_with_events):
    for key in session.exec(select(SigningKey)):
        assert key.sealed_private_key.startswith("nsk1.")
        assert "PRIVATE KEY" not in key.sealed_private_key


def test_processing_links_batches_one_step_back_and_forward_and_flags_mass_balance(app, client, factory, session):
    from decimal import Decimal

    cooperative = factory.cooperative()
    paddy = factory.product(cooperative, name="Lúa ST25 tươi", price_vnd=9_000, unit_weight_g=1000)
    rice = factory.product(cooperative, name="Gạo ST25 xát trắng", price_vnd=40_000, unit_weight_g=1000)
    batch = factory.batch(cooperative, paddy, lot="LUA-01", quantity_kg=Decimal("1000"))
    with app.app_context():
        factory.catalog(cooperative).record_event(batch.id, TraceEventCreate(
            kind="processing", event_date=date.today(), input_kg=Decimal("1000"), output_kg=Decimal("1200"),
            output_product_id=rice.id, output_lot="GAO-01"))
    session.commit()
    paddy_page = client.get(f"/01/{paddy.gtin}/10/LUA-01").get_data(as_text=True)
    rice_page = client.get(f"/01/{rice.gtin}/10/GAO-01")
    assert rice_page.status_code == 200 and 'data-verified="true"' in rice_page.get_data(as_text=True)
    assert f"/01/{rice.gtin}/10/GAO-01" in paddy_page and 'class="made-into"' in paddy_page
    assert f"/01/{paddy.gtin}/10/LUA-01" in rice_page.get_data(as_text=True)
    assert 'data-code="mass_balance"' in paddy_page  # 1200 kg out of 1000 kg in


def test_harvest_inside_the_pre_harvest_interval_is_flagged(app, client, factory, session):
    cooperative = factory.cooperative()
    product = factory.product(cooperative)
    batch = factory.batch(cooperative, product, lot="PHI-01")  # harvested three days ago
    with app.app_context():
        factory.catalog(cooperative).record_event(batch.id, TraceEventCreate(
            kind="diary", event_date=date.today() - timedelta(days=10), input_name="Thuốc trừ sâu X", dose="20 ml/bình",
            pre_harvest_interval_days=14))
        findings = factory.catalog(cooperative).findings(batch.id)
    session.commit()
    assert [f.code for f in findings] == ["inside_pre_harvest_interval"]
    assert "Thuốc trừ sâu X" in findings[0].message_vi
    page = client.get(f"/01/{product.gtin}/10/PHI-01").get_data(as_text=True)
    assert 'data-code="inside_pre_harvest_interval"' in page


def test_pure_mass_balance_rule():
    from traceability import events

    ok = {"processType": "processing", "inputQuantityList": [{"quantity": 100, "uom": "KGM"}],
          "outputQuantityList": [{"quantity": 68, "uom": "KGM"}]}
    assert events.mass_balance_findings([ok], harvested_kg=100) == []
    assert [f.code for f in events.mass_balance_findings([ok, ok], harvested_kg=150)] == ["mass_balance"]


def test_alliance_recalls_any_batch_and_manages_keys_from_the_console(app, client, factory, session, batch_with_events):
    from shop.accounts.models import Role
    from tests.factories import csrf_token, login

    cooperative, product, batch = batch_with_events
    factory.user(Role.ALLIANCE_ADMIN, username="lmhtx")
    session.commit()
    login(client, "lmhtx")
    page = client.get("/alliance/recall").get_data(as_text=True)
    bad = client.post("/alliance/recall", data={"gtin": "123", "lot": batch.lot, "reason": "Nhiễm khuẩn", "csrf_token": csrf_token(page)})
    assert bad.status_code == 400 and 'data-field="gtin"' in bad.get_data(as_text=True)
    done = client.post("/alliance/recall", data={"gtin": product.gtin, "lot": batch.lot, "reason": "Nhiễm khuẩn Salmonella",
                                                 "csrf_token": csrf_token(page)})
    assert done.status_code == 303
    assert client.get(f"/01/{product.gtin}/10/{batch.lot}").status_code == 410
    verification = client.get(f"/api/verify/01/{product.gtin}/10/{batch.lot}").get_json()
    assert verification["verified"] is True  # the alliance's own signature on the recall counts

    detail = client.get(f"/alliance/cooperatives/{cooperative.id}").get_data(as_text=True)
    client.post(f"/alliance/cooperatives/{cooperative.id}/keys", data={"action": "rotate", "csrf_token": csrf_token(detail)})
    with app.app_context():
        keys = key_service(session).keys_of(IssuerRef("cooperative", cooperative.id, cooperative.name))
    assert [k.status for k in keys] == ["retired", "active"]
    client.post(f"/alliance/cooperatives/{cooperative.id}/keys", data={"action": "revoke", "kid": keys[1].kid,
                                                                        "reason": "lost phone", "csrf_token": csrf_token(detail)})
    session.expire_all()
    assert session.get(SigningKey, keys[1].id).status == "revoked"


def test_member_cannot_use_the_alliance_recall_or_key_pages(client, factory, session, batch_with_events):
    from shop.accounts.models import Role
    from tests.factories import login

    cooperative, *_ = batch_with_events
    factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="htxmember")
    session.commit()
    login(client, "htxmember")
    assert client.get("/alliance/recall").status_code == 403
    assert client.get(f"/alliance/cooperatives/{cooperative.id}").status_code == 403


def test_a_bundle_with_its_own_log_key_cannot_vouch_for_a_revoked_key(app, client, session, batch_with_events):
    from traceability import merkle
    from traceability.transparency import TIME_EXTENSION

    cooperative, product, batch = batch_with_events
    with app.app_context():
        keys = key_service(session)
        keys.revoke(keys.active_key(IssuerRef("cooperative", cooperative.id, cooperative.name)).kid, "stolen",
                    at=datetime.now(timezone.utc) - timedelta(days=1))
    session.commit()
    bundle = client.get(f"/api/bundle/01/{product.gtin}/10/{batch.lot}").get_json()
    evidence = Evidence.from_bundle(bundle)
    assert all(f.endswith("key_revoked") for f in verify_evidence(evidence).failures)
    # the thief signs a backdated checkpoint with a log key of his own and ships it in the bundle
    thief = crypto.generate_ed25519()
    first = json.loads(json.dumps(bundle))
    for sha, proof in first["log"]["proofs"].items():
        opened = merkle.open_checkpoint(first["log"]["checkpoint"], first["log"]["origin"], crypto.b64url_decode(first["log"]["publicKey"]))
        body = merkle.format_checkpoint(opened.origin, opened.size, opened.root) + f"{TIME_EXTENSION} 2000-01-01T00:00:00+00:00\n"
        proof["dated"] = dict(proof, checkpoint=merkle.sign_note(body, first["log"]["origin"], thief))
    first["log"]["publicKey"] = crypto.b64url_encode(crypto.public_key_raw(thief.public_key()))
    first["log"]["checkpoint"] = merkle.sign_note(merkle.format_checkpoint(opened.origin, opened.size, opened.root), first["log"]["origin"], thief)
    forged = verify_evidence(Evidence.from_bundle(first))
    assert not forged.ok and "log_key_mismatch" in forged.failures


def test_naive_revocation_time_in_a_bundle_is_read_as_utc(client, batch_with_events):
    _, product, batch = batch_with_events
    bundle = client.get(f"/api/bundle/01/{product.gtin}/10/{batch.lot}").get_json()
    for key in bundle["keys"]:
        key["revokedAt"] = "2000-01-01T00:00:00"
    result = verify_evidence(Evidence.from_bundle(bundle))
    assert result.failures and all(f.endswith("key_revoked") for f in result.failures)
