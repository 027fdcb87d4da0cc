"""The alliance's registry: the form, the list with its filters, unions and their members, exports."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlmodel import func, select

from shop.accounts.models import Role
from kernel.audit.models import AuditEntry
from shop.cooperatives.models import Cooperative
from shop.registry.models import RegistryOcopProduct, RegistryProfile
from tests.factories import csrf_token, login

# Thành phố Cần Thơ and two of its communes since 1 July 2025.
CAN_THO = 92
WARD = 31684
OTHER_WARD = 31150  # Phường An Bình


@pytest.fixture
def admin(app, factory, session):
    factory.user(Role.ALLIANCE_ADMIN, username="registrar")
    session.commit()
    client = app.test_client()
    login(client, "registrar")
    return client


def _form(**overrides) -> dict:
    values = {
        "name": "Hợp tác xã Nông nghiệp Hòa Tú", "kind": "cooperative", "registration_no": "1800123456",
        "province": str(CAN_THO), "ward": str(WARD), "address": "Ấp Hòa Thành", "legal_representative": "Trần Văn Lúa",
        "phone": "0912 345 678", "email": "", "sector": "crops", "founded_on": "15/05/2019", "member_count": "27",
        "charter_capital_vnd": "1.500.000.000", "union": "", "certifications": "VietGAP",
        "ocop_products": "Gạo ST25 (4 sao)\nHành tím (3 sao)", "survey_notes": "Khảo sát 2024: ổn định.",
    }
    values.update(overrides)
    return values


def _post(client, path: str, data: dict, **kwargs):
    page = client.get(path, **kwargs)
    assert page.status_code == 200, page.status_code
    return client.post(path, data={**data, "csrf_token": csrf_token(page.get_data(as_text=True))}, **kwargs)


def _count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_new_entry_is_registered_with_its_profile_and_audited(admin, session):
    response = _post(admin, "/alliance/registry/new", _form())
    assert response.status_code == 303
    cooperative = session.exec(select(Cooperative).where(Cooperative.registration_no == "1800123456")).one()
    assert cooperative.status == "registered" and cooperative.slug == "hop-tac-xa-nong-nghiep-hoa-tu"
    assert cooperative.phone == "0912345678"
    profile = session.get(RegistryProfile, cooperative.id)
    assert (profile.sector, profile.member_count, profile.charter_capital_vnd) == ("crops", 27, 1_500_000_000)
    assert profile.founded_on.isoformat() == "2019-05-15"
    ocop = session.exec(select(RegistryOcopProduct).where(RegistryOcopProduct.cooperative_id == cooperative.id)
                        .order_by(RegistryOcopProduct.id)).all()
    assert [(o.name, o.stars) for o in ocop] == [("Gạo ST25", 4), ("Hành tím", 3)]
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "registry.create")).one()
    assert entry.object_id == str(cooperative.id) and entry.actor_label == "registrar"
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Gạo ST25" in page and "1.500.000.000 ₫" in page and "Trồng trọt" in page


def test_form_names_each_bad_field_in_vietnamese_and_writes_nothing(admin, session):
    before = _count(session, Cooperative)
    response = _post(admin, "/alliance/registry/new", _form(
        name="", phone="12345", address="Ấp 3, huyện Long Phú, tỉnh Sóc Trăng", founded_on="31/02/2020",
        ocop_products="Gạo ST25 (7 sao)", charter_capital_vnd="nhiều"))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    for field in ("name", "phone", "address", "founded_on", "ocop_products", "charter_capital_vnd"):
        assert f'data-field="{field}"' in page, field
    assert "Thành phố Cần Thơ" in page and "Sóc Trăng" in page  # the old province, and where it went
    assert "3, 4 hoặc 5 sao" in page
    assert _count(session, Cooperative) == before and _count(session, RegistryProfile) == 0


def test_form_errors_are_in_english_when_the_interface_is(admin):
    response = _post(admin, "/alliance/registry/new", _form(phone="12345", ward="0"),
                     headers={"Accept-Language": "en"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Enter one Vietnamese phone number" in page and '<html lang="en">' in page


def test_a_new_entry_cannot_take_an_existing_registration_number(admin, factory, session):
    existing = factory.cooperative(name="HTX Có Trước")
    session.commit()
    response = _post(admin, "/alliance/registry/new", _form(registration_no=existing.registration_no))
    assert response.status_code == 400 and 'data-field="registration_no"' in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(Cooperative, existing.id).name == "HTX Có Trước"


def test_edit_records_before_and_after(admin, session):
    _post(admin, "/alliance/registry/new", _form())
    cooperative = session.exec(select(Cooperative).where(Cooperative.registration_no == "1800123456")).one()
    response = _post(admin, f"/alliance/registry/{cooperative.id}/edit", _form(member_count="31", ocop_products=""))
    assert response.status_code == 303
    session.expire_all()
    assert session.get(RegistryProfile, cooperative.id).member_count == 31
    assert _count(session, RegistryOcopProduct) == 0
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "registry.update")).one()
    assert entry.before["member_count"] == 27 and entry.after["member_count"] == 31
    assert entry.before["ocop_products"] == "Gạo ST25 (4 sao); Hành tím (3 sao)" and entry.after["ocop_products"] == ""


def test_a_cooperative_that_applied_keeps_its_own_details(admin, factory, session):
    approved = factory.cooperative(name="HTX Đã Duyệt")
    session.commit()
    page = admin.get(f"/alliance/registry/{approved.id}/edit").get_data(as_text=True)
    assert 'id="name" name="name" type="text" value="HTX Đã Duyệt" disabled' in page
    response = _post(admin, f"/alliance/registry/{approved.id}/edit", _form(name="Tên khác hẳn", member_count="12"))
    assert response.status_code == 303
    session.expire_all()
    assert session.get(Cooperative, approved.id).name == "HTX Đã Duyệt"
    assert session.get(Cooperative, approved.id).status == "approved"
    assert session.get(RegistryProfile, approved.id).member_count == 12
    detail = admin.get(f"/alliance/registry/{approved.id}").get_data(as_text=True)
    assert f"/alliance/cooperatives/{approved.id}" in detail and 'data-status="approved"' in detail


def _entry(admin, session, **overrides) -> Cooperative:
    response = _post(admin, "/alliance/registry/new", _form(**overrides))
    assert response.status_code == 303, response.get_data(as_text=True)[-2000:]
    return session.exec(select(Cooperative).where(Cooperative.registration_no == overrides["registration_no"])).one()


def test_union_lists_its_members_and_exports_them(admin, session):
    union = _entry(admin, session, name="Liên hiệp HTX Lúa gạo Sóc Trăng", kind="union", registration_no="LH-001",
                   ocop_products="", sector="agri_services")
    _entry(admin, session, name="HTX Thành viên Một", registration_no="TV-001", union="LH-001", ocop_products="")
    _entry(admin, session, name="Tổ hợp tác Hai", kind="group", registration_no="TV-002", union="LH-001", ocop_products="")
    _entry(admin, session, name="HTX Ở ngoài", registration_no="TV-003", ocop_products="")
    page = admin.get(f"/alliance/registry/{union.id}").get_data(as_text=True)
    assert 'data-registration-no="TV-001"' in page and 'data-registration-no="TV-002"' in page
    assert 'data-registration-no="TV-003"' not in page
    exported = admin.get(f"/alliance/registry/{union.id}/members.csv")
    assert exported.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Tên", "Loại hình", "Số ĐKKD"]
    assert sorted(row[2] for row in rows[1:]) == ["TV-001", "TV-002"] and {row[15] for row in rows[1:]} == {"LH-001"}
    workbook = load_workbook(io.BytesIO(admin.get(f"/alliance/registry/{union.id}/members.xlsx").data), read_only=True)
    assert len(list(workbook.worksheets[0].iter_rows(values_only=True))) == 3


def test_a_union_cannot_join_a_union_nor_stop_being_one_while_it_has_members(admin, session):
    union = _entry(admin, session, name="Liên hiệp HTX Một", kind="union", registration_no="LH-1", ocop_products="")
    _entry(admin, session, name="HTX Con", registration_no="C-1", union="LH-1", ocop_products="")
    nested = _post(admin, "/alliance/registry/new", _form(name="Liên hiệp HTX Hai", kind="union", registration_no="LH-2",
                                                          union="LH-1", ocop_products=""))
    assert nested.status_code == 400 and 'data-field="union"' in nested.get_data(as_text=True)
    demoted = _post(admin, f"/alliance/registry/{union.id}/edit", _form(name="Liên hiệp HTX Một", kind="cooperative",
                                                                        registration_no="LH-1", ocop_products=""))
    assert demoted.status_code == 400 and 'data-field="kind"' in demoted.get_data(as_text=True)


def test_list_filters_search_and_pages(admin, session, app):
    _entry(admin, session, name="HTX Hành tím Vĩnh Châu", registration_no="F-1", sector="crops", ocop_products="")
    _entry(admin, session, name="HTX Tôm sú", registration_no="F-2", sector="aquaculture", ward=str(OTHER_WARD),
           ocop_products="")
    _entry(admin, session, name="Tổ hợp tác Đan lát", kind="group", registration_no="F-3", sector="handicrafts",
           ocop_products="")

    def found(query: str) -> set[str]:
        page = admin.get(f"/alliance/registry/?{query}").get_data(as_text=True)
        return {number for number in ("F-1", "F-2", "F-3") if f'data-registration-no="{number}"' in page}

    assert found("q=hanh+tim") == {"F-1"}  # without diacritics
    assert found("q=f-2") == {"F-2"}  # registration number, any case
    assert found("kind=group") == {"F-3"}
    assert found("sector=aquaculture") == {"F-2"}
    assert found(f"province={CAN_THO}&ward={OTHER_WARD}") == {"F-2"}
    assert found("status=registered") == {"F-1", "F-2", "F-3"}
    assert found("status=approved") == set()
    assert found("kind=nonsense&page=99999999999") == set()  # unknown filters are dropped, pages clamped: no 500
    csv_text = admin.get("/alliance/registry/export.csv?sector=crops").data.decode("utf-8-sig")
    assert "F-1" in csv_text and "F-2" not in csv_text

    from shop.registry import views

    views.PER_PAGE, saved = 2, views.PER_PAGE
    try:
        first = admin.get("/alliance/registry/?q=htx").get_data(as_text=True)  # slug search: 'htx' is in two names
        assert 'rel="next"' not in first
        everything = admin.get("/alliance/registry/").get_data(as_text=True)
        assert 'rel="next"' in everything
        second = admin.get("/alliance/registry/?page=2").get_data(as_text=True)
        assert second.count("data-registration-no=") == 1
    finally:
        views.PER_PAGE = saved


def test_registry_pages_are_for_the_alliance_only(app, factory, session, admin):
    cooperative = factory.cooperative()
    factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="htxclerk")
    session.commit()
    member = app.test_client()
    login(member, "htxclerk")
    for path in ("/alliance/registry/", f"/alliance/registry/{cooperative.id}", "/alliance/registry/new",
                 "/alliance/registry/import", "/alliance/registry/export.csv"):
        assert member.get(path).status_code == 403, path
        assert app.test_client().get(path).status_code == 302, path
    assert admin.get("/alliance/registry/999999").status_code == 404
    assert "/alliance/registry/" in admin.get("/alliance/").get_data(as_text=True)  # the console's nav line


def test_registry_only_entries_stay_off_the_platform_list(admin, factory, session):
    """The console's cooperative list is for those that applied; the registry pages hold the rest."""
    applied = factory.cooperative(name="HTX Đã Đăng Ký Bán")
    session.commit()
    assert _post(admin, "/alliance/registry/new", _form(name="Tổ hợp tác Chỉ Có Trong Sổ")).status_code == 303
    home = admin.get("/alliance/").get_data(as_text=True)
    assert applied.name in home
    assert "Tổ hợp tác Chỉ Có Trong Sổ" not in home
    assert "Tổ hợp tác Chỉ Có Trong Sổ" in admin.get("/alliance/registry/").get_data(as_text=True)


def test_the_consoles_cooperative_list_downloads_as_csv_and_xlsx(admin, factory, session, app):
    applied = factory.cooperative(name="HTX Xuất Bảng Tính")
    session.commit()
    text = admin.get("/alliance/cooperatives.csv").get_data(as_text=True)
    assert text.startswith("\ufeff") and "HTX Xuất Bảng Tính" in text and applied.registration_no in text
    assert "Đã duyệt" in text  # the status in words
    sheet = load_workbook(io.BytesIO(admin.get("/alliance/cooperatives.xlsx").data)).active
    names = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert "HTX Xuất Bảng Tính" in names
    assert admin.get("/alliance/cooperatives.pdf").status_code == 404
    member = app.test_client()
    factory.user(Role.MEMBER, cooperative_id=applied.id, username="xuatbang")
    session.commit()
    login(member, "xuatbang")
    assert member.get("/alliance/cooperatives.csv").status_code == 403
