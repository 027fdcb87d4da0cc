"""Importing the alliance's spreadsheets: a preview with every problem, then all rows or none."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook
from sqlmodel import func, select

from shop.accounts.models import Role
from kernel.audit.models import AuditEntry
from shop.cooperatives.models import Cooperative
from kernel.exports import csv_bytes, xlsx_bytes
from shop.registry.importer import read_sheet
from shop.registry.models import PendingImport, RegistryOcopProduct, RegistryProfile
from tests.factories import csrf_token, login

HEADER = ["Tên", "Loại hình", "Số ĐKKD", "Tỉnh/Thành phố", "Xã/Phường", "Địa chỉ", "Người đại diện", "Điện thoại",
          "Lĩnh vực", "Ngày thành lập", "Số thành viên", "Vốn điều lệ", "Chứng nhận", "Sản phẩm OCOP", "Thuộc liên hiệp"]
ROWS = [
    ["Liên hiệp HTX Nông nghiệp Sóc Trăng", "Liên hiệp HTX", "LH-2201", "Thành phố Cần Thơ", "Phường Phú Lợi",
     "Số 12 đường Trần Hưng Đạo", "Lâm Văn Hùng", "02993822339", "Dịch vụ nông nghiệp", "02/01/2020", "7",
     "5.000.000.000", "", "", ""],
    ["HTX Nông nghiệp Hòa Tú", "HTX", "2201000101", "Cần Thơ", "Xã Hòa Tú", "Ấp Hòa Thành", "Trần Văn Lúa",
     "0912345678", "Trồng trọt", "15/05/2019", "27", "1.500.000.000", "VietGAP", "Gạo ST25 (4 sao); Gạo thơm (3 sao)",
     "LH-2201"],
    ["Tổ hợp tác nuôi tôm Vĩnh Hải", "Tổ hợp tác", "05/HĐHT-UBND", "thanh pho can tho", "xa vinh hai", "Ấp Huỳnh Kỳ",
     "Lý Thị Tôm", "+84 913 000 111", "thuy san", "1/3/2021", "12", "", "", "", "LH-2201"],
]


@pytest.fixture
def admin(app, factory, session):
    factory.user(Role.ALLIANCE_ADMIN, username="importer")
    session.commit()
    client = app.test_client()
    login(client, "importer")
    return client


def _csv(rows, *, delimiter=",", bom=True, header=HEADER) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8")


def _upload(client, content: bytes, filename: str = "so-dang-ky.csv", **kwargs):
    page = client.get("/alliance/registry/import", **kwargs)
    return client.post("/alliance/registry/import", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "file": (io.BytesIO(content), filename),
    }, content_type="multipart/form-data", **kwargs)


def _preview(client, content: bytes, filename: str = "so-dang-ky.csv", **kwargs):
    response = _upload(client, content, filename, **kwargs)
    assert response.status_code == 303, response.get_data(as_text=True)[-3000:]
    location = response.headers["Location"]
    return location, client.get(location, **kwargs)


def _confirm(client, location: str, page, **kwargs):
    return client.post(location, data={"csrf_token": csrf_token(page.get_data(as_text=True))}, **kwargs)


def _import(client, content: bytes, filename: str = "so-dang-ky.csv"):
    location, page = _preview(client, content, filename)
    assert page.status_code == 200, _problems(page)
    response = _confirm(client, location, page)
    assert response.status_code == 303, _problems(response)
    return page


def _problems(page) -> list[tuple[str, str]]:
    return re.findall(r'<tr class="flagged" data-row="([^"]*)" data-column="([^"]*)">', page.get_data(as_text=True))


def _count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def _by_number(session, number: str) -> Cooperative:
    return session.exec(select(Cooperative).where(Cooperative.registration_no == number)).one()


def test_good_csv_with_bom_creates_every_row_after_the_preview(admin, session):
    location, page = _preview(admin, _csv(ROWS))
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and _problems(page) == []
    assert 'id="creates">3 mới' in text and text.count('data-action="create"') == 3
    assert _count(session, RegistryProfile) == 0  # the preview wrote nothing
    assert _confirm(admin, location, page).status_code == 303
    union, coop, group = (_by_number(session, n) for n in ("LH-2201", "2201000101", "05/HĐHT-UBND"))
    assert (union.kind, coop.kind, group.kind) == ("union", "cooperative", "group")
    assert {union.status, coop.status, group.status} == {"registered"}
    assert group.phone == "0913000111" and union.phone == "02993822339"
    assert coop.province_code == 92 and group.ward_code == 31795  # Xã Vĩnh Hải, typed without diacritics
    profile = session.get(RegistryProfile, coop.id)
    assert profile.union_id == union.id and profile.charter_capital_vnd == 1_500_000_000
    assert profile.founded_on.isoformat() == "2019-05-15" and profile.sector == "crops"
    assert session.get(RegistryProfile, group.id).sector == "aquaculture"
    assert [(o.name, o.stars) for o in session.exec(select(RegistryOcopProduct).where(
        RegistryOcopProduct.cooperative_id == coop.id).order_by(RegistryOcopProduct.id))] == [("Gạo ST25", 4), ("Gạo thơm", 3)]
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "registry.import")).one()
    assert sorted(entry.after["created"]) == sorted(["LH-2201", "2201000101", "05/HĐHT-UBND"]) and entry.actor_label == "importer"
    assert _count(session, PendingImport) == 0  # the stored upload is gone once imported
    assert admin.get(location).status_code == 404  # and cannot be confirmed twice


def test_one_bad_row_writes_nothing_and_names_the_row_and_column(admin, session):
    rows = [list(row) for row in ROWS] + [
        ["HTX Sai xã", "HTX", "2201000999", "Cần Thơ", "Phường 2", "Ấp 4", "", "", "", "", "", "", "", "", ""]]
    location, page = _preview(admin, _csv(rows))
    assert page.status_code == 422
    assert _problems(page) == [("5", "Xã/Phường")]  # the header is row 1, so the fourth entry is row 5
    assert 'Không có xã/phường tên "Phường 2" ở Thành phố Cần Thơ' in html.unescape(page.get_data(as_text=True))
    assert 'id="confirm"' not in page.get_data(as_text=True)
    # Confirming anyway (a stale page, a crafted request) re-checks the file and still writes nothing.
    forced = admin.post(location, data={"csrf_token": csrf_token(admin.get("/alliance/registry/import").get_data(as_text=True))})
    assert forced.status_code == 422 and _problems(forced) == [("5", "Xã/Phường")]
    assert _count(session, Cooperative) == 0 and _count(session, RegistryProfile) == 0
    assert _count(session, AuditEntry) == 0
    report = admin.get(location + "/problems.csv").data.decode("utf-8-sig").splitlines()
    assert report[0] == "Dòng,Cột,Lỗi" and report[1].startswith("5,Xã/Phường,")
    workbook = load_workbook(io.BytesIO(admin.get(location + "/problems.xlsx").data), read_only=True)
    assert list(workbook.worksheets[0].iter_rows(values_only=True))[1][:2] == (5, "Xã/Phường")


def test_problems_are_in_english_when_the_interface_is(admin):
    rows = [ROWS[1][:3] + ["Sóc Trăng"] + ROWS[1][4:14] + [""]]
    _location, page = _preview(admin, _csv(rows), headers={"Accept-Language": "en"})
    text = page.get_data(as_text=True)
    assert _problems(page) == [("2", "Tỉnh/Thành phố")]  # the column as the file titles it
    assert "is no longer a province: since 1 July 2025 it is part of Thành phố Cần Thơ" in text
    assert "Nothing was imported" in text


def test_duplicates_old_addresses_and_unknown_values_are_each_reported(admin, session):
    bad = [
        ROWS[1],
        ROWS[1][:2] + ["2201000101"] + ROWS[1][3:],  # the same registration number again
        ["HTX Ba", "Công ty", "X-3", "", "Xã Hòa Tú", "Ấp 1, huyện Mỹ Xuyên", "", "0123", "Khai khoáng", "2021-13-01",
         "nhiều", "", "", "Gạo (9 sao)", "LH-404"],
    ]
    _location, page = _preview(admin, _csv(bad))
    problems = _problems(page)
    assert ("3", "Số ĐKKD") in problems and "cũng có ở dòng 2" in page.get_data(as_text=True)
    for column in ("Loại hình", "Địa chỉ", "Điện thoại", "Lĩnh vực", "Ngày thành lập", "Số thành viên", "Sản phẩm OCOP",
                   "Thuộc liên hiệp"):
        assert ("4", column) in problems, column
    assert _count(session, Cooperative) == 0


def test_semicolon_csv_without_bom_is_read(admin, session):
    _import(admin, _csv(ROWS, delimiter=";", bom=False))
    assert _count(session, RegistryProfile) == 3


def test_xlsx_with_a_title_row_dates_and_numbers_is_read(admin, session):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["DANH SÁCH HỢP TÁC XÃ, TỔ HỢP TÁC NĂM 2025"])
    sheet.append([])
    sheet.append(["STT"] + HEADER)
    for number, row in enumerate(ROWS, start=1):
        sheet.append([number] + row)
    sheet["K5"] = datetime(2019, 5, 15)  # a real date cell instead of text
    sheet["I5"] = 912345678  # Excel dropped the leading zero
    sheet["M5"] = 1500000000
    sheet["L5"] = 27.0
    buffer = io.BytesIO()
    workbook.save(buffer)
    _import(admin, buffer.getvalue(), "so-dang-ky.xlsx")
    coop = _by_number(session, "2201000101")
    profile = session.get(RegistryProfile, coop.id)
    assert coop.phone == "0912345678" and profile.founded_on.isoformat() == "2019-05-15"
    assert (profile.member_count, profile.charter_capital_vnd) == (27, 1_500_000_000)


def test_xlsx_problems_name_the_sheet_row(admin, session):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Danh sách"])
    sheet.append(HEADER)
    sheet.append(ROWS[1][:14] + [""])
    sheet.append([])  # an empty row still counts in the sheet's numbering
    sheet.append(ROWS[2][:9] + ["30/02/2021"] + ROWS[2][10:14] + [""])
    buffer = io.BytesIO()
    workbook.save(buffer)
    _location, page = _preview(admin, buffer.getvalue(), "x.xlsx")
    assert _problems(page) == [("5", "Ngày thành lập")]
    assert _count(session, Cooperative) == 0


def test_reimport_updates_without_duplicating(admin, session):
    _import(admin, _csv(ROWS))
    changed = [list(row) for row in ROWS]
    changed[1][10] = "35"  # more members
    changed[1][13] = "Gạo ST25 (5 sao)"
    location, page = _preview(admin, _csv(changed))
    assert page.get_data(as_text=True).count('data-action="update"') == 3
    assert _confirm(admin, location, page).status_code == 303
    assert _count(session, Cooperative) == 3
    coop = _by_number(session, "2201000101")
    session.expire_all()
    assert session.get(RegistryProfile, coop.id).member_count == 35
    assert [(o.name, o.stars) for o in session.exec(select(RegistryOcopProduct).where(
        RegistryOcopProduct.cooperative_id == coop.id))] == [("Gạo ST25", 5)]
    second = session.exec(select(AuditEntry).where(AuditEntry.action == "registry.import").order_by(AuditEntry.id.desc())).first()
    assert second.after["created"] == [] and second.after["updated"] == {
        "2201000101": {"member_count": [27, 35], "ocop_products": ["Gạo ST25 (4 sao); Gạo thơm (3 sao)", "Gạo ST25 (5 sao)"]}}


def test_registration_numbers_match_whatever_their_case(admin, session):
    _import(admin, _csv(ROWS))
    lower = [list(row) for row in ROWS]
    lower[2][2] = "05/hđht-ubnd"
    lower[1][14] = "lh-2201"
    location, page = _preview(admin, _csv(lower))
    assert page.get_data(as_text=True).count('data-action="update"') == 3
    assert _count(session, Cooperative) == 3


def test_a_partial_file_updates_only_its_columns(admin, session):
    _import(admin, _csv(ROWS))
    _import(admin, _csv([["2201000101", "40"]], header=["Số ĐKKD", "Số thành viên"]))
    coop = _by_number(session, "2201000101")
    session.expire_all()
    profile = session.get(RegistryProfile, coop.id)
    assert profile.member_count == 40 and profile.charter_capital_vnd == 1_500_000_000 and coop.name == "HTX Nông nghiệp Hòa Tú"
    # A new entry in a partial file is refused once for the whole file, not on every row.
    _location, page = _preview(admin, _csv([["NEW-1", "5"], ["NEW-2", "6"]], header=["Số ĐKKD", "Số thành viên"]))
    assert page.status_code == 422 and set(_problems(page)) == {("", "Tên"), ("", "Loại hình"), ("", "Xã/Phường"), ("", "Địa chỉ")}


def test_cooperatives_that_applied_keep_their_details_on_import(admin, factory, session):
    approved = factory.cooperative(name="HTX Đã Bán Hàng")
    session.commit()
    row = ["Tên khác", "HTX", approved.registration_no, "Cần Thơ", "Xã Hòa Tú", "Ấp 9", "", "", "Trồng trọt", "", "50",
           "", "", "", ""]
    page = _import(admin, _csv([row]))
    assert "chỉ dữ liệu sổ đăng ký được cập nhật" in page.get_data(as_text=True)
    session.expire_all()
    assert session.get(Cooperative, approved.id).name == "HTX Đã Bán Hàng"
    assert session.get(RegistryProfile, approved.id).member_count == 50


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_imports_again_without_changes(admin, session, fmt):
    _import(admin, _csv(ROWS))
    for lang in ("vi", "en"):
        admin.get(f"/lang/{lang}")
        exported = admin.get(f"/alliance/registry/export.{fmt}")
        assert exported.status_code == 200
        location, page = _preview(admin, exported.data, f"export.{fmt}")
        assert page.status_code == 200, _problems(page)
        assert page.get_data(as_text=True).count('data-action="update"') == 3
        assert _confirm(admin, location, page).status_code == 303
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "registry.import").order_by(AuditEntry.id.desc())).first()
        assert entry.after["updated"] == {}, (lang, entry.after["updated"])
    assert _count(session, Cooperative) == 3


def test_unreadable_files_are_refused_at_upload(admin, session):
    cases = [
        ("Tên,Số ĐKKD\nHợp tác xã,1\n".encode("cp1258", errors="replace").replace(b"?", b"\xe0"), "UTF-8"),
        (b"", "Tệp trống"),
        (_csv([], header=["A", "B"]), "Số ĐKKD"),
        (_csv([]), "không có dòng nào"),
        (b"PK\x03\x04 not really a zip", "XLSX"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old excel", ".xls"),
        (_csv([], header=["Tên", "Số ĐKKD", "Tên HTX"]), "cùng có nghĩa"),
    ]
    for content, expected in cases:
        response = _upload(admin, content)
        assert response.status_code == 400, (expected, response.status_code)
        text = response.get_data(as_text=True)
        assert 'data-field="file"' in text and expected in text, (expected, re.findall(r'data-field="file"[^<]*<', text))
    assert _count(session, PendingImport) == 0


def test_size_and_row_limits_are_clear(admin, monkeypatch):
    from shop.registry import importer

    monkeypatch.setattr(importer, "MAX_ROWS", 2)
    response = _upload(admin, _csv(ROWS))
    assert response.status_code == 413 and "nhiều hơn 2 dòng" in response.get_data(as_text=True)
    monkeypatch.setattr(importer, "MAX_FILE_BYTES", 100)
    response = _upload(admin, _csv(ROWS))
    assert response.status_code == 413 and 'data-field="file"' in response.get_data(as_text=True)


def test_a_pending_import_belongs_to_whoever_uploaded_it(admin, app, factory, session):
    location, _page = _preview(admin, _csv(ROWS))
    factory.user(Role.ALLIANCE_ADMIN, username="colleague")
    session.commit()
    colleague = app.test_client()
    login(colleague, "colleague")
    assert colleague.get(location).status_code == 404
    assert colleague.get("/alliance/registry/import/not-a-token").status_code == 404


def test_template_downloads_carry_the_vietnamese_headers(admin):
    text = admin.get("/alliance/registry/import/template.csv").data.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("Tên,Loại hình,Số ĐKKD,Tỉnh/Thành phố,Xã/Phường,Địa chỉ")
    workbook = load_workbook(io.BytesIO(admin.get("/alliance/registry/import/template.xlsx").data), read_only=True)
    assert next(workbook.worksheets[0].iter_rows(values_only=True))[:3] == ("Tên", "Loại hình", "Số ĐKKD")


def test_fifteen_hundred_rows_import_in_one_request(admin, session):
    """The province's whole registry (215 HTX and 1,241 groups in 2023) in one file."""
    wards = ["Xã Hòa Tú", "Xã Vĩnh Hải", "Phường Phú Lợi", "Xã Lịch Hội Thượng"]
    rows = [[f"Tổ hợp tác số {n}", "Tổ hợp tác" if n % 7 else "HTX", f"THT-{n:05d}", "Cần Thơ", wards[n % 4], f"Ấp {n}",
             "", f"09{n:08d}", "Trồng trọt", "01/01/2020", str(5 + n % 40), "", "", "", ""] for n in range(1, 1501)]
    _import(admin, _csv(rows))
    assert _count(session, Cooperative) == 1500 and _count(session, RegistryProfile) == 1500


