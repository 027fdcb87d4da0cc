"""The audit log pages: read-only, filtered, scoped to the reader's cooperative, exportable."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from sqlmodel import select

from shop.accounts.models import Role
from kernel.audit.models import AuditEntry
from kernel.audit.services import AuditLog
from tests.factories import login


@pytest.fixture
def entries(app, factory, session):
    """Two cooperatives with entries at known times, plus one alliance-wide entry."""
    ours = factory.cooperative(name="HTX Của Mình")
    theirs = factory.cooperative(name="HTX Của Người Khác")
    for earlier in session.exec(select(AuditEntry)):  # the factory's own approvals: not part of this story
        session.delete(earlier)
    log = AuditLog(session)
    made = [
        log.record("cooperative.approve", "cooperative", ours.id, before={"status": "pending"},
                   after={"status": "approved", "kid": "did:web:x#abc"}, cooperative_id=ours.id, actor_label="lienminh"),
        log.record("key.revoke", "signing_key", "did:web:x#abc", before={"status": "active"},
                   after={"status": "revoked", "reason": "Mất máy"}, cooperative_id=ours.id, actor_label="lienminh"),
        log.record("cooperative.reject", "cooperative", theirs.id, before={"status": "pending"},
                   after={"status": "rejected", "reason": "Bí mật của họ"}, cooperative_id=theirs.id, actor_label="lienminh"),
        log.record("tariff.publish", "tariff", 3, after={"version": 3}, actor_label="lienminh"),
    ]
    # 18:30 UTC on 1 March is 01:30 on 2 March in Hồ Chí Minh City.
    made[0].at = datetime(2026, 3, 1, 18, 30, tzinfo=timezone.utc)
    made[1].at = datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc)
    made[2].at = datetime(2026, 3, 5, 9, 0, tzinfo=timezone.utc)
    made[3].at = datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc)
    session.flush()
    return ours, theirs, made


@pytest.fixture
def alliance(app, factory):
    factory.user(Role.ALLIANCE_ADMIN, username="kiemtoan")
    client = app.test_client()
    login(client, "kiemtoan")
    return client


def _rows(page: str) -> list[int]:
    import re

    return [int(n) for n in re.findall(r'data-entry="(\d+)"', page)]


def test_alliance_sees_every_entry_newest_first_with_local_times_and_a_readable_diff(alliance, entries):
    _ours, _theirs, made = entries
    page = alliance.get("/audit").get_data(as_text=True)
    ids = _rows(page)
    assert ids[:4] == [made[3].id, made[1].id, made[2].id, made[0].id]
    assert "01:30 02/03/2026" in page
    assert "<del>Chờ duyệt</del> → <ins>Đã duyệt</ins>" in page  # statuses in the reader's words
    assert "Duyệt đơn đăng ký" in page and "cooperative.approve" in page
    assert "<del>—</del> → <ins>did:web:x#abc</ins>" in page  # a field that only exists after


def test_filters_by_action_cooperative_and_local_date_range(alliance, entries):
    ours, theirs, made = entries
    assert _rows(alliance.get("/audit?action=key.revoke").get_data(as_text=True)) == [made[1].id]
    assert set(_rows(alliance.get(f"/audit?cooperative={theirs.id}").get_data(as_text=True))) == {made[2].id}
    # 2 March local covers 18:30 UTC on 1 March; the end day is included.
    page = alliance.get("/audit?from=2026-03-02&to=05/03/2026").get_data(as_text=True)
    assert set(_rows(page)) == {made[0].id, made[2].id}
    assert _rows(alliance.get("/audit?from=2026-03-03&to=2026-03-04").get_data(as_text=True)) == []


def test_bad_dates_are_named(alliance, entries):
    response = alliance.get("/audit?from=31-02-2026")
    assert response.status_code == 400 and 'data-field="from"' in response.get_data(as_text=True)
    response = alliance.get("/audit?from=2026-03-05&to=2026-03-01")
    assert response.status_code == 400 and 'data-field="to"' in response.get_data(as_text=True)


@pytest.mark.parametrize("query, field", [("to=9999-12-31", "to"), ("from=0001-01-01", "from"),
                                          ("from=31/12/1899", "from"), ("to=01/01/2101", "to")])
@pytest.mark.parametrize("path", ["/audit", "/audit/export.csv", "/audit/export.xlsx"])
def test_dates_outside_the_supported_years_are_refused_by_field(alliance, entries, path, query, field):
    response = alliance.get(f"{path}?{query}")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "1900" in text and "2100" in text  # the message says which years are accepted
    assert f'data-field="{field}"' in text or path != "/audit"


def test_a_huge_page_number_is_an_empty_page_not_an_error(alliance, entries):
    response = alliance.get("/audit?page=99999999999999999999999")
    assert response.status_code == 200 and _rows(response.get_data(as_text=True)) == []


def test_pages_of_fifty(alliance, session, entries):
    log = AuditLog(session)
    for n in range(60):
        log.record("apikey.create", "api_key", f"k{n}", after={"name": f"key {n}"}, actor_label="bench")
    session.flush()
    first = alliance.get("/audit?action=apikey.create").get_data(as_text=True)
    second = alliance.get("/audit?action=apikey.create&page=2").get_data(as_text=True)
    assert len(_rows(first)) == 50 and len(_rows(second)) == 10
    assert not set(_rows(first)) & set(_rows(second))
    assert 'rel="next"' in first and "page=2" in first and "action=apikey.create" in first


def test_a_member_sees_only_its_own_cooperatives_entries(app, factory, session, entries):
    ours, theirs, made = entries
    factory.user(Role.MEMBER, cooperative_id=ours.id, username="xavien").is_coop_admin = True
    session.commit()
    member = app.test_client()
    login(member, "xavien")
    page = member.get("/audit").get_data(as_text=True)
    assert set(_rows(page)) == {made[0].id, made[1].id}
    assert "Bí mật của họ" not in page and "tariff.publish" not in page
    assert set(_rows(member.get(f"/audit?cooperative={theirs.id}").get_data(as_text=True))) == {made[0].id, made[1].id}
    csv_text = member.get("/audit/export.csv").get_data().decode("utf-8-sig")
    assert "Bí mật của họ" not in csv_text and "Mất máy" in csv_text


def test_a_plain_member_cannot_read_the_log_nor_see_its_link(app, factory, entries):
    ours, _theirs, _made = entries
    factory.user(Role.MEMBER, cooperative_id=ours.id, username="thanhvien")
    member = app.test_client()
    login(member, "thanhvien")
    assert member.get("/audit").status_code == 403
    assert member.get("/audit/export.csv").status_code == 403
    home = member.get("/htx/")
    assert home.status_code == 200 and "/audit" not in home.get_data(as_text=True)


def test_people_without_audit_rights_are_kept_out(app, client, factory, entries):
    assert client.get("/audit").status_code == 302  # to the login page
    partner = factory.partner()
    factory.user(Role.PARTNER, partner_id=partner.id, username="buucuc")
    login(client, "buucuc")
    assert client.get("/audit").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/audit", "/audit/export.csv"])
def test_the_log_is_read_only(alliance, session, entries, method, path):
    before = len(session.exec(select(AuditEntry)).all())
    assert alliance.open(path, method=method).status_code == 405
    assert len(session.exec(select(AuditEntry)).all()) == before


def test_csv_and_xlsx_exports_follow_the_filters(alliance, entries):
    from openpyxl import load_workbook

    _ours, _theirs, made = entries
    response = alliance.get("/audit/export.csv?action=cooperative.approve")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="nhat-ky-quan-tri.csv"' in response.headers["Content-Disposition"]
    lines = response.get_data().decode("utf-8-sig").strip().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("02/03/2026 01:30,lienminh,")
    assert "cooperative.approve" not in lines[1] and "HTX Của Mình" in lines[1]
    workbook = load_workbook(io.BytesIO(alliance.get("/audit/export.xlsx").get_data()))
    sheet = workbook.active
    assert sheet.max_row == 1 + len(made)
    assert alliance.get("/audit/export.pdf").status_code == 404

def test_every_action_written_anywhere_has_a_label_in_both_languages():
    """An action code added to a service must get a readable name on the audit page."""
    import re
    from pathlib import Path

    from shop.audit.views import ACTION_LABELS

    root = Path(__file__).resolve().parents[2]
    written = set()
    for package in ("shop", "workers", "traceability"):
        for path in (root / package).rglob("*.py"):
            written.update(re.findall(r'record\(\s*"([a-z_]+\.[a-z_]+)"', path.read_text(encoding="utf-8")))
            written.update(re.findall(r'"(user\.(?:de)?activate)"', path.read_text(encoding="utf-8")))
    assert written, "the scan found no audit actions at all"
    assert sorted(written - set(ACTION_LABELS)) == []
