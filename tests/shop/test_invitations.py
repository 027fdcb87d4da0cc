"""Member invitations: single-use, expiring links sent after commit; only their hash is stored."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from shop.accounts.models import InvitationStatus, MemberInvitation, Role, User
from kernel.audit.models import AuditEntry
from tests.factories import PASSWORD, csrf_token, login
from tests.live import LiveStack, wait_until
from kernel.outbox import OutboxMessage


@pytest.fixture
def coop_admin(app, factory, session, client):
    cooperative = factory.cooperative(name="HTX Hành tím Vĩnh Châu")
    admin = factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="chunhiem")
    admin.is_coop_admin = True
    session.flush()
    login(client, "chunhiem")
    return cooperative, admin


def _invite(client, recipient: str):
    page = client.get("/htx/members")
    assert page.status_code == 200
    return client.post("/htx/members", data={"recipient": recipient, "csrf_token": csrf_token(page.get_data(as_text=True))})


def _token_of(app, session, invitation: MemberInvitation) -> str:
    """The clear token, as the sending task recovers it from the outbox message."""
    from shop.accounts.invitations import link_key, open_token

    message = session.exec(select(OutboxMessage).where(OutboxMessage.task_name == "nongsan.accounts.send_invitation")
                           .order_by(OutboxMessage.created_at.desc())).first()
    assert message.kwargs["invitation_id"] == invitation.id
    return open_token(link_key(app.config["SECRET_KEY"]), invitation.id, message.kwargs["sealed_token"])


def _accept(client, token: str, username: str = "thanhvien1", password: str = "hanh-tim-2026!", **extra):
    page = client.get(f"/invite/{token}")
    if page.status_code != 200:
        return page
    data = {"display_name": "Trần Thị Hoa", "username": username, "password": password, "password_again": password,
            "csrf_token": csrf_token(page.get_data(as_text=True))}
    data.update(extra)
    return client.post(f"/invite/{token}", data=data)


def test_invitation_stores_only_the_hash_and_queues_the_sealed_link(app, client, session, coop_admin):
    cooperative, admin = coop_admin
    response = _invite(client, "Hoa.Tran@Example.vn")
    assert response.status_code == 303
    invitation = session.exec(select(MemberInvitation)).one()
    assert invitation.recipient == "hoa.tran@example.vn" and invitation.channel == "email"
    assert invitation.cooperative_id == cooperative.id and invitation.invited_by == admin.id
    assert timedelta(days=6, hours=23) < invitation.expires_at - invitation.created_at <= timedelta(days=7)
    token = _token_of(app, session, invitation)
    assert invitation.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    message = session.exec(select(OutboxMessage).where(OutboxMessage.task_name == "nongsan.accounts.send_invitation")).one()
    assert token not in str(message.kwargs)  # the clear token is never stored
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "invitation.create")).one()
    assert entry.actor_label == "chunhiem" and entry.after["recipient"] == "hoa.tran@example.vn"


def test_the_validity_of_a_link_is_configurable(app, client, session, coop_admin):
    app.config["INVITATION_VALID_DAYS"] = 2
    _invite(client, "ngan.han@example.vn")
    invitation = session.exec(select(MemberInvitation)).one()
    assert timedelta(days=1, hours=23) < invitation.expires_at - invitation.created_at <= timedelta(days=2)


def test_accepting_creates_a_member_of_that_cooperative_and_the_link_then_answers_410(app, client, session, coop_admin):
    cooperative, _admin = coop_admin
    _invite(client, "hoa@example.vn")
    invitation = session.exec(select(MemberInvitation)).one()
    token = _token_of(app, session, invitation)
    newcomer = app.test_client()
    response = _accept(newcomer, token)
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    user = session.exec(select(User).where(User.username == "thanhvien1")).one()
    assert user.cooperative_id == cooperative.id and user.role == Role.MEMBER and not user.is_coop_admin
    assert user.email == "hoa@example.vn" and user.is_active
    session.refresh(invitation)
    assert invitation.status == InvitationStatus.ACCEPTED and invitation.accepted_user_id == user.id
    assert login(newcomer, "thanhvien1", "hanh-tim-2026!").status_code == 302
    again = app.test_client().get(f"/invite/{token}")
    assert again.status_code == 410 and "đã được dùng" in again.get_data(as_text=True)
    # The new member is an ordinary member: no invitations of their own.
    assert newcomer.get("/htx/members").status_code == 403


def test_expired_revoked_and_unknown_links_are_refused_with_a_clear_page(app, client, session, coop_admin):
    _invite(client, "a@example.vn")
    first = session.exec(select(MemberInvitation)).one()
    expired_token = _token_of(app, session, first)
    first.expires_at = first.created_at - timedelta(minutes=1)
    session.flush()
    page = app.test_client().get(f"/invite/{expired_token}")
    assert page.status_code == 410 and "hết hạn" in page.get_data(as_text=True)

    _invite(client, "b@example.vn")
    second = session.exec(select(MemberInvitation).where(MemberInvitation.recipient == "b@example.vn")).one()
    revoked_token = _token_of(app, session, second)
    members_page = client.get("/htx/members").get_data(as_text=True)
    assert f'data-invitation="{second.id}"' in members_page
    response = client.post(f"/htx/members/invitations/{second.id}/revoke", data={"csrf_token": csrf_token(members_page)})
    assert response.status_code == 303
    assert f'data-invitation="{second.id}"' not in client.get("/htx/members").get_data(as_text=True)
    page = app.test_client().get(f"/invite/{revoked_token}")
    assert page.status_code == 410 and "thu hồi" in page.get_data(as_text=True)
    before = session.exec(select(User)).all()
    assert _accept(app.test_client(), revoked_token).status_code == 410
    assert len(session.exec(select(User)).all()) == len(before)

    assert app.test_client().get("/invite/" + "x" * 43).status_code == 400
    assert app.test_client().get("/invite/short").status_code == 400
    assert session.exec(select(AuditEntry).where(AuditEntry.action == "invitation.revoke")).one().after["status"] == "revoked"


def test_bad_accept_input_names_the_field_and_keeps_the_link_usable(app, client, factory, session, coop_admin):
    _invite(client, "c@example.vn")
    invitation = session.exec(select(MemberInvitation)).one()
    token = _token_of(app, session, invitation)
    visitor = app.test_client()
    short = _accept(visitor, token, password="ngan")
    assert short.status_code == 400 and 'data-field="password"' in short.get_data(as_text=True)
    taken = _accept(visitor, token, username="chunhiem")
    assert taken.status_code == 409 and 'data-field="username"' in taken.get_data(as_text=True)
    mismatch = _accept(visitor, token, password_again="khac-hoan-toan")
    assert mismatch.status_code == 400 and 'data-field="password_again"' in mismatch.get_data(as_text=True)
    session.refresh(invitation)
    assert invitation.status == InvitationStatus.PENDING
    assert _accept(visitor, token).status_code == 303


def test_too_short_a_name_is_named_in_vietnamese_with_its_limits(app, client, session, coop_admin):
    _invite(client, "ngan@example.vn")
    token = _token_of(app, session, session.exec(select(MemberInvitation)).one())
    page = _accept(app.test_client(), token, display_name="A").get_data(as_text=True)
    assert "Nhập từ 2 đến 120 ký tự." in page and "Field must be" not in page


def test_inviting_again_replaces_the_earlier_link(app, client, session, coop_admin):
    _invite(client, "d@example.vn")
    old = session.exec(select(MemberInvitation)).one()
    old_token = _token_of(app, session, old)
    _invite(client, "d@example.vn")
    session.refresh(old)
    assert old.status == InvitationStatus.REVOKED
    assert app.test_client().get(f"/invite/{old_token}").status_code == 410


def test_bad_recipient_is_named_and_sms_needs_a_gateway(app, client, session, coop_admin):
    response = _invite(client, "không phải địa chỉ")
    assert response.status_code == 400 and 'data-field="recipient"' in response.get_data(as_text=True)
    response = _invite(client, "0912 345 678")
    assert response.status_code == 400 and "e-mail" in response.get_data(as_text=True)
    assert session.exec(select(MemberInvitation)).all() == []
    app.config["MESSAGE_WEBHOOK_URL"] = "http://127.0.0.1:9/gateway"
    assert _invite(client, "0912 345 678").status_code == 303
    invitation = session.exec(select(MemberInvitation)).one()
    assert (invitation.channel, invitation.recipient) == ("sms", "0912345678")


def test_only_the_cooperatives_administrator_invites_and_only_its_own_invitations_are_revoked(app, client, factory, session, coop_admin):
    cooperative, _admin = coop_admin
    _invite(client, "e@example.vn")
    invitation = session.exec(select(MemberInvitation)).one()
    factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="thuongvien")
    member = app.test_client()
    login(member, "thuongvien")
    assert member.get("/htx/members").status_code == 403
    other = factory.cooperative(name="HTX Khác")
    other_admin = factory.user(Role.MEMBER, cooperative_id=other.id, username="khac")
    other_admin.is_coop_admin = True
    session.flush()
    stranger = app.test_client()
    login(stranger, "khac")
    page = stranger.get("/htx/members").get_data(as_text=True)
    assert "e@example.vn" not in page
    response = stranger.post(f"/htx/members/invitations/{invitation.id}/revoke", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 404
    session.refresh(invitation)
    assert invitation.status == InvitationStatus.PENDING
    assert client.get("/htx/members").status_code == 200


def test_a_pending_cooperative_cannot_invite(app, client, factory, session):
    cooperative = factory.cooperative(approved=False)
    admin = factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="cho")
    admin.is_coop_admin = True
    session.flush()
    login(client, "cho")
    assert _invite(client, "f@example.vn").status_code == 403
    assert session.exec(select(MemberInvitation)).all() == []


def test_administrator_sets_a_members_password_and_switches_accounts_off_audited(app, client, factory, session, coop_admin):
    cooperative, admin = coop_admin
    member = factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="quenmatkhau")
    other_cooperative = factory.cooperative(name="HTX Bên Cạnh")
    stranger = factory.user(Role.MEMBER, cooperative_id=other_cooperative.id, username="benkia")
    old_session = app.test_client()
    login(old_session, "quenmatkhau")
    assert old_session.get("/htx/").status_code == 200
    page = client.get("/htx/members").get_data(as_text=True)
    token = csrf_token(page)
    short = client.post(f"/htx/members/{member.id}", data={"action": "password", "password": "ngan", "csrf_token": token})
    assert short.status_code == 400
    response = client.post(f"/htx/members/{member.id}", data={"action": "password", "password": "mat-khau-moi-2026",
                                                               "csrf_token": token})
    assert response.status_code == 303
    assert old_session.get("/htx/").status_code == 302  # the old session ended with the old password
    assert login(app.test_client(), "quenmatkhau").status_code == 401
    assert login(app.test_client(), "quenmatkhau", "mat-khau-moi-2026").status_code == 302
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "user.password_change")).one()
    assert entry.actor_label == "chunhiem" and entry.object_id == str(member.id) and entry.cooperative_id == cooperative.id
    assert "argon2" not in str(entry.before) + str(entry.after)

    assert client.post(f"/htx/members/{member.id}", data={"action": "deactivate", "csrf_token": token}).status_code == 303
    assert login(app.test_client(), "quenmatkhau", "mat-khau-moi-2026").status_code == 401
    assert session.exec(select(AuditEntry).where(AuditEntry.action == "user.deactivate")).one().after["is_active"] is False
    assert client.post(f"/htx/members/{admin.id}", data={"action": "deactivate", "csrf_token": token}).status_code == 409
    assert client.post(f"/htx/members/{stranger.id}", data={"action": "password", "password": "chiem-quyen-2026",
                                                            "csrf_token": token}).status_code == 404
    assert login(app.test_client(), "benkia").status_code == 302  # untouched


def test_an_administrator_cannot_take_over_or_switch_off_a_fellow_administrator(app, client, factory, session, coop_admin):
    cooperative, _admin = coop_admin
    peer = factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="phonhiem")
    peer.is_coop_admin = True
    session.commit()
    token = csrf_token(client.get("/htx/members").get_data(as_text=True))
    client.set_cookie("lang", "en")
    taken = client.post(f"/htx/members/{peer.id}", data={"action": "password", "password": "chiem-quyen-2026",
                                                         "csrf_token": token})
    assert taken.status_code == 403 and "also an administrator" in taken.get_data(as_text=True)
    assert client.post(f"/htx/members/{peer.id}", data={"action": "deactivate", "csrf_token": token}).status_code == 403
    assert login(app.test_client(), "phonhiem").status_code == 302  # same password, still active
    assert session.exec(select(AuditEntry).where(AuditEntry.object_id == str(peer.id))).first() is None


def _decide(app, factory, cooperative, action: str, reason: str = "Vi phạm quy định ghi nhãn"):
    factory.user(Role.ALLIANCE_ADMIN, username=f"lienminh-{action}")
    alliance = app.test_client()
    login(alliance, f"lienminh-{action}")
    page = alliance.get(f"/alliance/cooperatives/{cooperative.id}").get_data(as_text=True)
    return alliance.post(f"/alliance/cooperatives/{cooperative.id}/decision",
                         data={"action": action, "reason": reason, "csrf_token": csrf_token(page)})


def test_suspension_withdraws_pending_invitations_and_their_links_stop_working(app, client, factory, session, coop_admin):
    cooperative, _admin = coop_admin
    _invite(client, "muon@example.vn")
    invitation = session.exec(select(MemberInvitation)).one()
    token = _token_of(app, session, invitation)
    session.commit()
    assert _decide(app, factory, cooperative, "suspend").status_code == 303
    session.expire_all()
    assert session.get(MemberInvitation, invitation.id).status == InvitationStatus.REVOKED
    withdrawn = session.exec(select(AuditEntry).where(AuditEntry.action == "invitation.revoke")).one()
    assert withdrawn.object_id == str(invitation.id) and withdrawn.after["reason"] == "Vi phạm quy định ghi nhãn"
    assert _accept(app.test_client(), token).status_code == 410
    assert session.exec(select(User).where(User.username == "thanhvien1")).first() is None


def test_a_pending_link_of_a_cooperative_no_longer_approved_is_refused(app, client, factory, session, coop_admin):
    from shop.cooperatives.models import CooperativeStatus

    cooperative, _admin = coop_admin
    _invite(client, "tre@example.vn")
    token = _token_of(app, session, session.exec(select(MemberInvitation)).one())
    cooperative.status = CooperativeStatus.SUSPENDED  # a link sent before suspension withdrew invitations
    session.commit()
    page = app.test_client().get(f"/invite/{token}")
    assert page.status_code == 410
    assert _accept(app.test_client(), token).status_code == 410
    assert session.exec(select(User).where(User.username == "thanhvien1")).first() is None


# -- the whole journey over HTTP, with a real worker process and a real SMTP server ---------------

@pytest.fixture
def live(tmp_path):
    stack = LiveStack(tmp_path)
    try:
        yield stack
    finally:
        stack.close()


def _submit(client: httpx.Client, path: str, data: dict) -> httpx.Response:
    page = client.get(path).text
    return client.post(path, data={**data, "csrf_token": csrf_token(page)})


def _login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return _submit(client, "/login", {"username": username, "password": password})


def _mail_to(live, address: str, subject_part: str):
    def find():
        return next((m for m in live.mail.messages if m["To"] == address and subject_part in m["Subject"]), None)
    return wait_until(find, message=f"mail to {address} ({subject_part})")


@pytest.mark.e2e
def test_apply_approve_list_invite_accept_over_http_with_mail(live):
    from shop.accounts.services import AccountService
    from kernel.db import unit_of_work

    with live.app.app_context(), unit_of_work() as session:
        AccountService(session).create_user(username="lienminh", password=PASSWORD, display_name="Liên minh",
                                            role=Role.ALLIANCE_ADMIN)
    live.start_worker()
    applicant = httpx.Client(base_url=live.base_url, timeout=20)
    alliance = httpx.Client(base_url=live.base_url, timeout=20)
    invitee = httpx.Client(base_url=live.base_url, timeout=20)

    response = _submit(applicant, "/apply", {
        "name": "HTX Bưởi Năm Roi Kế Sách", "registration_no": "1807654321", "province_code": "92", "ward_code": "31684",
        "address": "Ấp An Phú", "legal_representative": "Nguyễn Văn Tâm", "phone": "+84 912 000 111",
        "email": "buoi@htx.example.vn", "bank_bin": "", "bank_account": "", "main_products": "Bưởi Năm Roi",
        "username": "buoiketsach", "password": "buoi-nam-roi-2026", "password_again": "buoi-nam-roi-2026"})
    assert response.status_code == 303, response.text
    _mail_to(live, "buoi@htx.example.vn", "Đã nhận đơn")

    assert _login(alliance, "lienminh", PASSWORD).status_code == 302
    queue = alliance.get("/alliance/applications").text
    cooperative_id = int(re.search(r'data-application="(\d+)"', queue).group(1))
    page = alliance.get(f"/alliance/cooperatives/{cooperative_id}").text
    response = alliance.post(f"/alliance/cooperatives/{cooperative_id}/decision",
                             data={"action": "approve", "reason": "", "csrf_token": csrf_token(page)})
    assert response.status_code == 303, response.text
    approved = _mail_to(live, "buoi@htx.example.vn", "đã được duyệt")
    assert f"{live.base_url}/login" in approved.get_body(("plain",)).get_content()

    assert _login(applicant, "buoiketsach", "buoi-nam-roi-2026").status_code == 302
    listed = _submit(applicant, "/htx/products/new", {"name": "Bưởi Năm Roi hộp 3 kg", "category": "fruit", "sale_unit": "box",
                                                      "unit_weight_g": "3000", "price_vnd": "150000"})
    assert listed.status_code == 303, listed.text  # the first product of the newly approved cooperative
    assert _submit(applicant, "/htx/members", {"recipient": "con.gai@example.vn"}).status_code == 303
    mail = _mail_to(live, "con.gai@example.vn", "Lời mời tham gia")
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    link = re.search(re.escape(live.base_url) + r"/invite/[A-Za-z0-9_-]+", text).group(0)
    assert link in html and "HTX Bưởi Năm Roi Kế Sách" in text

    response = _submit(invitee, link, {"display_name": "Nguyễn Thị Bé", "username": "be.nguyen",
                                       "password": "vuon-buoi-2026", "password_again": "vuon-buoi-2026"})
    assert response.status_code == 303, response.text
    assert _login(invitee, "be.nguyen", "vuon-buoi-2026").status_code == 302
    assert invitee.get("/htx/").status_code == 200
    assert httpx.get(link).status_code == 410
    audit = alliance.get("/audit").text
    for action in ("cooperative.apply", "cooperative.approve", "invitation.create", "invitation.accept"):
        assert action in audit


def test_an_sms_invitation_goes_once_through_the_signed_gateway_and_its_link_is_not_kept(app, client, session, coop_admin):
    import json

    from shop.accounts.tasks import send_invitation
    from tests.workers.test_webhook_delivery import Receiver
    from workers import webhooks
    from workers.notifications.models import Notification

    gateway = Receiver()
    try:
        secret = webhooks.new_secret()
        app.config.update(MESSAGE_WEBHOOK_URL=gateway.url, MESSAGE_WEBHOOK_SECRETS=secret)
        assert _invite(client, "0912 345 678").status_code == 303
        invitation = session.exec(select(MemberInvitation)).one()
        message = session.exec(select(OutboxMessage).where(OutboxMessage.task_name == "nongsan.accounts.send_invitation")).one()
        with app.app_context():
            assert send_invitation.run(**message.kwargs) is True
            assert send_invitation.run(**message.kwargs) is False  # a re-run sends nothing twice
        [(headers, body)] = gateway.requests
        webhooks.verify([secret], headers, body)
        sent = json.loads(body)
        link = f"/invite/{_token_of(app, session, invitation)}"
        assert sent["to"] == "0912345678" and link in sent["text"]
        record = session.exec(select(Notification).where(Notification.channel == "sms")).one()
        assert record.status == "sent" and "/invite/" not in record.subject
    finally:
        gateway.close()
