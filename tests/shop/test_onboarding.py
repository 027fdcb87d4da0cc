"""Onboarding: a cooperative applies, the alliance approves (key and certificate issued) or rejects
with a reason, and only approved cooperatives sell and sign."""

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func
from sqlmodel import select

from shop.accounts.models import Role, User
from kernel.audit.models import AuditEntry
from shop.cooperatives.models import Cooperative, CooperativeStatus
from tests.factories import csrf_token, login
from kernel.outbox import OutboxMessage

WARD_IN_CAN_THO = 31684


def _application(**overrides) -> dict:
    data = {
        "name": "HTX Nông nghiệp Mỹ Xuyên", "registration_no": "1801234567", "province_code": "92",
        "ward_code": str(WARD_IN_CAN_THO), "address": "Ấp Hòa Phuông", "legal_representative": "Lâm Văn Sơn",
        "phone": "0912 345 678", "email": "htx.myxuyen@example.vn", "bank_bin": "970405",
        "bank_account": "7800 2050 12345", "main_products": "Gạo ST25, tôm lúa", "username": "myxuyen",
        "password": "lua-tom-ST25-2026", "password_again": "lua-tom-ST25-2026",
    }
    data.update(overrides)
    return data


def _apply(client, **overrides):
    page = client.get("/apply")
    assert page.status_code == 200
    return client.post("/apply", data={**_application(**overrides), "csrf_token": csrf_token(page.get_data(as_text=True))})


def _counts(session) -> tuple[int, int]:
    return (session.exec(select(func.count()).select_from(Cooperative)).one(),
            session.exec(select(func.count()).select_from(User)).one())


@pytest.fixture
def alliance_client(app, factory):
    factory.user(Role.ALLIANCE_ADMIN, username="lienminh")
    second = app.test_client()
    login(second, "lienminh")
    return second


def _decide(client, cooperative_id: int, action: str, reason: str = ""):
    page = client.get(f"/alliance/cooperatives/{cooperative_id}")
    return client.post(f"/alliance/cooperatives/{cooperative_id}/decision",
                       data={"action": action, "reason": reason, "csrf_token": csrf_token(page.get_data(as_text=True))})


def test_application_creates_a_pending_cooperative_whose_first_login_waits_for_approval(client, session):
    response = _apply(client)
    assert response.status_code == 303 and response.headers["Location"].endswith("/apply/sent")
    cooperative = session.exec(select(Cooperative).where(Cooperative.registration_no == "1801234567")).one()
    assert cooperative.status == CooperativeStatus.PENDING
    assert cooperative.phone == "0912345678"  # normalised
    assert (cooperative.bank_bin, cooperative.bank_account) == ("970405", "7800205012345")
    assert cooperative.main_products == "Gạo ST25, tôm lúa" and cooperative.applied_at is not None
    user = session.exec(select(User).where(User.username == "myxuyen")).one()
    assert user.cooperative_id == cooperative.id and user.is_coop_admin and not user.is_active
    assert user.password_hash.startswith("$argon2id$")
    assert login(client, "myxuyen", "lua-tom-ST25-2026").status_code == 401
    notice = session.exec(select(OutboxMessage).where(OutboxMessage.task_name == "nongsan.cooperatives.send_application_notice")).one()
    assert notice.kwargs["kind"] == "received" and notice.kwargs["cooperative_id"] == cooperative.id
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "cooperative.apply")).one()
    assert entry.after["status"] == "pending" and entry.cooperative_id == cooperative.id


@pytest.mark.parametrize("field,value", [
    ("phone", "12345"),
    ("ward_code", "26734"),  # a ward of Hà Nội, not of Cần Thơ
    ("province_code", "0"),
    ("email", "not-an-address"),
    ("bank_bin", "123456"),
    ("bank_account", "12-34/56"),
    ("username", "Có Dấu"),
    ("password", "short"),
    ("address", "Ấp 3, huyện Mỹ Xuyên, tỉnh Sóc Trăng"),
    ("name", ""),
])
def test_bad_application_names_the_field_and_writes_nothing(client, session, field, value):
    before = _counts(session)
    overrides = {field: value}
    if field == "password":
        overrides["password_again"] = value
    response = _apply(client, **overrides)
    assert response.status_code == 400
    assert f'data-field="{field}"' in response.get_data(as_text=True)
    assert _counts(session) == before


