from sqlmodel import select

from shop.accounts.models import Role, User
from tests.factories import PASSWORD, csrf_token, login


def test_password_is_stored_as_argon2_hash(factory, session):
    user = factory.user(Role.ALLIANCE_ADMIN, username="hashcheck")
    stored = session.get(User, user.id).password_hash
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_member_logs_in_and_reaches_back_office(client, factory):
    cooperative = factory.cooperative()
    factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="member1")
    response = login(client, "member1")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/htx/")
    assert client.get("/htx/").status_code == 200


def test_session_cookie_is_httponly_and_samesite_lax(client, factory):
    cooperative = factory.cooperative()
    factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="cookie")
    response = login(client, "cookie")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_wrong_password_is_refused_with_a_message(client, factory):
    factory.user(Role.ALLIANCE_ADMIN, username="admin2")
    response = login(client, "admin2", "wrong password!!")
    assert response.status_code == 401
    assert "Wrong username or password" in response.get_data(as_text=True) or "Sai tên" in response.get_data(as_text=True)
    assert client.get("/alliance/").status_code == 302  # still anonymous: sent to the login page


def test_login_without_csrf_token_is_refused(client, factory):
    factory.user(Role.ALLIANCE_ADMIN, username="nocsrf")
    response = client.post("/login", data={"username": "nocsrf", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/alliance/").status_code == 302


def test_login_is_rate_limited(app, client, factory):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    factory.user(Role.ALLIANCE_ADMIN, username="limited")
    statuses = [login(client, "limited", "bad password 1").status_code for _ in range(4)]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3] == 429
    # even the right password waits until the window passes
    assert login(client, "limited").status_code == 429


def test_roles_cannot_open_each_others_areas(client, factory):
    partner = factory.partner()
    factory.user(Role.PARTNER, partner_id=partner.id, username="post1")
    login(client, "post1")
    assert client.get("/post/").status_code == 200
    assert client.get("/htx/").status_code == 403
    assert client.get("/alliance/").status_code == 403


def test_changing_password_ends_other_sessions(client, factory, session):
    from shop.accounts.services import hash_password

    factory.user(Role.ALLIANCE_ADMIN, username="rotating")
    login(client, "rotating")
    assert client.get("/alliance/").status_code == 200
    user = session.exec(select(User).where(User.username == "rotating")).one()
    user.password_hash = hash_password("a brand new password")
    session.commit()
    assert client.get("/alliance/").status_code == 302


def test_open_redirect_after_login_is_ignored(client, factory):
    factory.user(Role.ALLIANCE_ADMIN, username="redir")
    page = client.get("/login")
    response = client.post("/login?next=//evil.example/", data={
        "username": "redir", "password": PASSWORD, "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.headers["Location"] == "/alliance/"