# -- the reader, property-based ---------------------------------------------------------------------
cell_text = st.text(alphabet=st.sampled_from(list("aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạầẩẫấậềểễếệòỏõóọờởỡớợ ĐÂƠ=+-@;,\"'\n\t0123456789")),
                    max_size=40)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(names=st.lists(cell_text, min_size=1, max_size=5), xlsx=st.booleans())
def test_exported_cells_read_back_as_the_same_text(names, xlsx):
    """Whatever people type survives our export (formula guard, quotes, separators, line breaks)
    and the reader gives back the same cleaned text."""
    from shop.registry.values import clean_text

    header = ["Số ĐKKD", "Ghi chú khảo sát"]
    rows = [[f"R{index}", name] for index, name in enumerate(names)]
    content = xlsx_bytes(header, rows) if xlsx else csv_bytes(header, rows)
    sheet = read_sheet("x.xlsx" if xlsx else "x.csv", content)
    read = {row["registration_no"]: clean_text(row["survey_notes"], multiline=True) for _number, row in sheet.rows}
    for index, name in enumerate(names):
        key = f"R{index}"
        expected = clean_text(name, multiline=True)
        assert read.get(key, "") == expected


any_cell = st.one_of(st.none(), st.text(max_size=80), st.integers(min_value=-10**16, max_value=10**16),
                     st.floats(allow_nan=True, allow_infinity=True), st.dates(), st.datetimes(), st.booleans(),
                     st.sampled_from([float("inf"), float("nan"), "²", "１２３", "\x00", "=1+1", "'-5", "31684.0"]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.fixed_dictionaries({}, optional={name: any_cell for name in (
    "name", "kind", "registration_no", "province", "ward", "address", "legal_representative", "phone", "email", "sector",
    "founded_on", "member_count", "charter_capital_vnd", "certifications", "ocop_products", "union", "survey_notes")}))
def test_any_cell_gives_a_value_or_a_message_never_an_exception(app, cells):
    """Whatever a spreadsheet holds, reading it ends in values or messages naming the field."""
    from shop.registry.values import FIELDS, EntryParser

    with app.test_request_context():
        values, problems = EntryParser(92).parse(cells)
    assert {p.field for p in problems} <= set(FIELDS)
    assert all(p.message and "int()" not in p.message and "convert" not in p.message for p in problems)
    for name in ("name", "registration_no", "address", "certifications", "survey_notes"):
        if isinstance(values.get(name), str):
            assert "\x00" not in values[name]