def test_application_errors_are_in_vietnamese_and_english(client):
    vietnamese = _apply(client, phone="12345").get_data(as_text=True)
    assert "Nhập số điện thoại" in vietnamese
    client.set_cookie("lang", "en")
    english = _apply(client, phone="12345").get_data(as_text=True)
    assert "Enter a Vietnamese phone number" in english


def test_application_for_a_registered_cooperative_upgrades_its_registry_row(client, factory, session, app):
    registered = factory.cooperative(approved=False, name="HTX Trong Danh Bạ")
    registered.status = CooperativeStatus.REGISTERED
    session.flush()
    before = _counts(session)
    response = _apply(client, registration_no=registered.registration_no.lower())
    assert response.status_code == 303
    session.refresh(registered)
    assert registered.status == CooperativeStatus.PENDING and registered.name == "HTX Nông nghiệp Mỹ Xuyên"
    assert _counts(session) == (before[0], before[1] + 1)
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "cooperative.apply")).one()
    assert entry.before["status"] == "registered" and entry.after["status"] == "pending"


@pytest.mark.parametrize("status", [CooperativeStatus.PENDING, CooperativeStatus.APPROVED, CooperativeStatus.REJECTED])
def test_application_with_a_number_that_already_applied_is_a_409_naming_the_field(client, factory, session, status):
    existing = factory.cooperative(approved=False)
    existing.status = status
    session.flush()
    before = _counts(session)
    response = _apply(client, registration_no=existing.registration_no)
    assert response.status_code == 409
    assert 'data-field="registration_no"' in response.get_data(as_text=True)
    assert _counts(session) == before


def test_taken_username_is_a_409_on_the_username(client, factory, session):
    factory.user(Role.ALLIANCE_ADMIN, username="myxuyen")
    before = _counts(session)
    response = _apply(client)
    assert response.status_code == 409 and 'data-field="username"' in response.get_data(as_text=True)
    assert _counts(session) == before


def test_application_without_csrf_token_is_refused(client, session):
    before = _counts(session)
    response = client.post("/apply", data=_application())
    assert response.status_code == 400
    assert _counts(session) == before


def test_applications_are_rate_limited(app, client):
    app.config["APPLICATION_RATE_LIMIT"] = "2 per hour"
    assert _apply(client, phone="bad").status_code == 400
    assert _apply(client, phone="bad").status_code == 400
    assert _apply(client).status_code == 429


def test_approval_issues_a_key_whose_certificate_chains_to_the_alliance_and_signs_a_batch_that_verifies(
        app, client, alliance_client, factory, session):
    from traceability import x509ca
    from traceability.schemas import BatchRef, IssuerRef
    from traceability.services import VerificationService, key_service
    from traceability.verification import verify_evidence

    _apply(client)
    cooperative = session.exec(select(Cooperative).where(Cooperative.registration_no == "1801234567")).one()
    queue = alliance_client.get("/alliance/applications").get_data(as_text=True)
    assert f'data-application="{cooperative.id}"' in queue
    assert "Đơn đăng ký đang chờ duyệt: 1" in alliance_client.get("/alliance/").get_data(as_text=True)
    response = _decide(alliance_client, cooperative.id, "approve")
    assert response.status_code == 303
    session.refresh(cooperative)
    assert cooperative.status == CooperativeStatus.APPROVED
    assert f'data-application="{cooperative.id}"' not in alliance_client.get("/alliance/applications").get_data(as_text=True)

    with app.app_context():
        keys = key_service(session)
        key = keys.active_key(IssuerRef("cooperative", cooperative.id, cooperative.name))
        root = x509ca.cert_from_pem(keys.alliance_root().certificate_pem)
        leaf = x509ca.cert_from_pem(key.certificate_pem)
        assert x509ca.verify_chain(leaf, root, datetime.now(timezone.utc)) == []

    # The applicant's login now works, and the cooperative signs its first batch.
    assert login(client, "myxuyen", "lua-tom-ST25-2026").status_code == 302
    product = factory.product(cooperative)
    batch = factory.batch(cooperative, product, lot="MX-001")
    with app.app_context():
        evidence = VerificationService(session, key_service(session)).gather(BatchRef(product.gtin, batch.lot))
    result = verify_evidence(evidence)
    assert result.ok, result.failures
    assert evidence.keys[key.kid].owner_kind == "cooperative"

    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "cooperative.approve")).one()
    assert entry.before["status"] == "pending" and entry.after["status"] == "approved"
    assert entry.after["kid"] == key.kid and entry.actor_label == "lienminh"
    assert entry.after["activated_users"] == ["myxuyen"]


