"""The demo world `nongsan run` loads into an empty database: every login works and each
cooperative's login is its administrator (it can invite members)."""

from __future__ import annotations

from sqlmodel import select

from shop.accounts.models import Role, User
from shop.cooperatives.models import Cooperative, CooperativeStatus
from shop.seed import is_empty, seed_demo
from tests.factories import login


def test_demo_world_logs_everyone_in_and_cooperatives_have_administrators(app, session, tmp_path):
    with app.app_context():
        assert is_empty(session)
        logins = seed_demo(session, tmp_path)
        session.commit()
    cooperatives = session.exec(select(Cooperative)).all()
    assert len(cooperatives) == 3 and {c.status for c in cooperatives} == {CooperativeStatus.APPROVED}
    users = {u.username: u for u in session.exec(select(User)).all()}
    assert set(logins) <= set(users)
    members = [u for u in users.values() if u.role == Role.MEMBER]
    assert {u.cooperative_id for u in members if u.is_coop_admin} == {c.id for c in cooperatives}
    for username, password in logins.items():
        client = app.test_client()
        assert login(client, username, password).status_code in (302, 303), username
        if users[username].role == Role.MEMBER:
            assert client.get("/htx/members").status_code == 200  # the invitation page
