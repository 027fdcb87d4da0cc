"""Reading the alliance's spreadsheets (CSV or XLSX) into registry entries, and writing the
registry back out in the same layout, so that an export imports again unchanged.

The layout: one header row (it may sit under a few title rows) with the Vietnamese titles of
`COLUMNS` (English titles and the usual variants are accepted too, in any order, without regard
to diacritics or case), then one organisation per row. Only "Số ĐKKD" is needed in every file:
it matches rows to the registry, so a file with just "Số ĐKKD" and "Số thành viên" updates member
counts. New entries also need "Tên", "Loại hình", "Xã/Phường" and "Địa chỉ"; an empty
"Tỉnh/Thành phố" means the alliance's own province. An empty cell clears that value of an
existing entry; a column the file does not have leaves it alone.

CSV: UTF-8 with or without a byte-order mark (or UTF-16 with one, as Excel's "Unicode text"),
separated by commas, semicolons (Excel with Vietnamese regional settings) or tabs. XLSX: the first
sheet, read with openpyxl in read-only mode. Nothing is written unless every row is valid.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlmodel import Session

from kernel import address
from kernel.audit.services import AuditLog
from kernel.errors import ServiceError
from kernel.labels import status_label
from shop.registry.models import PendingImport
from shop.registry.schemas import (
    KIND_BY_CODE,
    SECTOR_BY_CODE,
    PlannedRow,
    RegistryRow,
    RowProblem,
    current_language,
)
from shop.registry.services import REQUIRED_FOR_NEW, PendingImports, RegistryService
from shop.registry.values import clean_text, fold_key, format_ocop

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5_000  # the province has about 1,500 organisations; a bigger file is a mistake or an attack
MAX_COLUMNS = 60
MAX_XLSX_UNPACKED = 100 * 1024 * 1024  # a small zip that unpacks to gigabytes is refused before parsing
HEADER_SEARCH_ROWS = 10
SHOWN_PROBLEMS = 500


@dataclass(frozen=True)
class Column:
    field: str
    vi: str
    en: str
    aliases: tuple[str, ...] = ()
    hint: Any = ""

    def title(self, locale: str | None = None) -> str:
        return self.en if (locale or current_language()) == "en" else self.vi


COLUMNS: tuple[Column, ...] = (
    Column("name", "Tên", "Name", ("Tên HTX", "Tên hợp tác xã", "Tên tổ chức", "Tên đơn vị"),
           _l("Required for new entries; 3 to 200 characters.")),
    Column("kind", "Loại hình", "Type", ("Loại", "Loại hình tổ chức", "Kind"),
           _l("Required for new entries: Hợp tác xã (HTX), Tổ hợp tác (THT) or Liên hiệp hợp tác xã.")),
    Column("registration_no", "Số ĐKKD", "Registration no.",
           ("Số đăng ký", "Số đăng ký kinh doanh", "Số GCN ĐKKD", "Mã số", "Mã số HTX", "Registration number"),
           _l("Required in every file: rows with a number already on the registry update that entry.")),
    Column("province", "Tỉnh/Thành phố", "Province/city", ("Tỉnh", "Tỉnh/TP", "Tỉnh thành", "Thành phố", "Province"),
           _l("Name or code of one of the 34 provinces and cities since 1 July 2025; empty means the alliance's own.")),
    Column("ward", "Xã/Phường", "Commune/ward", ("Xã", "Phường", "Xã/Phường/Đặc khu", "Phường/Xã", "Ward", "Commune"),
           _l("Required for new entries: the current name or code of the commune, ward or special zone.")),
    Column("address", "Địa chỉ", "Address", ("Địa chỉ trụ sở", "Trụ sở", "Số nhà, đường, ấp"),
           _l("Required for new entries: house number, street and hamlet, without district or old province.")),
    Column("legal_representative", "Người đại diện", "Legal representative",
           ("Người đại diện theo pháp luật", "Giám đốc", "Đại diện", "Representative"), _l("Up to 120 characters.")),
    Column("phone", "Điện thoại", "Phone", ("Số điện thoại", "SĐT", "ĐT", "Telephone"),
           _l("One mobile or landline number.")),
    Column("email", "Email", "E-mail", ("Thư điện tử", "Địa chỉ email"), _l("Optional.")),
    Column("sector", "Lĩnh vực", "Sector", ("Ngành nghề", "Lĩnh vực hoạt động", "Ngành"),
           _l("One of the sectors listed below.")),
    Column("founded_on", "Ngày thành lập", "Founded", ("Ngày TL", "Date founded", "Founded on"),
           _l("dd/mm/yyyy, e.g. 15/05/2023.")),
    Column("member_count", "Số thành viên", "Members", ("Thành viên", "Số TV", "Member count"), _l("A whole number.")),
    Column("charter_capital_vnd", "Vốn điều lệ", "Charter capital (VND)",
           ("Vốn điều lệ (đồng)", "Vốn điều lệ (VNĐ)", "Vốn ĐL", "Charter capital"),
           _l("In dong: 1.500.000.000, 1500000000 or 1,5 tỷ.")),
    Column("certifications", "Chứng nhận", "Certifications", ("Chứng nhận chất lượng", "Tiêu chuẩn"),
           _l("Free text, e.g. VietGAP, GlobalGAP, hữu cơ.")),
    Column("ocop_products", "Sản phẩm OCOP", "OCOP products", ("OCOP", "SP OCOP"),
           _l('Each as "Name (4 sao)", separated by ";".')),
    Column("union", "Thuộc liên hiệp", "Member of union", ("Liên hiệp", "Thành viên liên hiệp", "Union"),
           _l("Registration number (or exact name) of a union on the registry or in the same file.")),
    Column("survey_notes", "Ghi chú khảo sát", "Survey notes", ("Ghi chú", "Notes"), _l("Up to 2,000 characters.")),
)
COLUMN_BY_FIELD = {column.field: column for column in COLUMNS}
# Columns our exports add or people keep for themselves, read past without a warning.
IGNORED_TITLES = ("STT", "TT", "No", "No.", "#", "Trạng thái", "Status")


def _title_key(text: str) -> str:
    return fold_key(text).replace(" ", "")


_TITLE_INDEX = {_title_key(title): column.field for column in COLUMNS for title in (column.vi, column.en, *column.aliases)}
_IGNORED_INDEX = {_title_key(title) for title in IGNORED_TITLES}


class ImportFileError(ServiceError):
    """The file as a whole cannot be read; nothing about its rows can be said yet."""


class ImportRejected(Exception):
    """Confirmation found problems (the file or the registry changed since the preview)."""

    def __init__(self, preview: ImportPreview) -> None:
        super().__init__(f"{len(preview.problems)} problems")
        self.preview = preview


# -- reading the file ------------------------------------------------------------------------------
def _csv_text(content: bytes) -> str:
    try:
        if content.startswith(b"\xef\xbb\xbf"):
            return content[3:].decode("utf-8")
        if content.startswith((b"\xff\xfe", b"\xfe\xff")):
            return content.decode("utf-16")
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ImportFileError(gettext(
            'The file is not UTF-8 text. In Excel choose Save as → "CSV UTF-8 (Comma delimited)", or upload the .xlsx file.'),
            field="file") from error


def _csv_rows(content: bytes) -> Iterator[list[Any]]:
    text = _csv_text(content)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max((";", ",", "\t"), key=first_line.count) if first_line else ","
    try:
        yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    except csv.Error as error:
        raise ImportFileError(gettext("The CSV file could not be read: %(reason)s.", reason=str(error)[:120]), field="file") from error


def _xlsx_rows(content: bytes) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            if sum(member.file_size for member in archive.infolist()) > MAX_XLSX_UNPACKED:
                raise ImportFileError(gettext("The XLSX file unpacks to more than %(size)d MB.", size=MAX_XLSX_UNPACKED // 2**20),
                                      field="file", status=413)
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except ImportFileError:
        raise
    except Exception as error:  # openpyxl and zipfile raise many kinds of errors for a damaged file
        raise ImportFileError(gettext("The file could not be read as an XLSX workbook."), field="file") from error
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # some programs write a wrong size; read what is really there
        for row in sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS):
            yield list(row)
    except Exception as error:  # a damaged sheet part shows only while reading its rows
        raise ImportFileError(gettext("The file could not be read as an XLSX workbook."), field="file") from error
    finally:
        workbook.close()


def _blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


@dataclass
class Sheet:
    columns: dict[str, str]  # field -> the title as written in the file
    rows: list[tuple[int, dict[str, Any]]]  # spreadsheet row number, cells by field
    warnings: list[str] = field(default_factory=list)


def read_sheet(filename: str, content: bytes) -> Sheet:
    if not content:
        raise ImportFileError(gettext("The file is empty."), field="file")
    if len(content) > MAX_FILE_BYTES:
        raise ImportFileError(gettext("The file is larger than %(size)d MB.", size=MAX_FILE_BYTES // 2**20), field="file", status=413)
    name = (filename or "").lower()
    if content.startswith(b"\xd0\xcf\x11\xe0") or name.endswith(".xls"):
        raise ImportFileError(gettext("Old .xls workbooks are not read: save the file as .xlsx or CSV UTF-8."), field="file")
    if content.startswith(b"PK\x03\x04"):
        source = _xlsx_rows(content)
    elif name.endswith((".xlsx", ".xlsm")):
        raise ImportFileError(gettext("The file could not be read as an XLSX workbook."), field="file")
    else:
        source = _csv_rows(content)

    try:
        return _read_rows(source)
    finally:
        source.close()  # the workbook is closed now, not when the generator is collected


def _read_rows(source: Iterator[list[Any]]) -> Sheet:
    columns: dict[str, str] = {}
    positions: dict[int, str] = {}
    warnings: list[str] = []
    rows: list[tuple[int, dict[str, Any]]] = []
    header_row = None
    for number, cells in enumerate(source, start=1):
        if header_row is None:
            if number > HEADER_SEARCH_ROWS:
                break
            found = {index: _TITLE_INDEX.get(_title_key(clean_text(cell))) for index, cell in enumerate(cells[:MAX_COLUMNS])}
            if "registration_no" not in found.values() or sum(1 for f in found.values() if f) < 2:
                continue
            header_row = number
            for index, cell in enumerate(cells[:MAX_COLUMNS]):
                title = clean_text(cell)
                if not title:
                    continue
                field_name = found[index]
                if field_name is None:
                    if _title_key(title) not in _IGNORED_INDEX:
                        warnings.append(gettext('The column "%(title)s" is not part of the layout and is ignored.', title=title[:60]))
                    continue
                if field_name in columns:
                    raise ImportFileError(gettext('The columns "%(first)s" and "%(second)s" both mean %(meaning)s.',
                                                  first=columns[field_name], second=title[:60],
                                                  meaning=COLUMN_BY_FIELD[field_name].title()), field="file")
                columns[field_name] = title[:60]
                positions[index] = field_name
            continue
        if all(_blank(cell) for cell in cells):
            continue
        if len(rows) >= MAX_ROWS:
            limit = f"{MAX_ROWS:,}".replace(",", ".")
            raise ImportFileError(gettext("The file has more than %(count)s rows: split it into several files.", count=limit),
                                  field="file", status=413)
        rows.append((number, {name: cells[index] if index < len(cells) else None for index, name in positions.items()}))
    if header_row is None:
        raise ImportFileError(gettext('No header row with "%(title)s" in the first %(count)d rows. Download the template to see the layout.',
                                      title=COLUMN_BY_FIELD["registration_no"].vi, count=HEADER_SEARCH_ROWS), field="file")
    if not rows:
        raise ImportFileError(gettext("The file has a header row but no entries."), field="file")
    if "province" in columns and "ward" not in columns:
        raise ImportFileError(gettext('A file with the column "%(province)s" also needs "%(ward)s".',
                                      province=columns["province"], ward=COLUMN_BY_FIELD["ward"].vi), field="file")
    return Sheet(columns=columns, rows=rows, warnings=warnings)


# -- preview and confirmation ----------------------------------------------------------------------
@dataclass
class ImportPreview:
    filename: str
    planned: list[PlannedRow]
    problems: list[RowProblem]
    warnings: list[str]

    @property
    def creates(self) -> int:
        return sum(1 for item in self.planned if item.action == "create")

    @property
    def updates(self) -> int:
        return sum(1 for item in self.planned if item.action == "update")

    @property
    def ok(self) -> bool:
        return not self.problems


class RegistryImport:
    def __init__(self, session: Session, default_province: int) -> None:
        self.session = session
        self.registry = RegistryService(session, default_province)
        self.pending = PendingImports(session)

    def check(self, filename: str, content: bytes) -> ImportPreview:
        sheet = read_sheet(filename, content)
        planned = self.registry.plan(sheet.rows)
        problems: list[RowProblem] = []
        missing = [name for name in REQUIRED_FOR_NEW if name not in sheet.columns]
        new_rows = [item.row for item in planned if item.action == "create"]
        if missing and new_rows:
            for name in missing:
                problems.append(RowProblem(None, COLUMN_BY_FIELD[name].title(), gettext(
                    "The file has no such column; it is needed for the %(count)d new entries (the first on row %(row)s).",
                    count=len(new_rows), row=new_rows[0])))
            for item in planned:
                item.problems = [p for p in item.problems if p.field not in missing]
        for item in planned:
            for problem in item.problems:
                title = sheet.columns.get(problem.field) or COLUMN_BY_FIELD[problem.field].title()
                problems.append(RowProblem(item.row, title, problem.message))
        return ImportPreview(filename=filename, planned=planned, problems=problems, warnings=sheet.warnings)

    def upload(self, user_id: int, filename: str, content: bytes) -> PendingImport:
        """Keep the file for its preview; a file that cannot be read at all is refused here."""
        read_sheet(filename, content)
        return self.pending.save(user_id, filename, content)

    def preview(self, token: str, user_id: int) -> tuple[PendingImport, ImportPreview]:
        pending = self.pending.get(token, user_id)
        return pending, self.check(pending.filename, pending.content)

    def confirm(self, token: str, user_id: int) -> tuple[int, int]:
        """Check the stored file again and write every row, or nothing: (created, updated)."""
        pending, preview = self.preview(token, user_id)
        if not preview.ok:
            raise ImportRejected(preview)
        created, changes = self.registry.write(preview.planned)
        AuditLog(self.session).record("registry.import", "registry_import", hashlib.sha256(pending.content).hexdigest()[:16], after={
            "filename": pending.filename, "sha256": hashlib.sha256(pending.content).hexdigest(), "rows": len(preview.planned),
            "created": [cooperative.registration_no for cooperative in created], "updated": changes,
        })
        self.pending.discard(pending)
        return len(created), preview.updates


# -- writing the same layout -----------------------------------------------------------------------
STATUS_TITLE = {"vi": "Trạng thái", "en": "Status"}


def registry_status_label(status: str) -> str:
    if status == "registered":
        return gettext("On the registry")
    return status_label(status)


def export_table(rows: Sequence[RegistryRow], locale: str | None = None) -> tuple[list[str], list[list[Any]]]:
    """Header and rows in the import layout (plus the status, which an import ignores)."""
    locale = locale or current_language()
    header = [column.title(locale) for column in COLUMNS] + [STATUS_TITLE.get(locale, "Trạng thái")]
    table = []
    for row in rows:
        kind = KIND_BY_CODE.get(row.kind)
        sector = SECTOR_BY_CODE.get(row.sector)
        table.append([
            row.name, kind.label(locale) if kind else row.kind, row.registration_no, address.province_name(row.province_code),
            address.ward_name(row.ward_code), row.address, row.legal_representative, row.phone, row.email or "",
            sector.label(locale) if sector else row.sector, row.founded_on, row.member_count, row.charter_capital_vnd,
            row.certifications, format_ocop(row.ocop_products, locale), row.union_registration_no, row.survey_notes,
            registry_status_label(row.status),
        ])
    return header, table


def template_table() -> tuple[list[str], list[list[Any]]]:
    return [column.vi for column in COLUMNS], []