def test_rejection_needs_a_reason_which_is_stored_and_sent_to_the_applicant(client, alliance_client, session):
    _apply(client)
    cooperative = session.exec(select(Cooperative).where(Cooperative.registration_no == "1801234567")).one()
    short = _decide(alliance_client, cooperative.id, "reject", "no")
    assert short.status_code == 400 and 'data-field="reason"' in short.get_data(as_text=True)
    session.refresh(cooperative)
    assert cooperative.status == CooperativeStatus.PENDING
    reason = "Giấy chứng nhận đăng ký hợp tác xã đã hết hiệu lực"
    assert _decide(alliance_client, cooperative.id, "reject", reason).status_code == 303
    session.refresh(cooperative)
    assert cooperative.status == CooperativeStatus.REJECTED and cooperative.decision_reason == reason
    notices = session.exec(select(OutboxMessage).where(OutboxMessage.task_name == "nongsan.cooperatives.send_application_notice")).all()
    assert [n.kwargs["kind"] for n in notices] == ["received", "rejected"]
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "cooperative.reject")).one()
    assert entry.before == {"status": "pending", "reason": None}
    assert entry.after == {"status": "rejected", "reason": reason}
    assert login(client, "myxuyen", "lua-tom-ST25-2026").status_code == 401
    # A rejected application cannot be approved afterwards.
    assert _decide(alliance_client, cooperative.id, "approve").status_code == 409


def test_rejection_notice_reaches_the_applicant_by_mail(app, client, alliance_client, session, tmp_path):
    """The task renders the Vietnamese notice with the reason (the laptop mailer writes .eml files)."""
    from email import message_from_bytes, policy

    from shop.cooperatives.tasks import send_application_notice

    _apply(client)
    cooperative = session.exec(select(Cooperative).where(Cooperative.registration_no == "1801234567")).one()
    _decide(alliance_client, cooperative.id, "reject", "Thiếu giấy chứng nhận an toàn thực phẩm")
    notice = session.exec(select(OutboxMessage).where(OutboxMessage.task_name == "nongsan.cooperatives.send_application_notice")
                          .order_by(OutboxMessage.created_at.desc())).first()
    with app.app_context():
        assert send_application_notice.run(**notice.kwargs) is True
        assert send_application_notice.run(**notice.kwargs) is False  # sent once
    [mail_file] = (tmp_path / "instance" / "mail").glob("*.eml")
    message = message_from_bytes(mail_file.read_bytes(), policy=policy.default)
    assert message["To"] == "htx.myxuyen@example.vn"
    assert "không được duyệt" in message["Subject"]
    assert "Thiếu giấy chứng nhận an toàn thực phẩm" in message.get_body(("plain",)).get_content()
    assert message.get_body(("html",)) is not None


def test_members_cannot_decide_applications(client, factory, session):
    _apply(client)
    cooperative = session.exec(select(Cooperative).where(Cooperative.registration_no == "1801234567")).one()
    other = factory.cooperative()
    factory.user(Role.MEMBER, cooperative_id=other.id, username="member1")
    login(client, "member1")
    assert client.get("/alliance/applications").status_code == 403
    page = client.get("/").get_data(as_text=True)
    response = client.post(f"/alliance/cooperatives/{cooperative.id}/decision",
                           data={"action": "approve", "csrf_token": csrf_token(page)})
    assert response.status_code == 403


# -- enforcement: not approved means no selling and no signing ------------------------------------

@pytest.fixture
def listed(app, factory, session):
    """An approved cooperative with a product and a batch in stock, and an API key for capture."""
    from shop.accounts.apikeys import ApiKeyService

    cooperative = factory.cooperative(name="HTX Sẽ Bị Ngừng")
    product = factory.product(cooperative, name="Bưởi Năm Roi hộp 3 kg", unit_weight_g=3000, price_vnd=150000)
    batch = factory.batch(cooperative, product, lot="NR-01")
    with app.app_context():
        _key, token = ApiKeyService(session).create("cooperative", cooperative.id, "ERP")
    session.flush()
    return cooperative, product, batch, token


def _set_status(app, session, cooperative, status):
    if status == CooperativeStatus.SUSPENDED:
        from shop.cooperatives.services import CooperativeService
        from traceability.services import key_service

        with app.app_context():
            CooperativeService(session, key_service(session)).suspend(cooperative.id, "Vi phạm quy chế bán hàng")
    else:
        cooperative.status = status
    session.flush()


@pytest.mark.parametrize("status", [CooperativeStatus.PENDING, CooperativeStatus.REJECTED, CooperativeStatus.SUSPENDED])
def test_cooperative_that_is_not_approved_cannot_sell(app, client, session, listed, status):
    from shop.catalog.services import PublicCatalog
    from kernel.errors import NotFound
    from shop.orders.schemas import CartLine, CheckoutData
    from shop.orders.services import OrderService

    cooperative, product, batch, _token = listed
    assert "Bưởi Năm Roi" in client.get("/?q=buoi nam roi").get_data(as_text=True)
    _set_status(app, session, cooperative, status)
    assert "Bưởi Năm Roi" not in client.get("/?q=buoi nam roi").get_data(as_text=True)
    assert client.get(f"/htx/{cooperative.slug}").status_code == 404
    with app.app_context():
        assert PublicCatalog(session).find("buoi")[1] == 0
        data = CheckoutData(buyer_name="Trần Văn An", buyer_phone="0912345678", province_code=92,
                            ward_code=WARD_IN_CAN_THO, street="12 Hòa Bình", payment_method="cod")
        with pytest.raises(NotFound) as refused:
            OrderService(session).place("blocked-key-1", [CartLine(batch_id=batch.id, quantity=1)], data)
    assert cooperative.name in refused.value.message and refused.value.field == "cart"
    session.refresh(batch)
    assert batch.stock_units == 33  # nothing taken


@pytest.mark.parametrize("status", [CooperativeStatus.PENDING, CooperativeStatus.REJECTED, CooperativeStatus.SUSPENDED])
def test_cooperative_that_is_not_approved_cannot_sign(app, client, factory, session, listed, status):
    from decimal import Decimal

    from shop.catalog.schemas import BatchCreate, TraceEventCreate
    from kernel.errors import ServiceError
    from traceability import events
    from traceability.models import Credential
    from traceability.schemas import BatchRef, IssuerRef
    from traceability.services import CredentialService, TraceabilityError, key_service

    cooperative, product, batch, token = listed
    signed_before = session.exec(select(func.count()).select_from(Credential)).one()
    _set_status(app, session, cooperative, status)
    with app.app_context():
        catalog = factory.catalog(cooperative)
        with pytest.raises(ServiceError) as refused:
            catalog.create_batch(product.id, BatchCreate(lot="NR-02", harvest_date=date.today(), plot="Vườn 2",
                                                         quantity_kg=Decimal("30")))
        assert refused.value.status == 403
        with pytest.raises(ServiceError):
            catalog.record_event(batch.id, TraceEventCreate(kind="packing", event_date=date.today()))
        keys = key_service(session)
        issuer = IssuerRef("cooperative", cooperative.id, cooperative.name)
        with pytest.raises(TraceabilityError) as key_refused:
            keys.active_key(issuer)
        assert key_refused.value.status == 403
        with pytest.raises(TraceabilityError):
            keys.issue_key(issuer)
        event = events.build_event("packing", event_time=datetime.now(timezone.utc), location={"id": "x", "name": "x"},
                                   quantities=[])
        with pytest.raises(TraceabilityError):
            CredentialService(session, keys).issue(issuer, BatchRef(product.gtin, batch.lot), "packing", event)
    capture = client.post("/epcis/capture", headers={"Authorization": f"Bearer {token}"}, json={
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"], "type": "EPCISDocument",
        "schemaVersion": "2.0", "creationDate": "2026-11-20T08:00:00Z", "epcisBody": {"eventList": [{
            "type": "ObjectEvent", "eventTime": "2026-11-20T08:00:00+07:00", "eventTimeZoneOffset": "+07:00",
            "action": "OBSERVE", "bizStep": "shipping", "disposition": "in_transit",
            "quantityList": [{"epcClass": f"https://id.gs1.org/01/{product.gtin}/10/{batch.lot}", "quantity": 3, "uom": "KGM"}]}]}})
    assert capture.status_code == 403
    assert session.exec(select(func.count()).select_from(Credential)).one() == signed_before


def test_suspension_and_reinstatement_are_audited_and_restore_selling_and_signing(app, client, alliance_client, session, listed):
    from traceability.schemas import IssuerRef
    from traceability.services import key_service

    cooperative, _product, _batch, _token = listed
    assert _decide(alliance_client, cooperative.id, "suspend", "short").status_code == 400
    assert _decide(alliance_client, cooperative.id, "suspend", "Nhiều khiếu nại về chất lượng").status_code == 303
    session.refresh(cooperative)
    assert cooperative.status == CooperativeStatus.SUSPENDED
    assert "Bưởi Năm Roi" not in client.get("/?q=buoi").get_data(as_text=True)
    assert _decide(alliance_client, cooperative.id, "reinstate").status_code == 303
    session.refresh(cooperative)
    assert cooperative.status == CooperativeStatus.APPROVED
    assert "Bưởi Năm Roi" in client.get("/?q=buoi").get_data(as_text=True)
    with app.app_context():
        assert key_service(session).active_key(IssuerRef("cooperative", cooperative.id, cooperative.name))
    actions = session.exec(select(AuditEntry.action).where(AuditEntry.cooperative_id == cooperative.id)
                           .order_by(AuditEntry.id)).all()
    assert actions[-2:] == ["cooperative.suspend", "cooperative.reinstate"]


def test_key_rotation_and_revocation_from_the_console_are_audited(app, alliance_client, session, listed):
    from traceability.schemas import IssuerRef
    from traceability.services import key_service

    cooperative, *_ = listed
    with app.app_context():
        old = key_service(session).active_key(IssuerRef("cooperative", cooperative.id, cooperative.name)).kid
    page = alliance_client.get(f"/alliance/cooperatives/{cooperative.id}").get_data(as_text=True)
    alliance_client.post(f"/alliance/cooperatives/{cooperative.id}/keys", data={"action": "rotate", "csrf_token": csrf_token(page)})
    alliance_client.post(f"/alliance/cooperatives/{cooperative.id}/keys",
                         data={"action": "revoke", "kid": old, "reason": "Máy tính bị mất", "csrf_token": csrf_token(page)})
    rotate = session.exec(select(AuditEntry).where(AuditEntry.action == "key.rotate")).one()
    assert rotate.before == {"active": [old]} and rotate.after["retired"] == [old]
    assert rotate.actor_label == "lienminh" and rotate.cooperative_id == cooperative.id
    revoke = session.exec(select(AuditEntry).where(AuditEntry.action == "key.revoke")).one()
    assert revoke.object_id == old[:80] and revoke.before == {"status": "retired"}
    assert revoke.after["status"] == "revoked" and revoke.after["reason"] == "Máy tính bị mất"


def test_api_key_creation_and_revocation_and_recalls_are_audited(app, client, factory, session, listed):
    cooperative, product, batch, _token = listed
    factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="thukho")
    login(client, "thukho")
    page = client.get("/htx/api-keys").get_data(as_text=True)
    client.post("/htx/api-keys", data={"name": "Phần mềm kho", "csrf_token": csrf_token(page)})
    created = session.exec(select(AuditEntry).where(AuditEntry.action == "apikey.create", AuditEntry.actor_label == "thukho")).one()
    client.post("/htx/api-keys", data={"revoke": created.object_id, "csrf_token": csrf_token(page)})
    revoked = session.exec(select(AuditEntry).where(AuditEntry.action == "apikey.revoke")).one()
    assert revoked.object_id == created.object_id and revoked.after["revoked"] is True
    page = client.get(f"/htx/batches/{batch.id}").get_data(as_text=True)
    client.post(f"/htx/batches/{batch.id}/recall", data={"reason": "Dư lượng thuốc vượt mức", "csrf_token": csrf_token(page)})
    recall = session.exec(select(AuditEntry).where(AuditEntry.action == "batch.recall")).one()
    assert recall.object_id == f"{product.gtin}/{batch.lot}" and recall.cooperative_id == cooperative.id
    assert recall.after["reason"] == "Dư lượng thuốc vượt mức" and recall.actor_label == "thukho"
