"""The registry's rules: reading an entry's values (typed in the form or found in a spreadsheet
cell), checking them against each other and the database, and writing them all at once.

The form and the import share one path: both give raw values keyed by field name to
`RegistryService.plan()`, which returns every problem it finds, and `write()` writes a plan only
when no entry has a problem. Entries are `cooperative` rows with status REGISTERED plus a
`registry_profile` row; cooperatives that have applied to sell keep their own name, address and
contacts, and only their registry data changes here.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from flask_babel import gettext
from sqlalchemy import delete, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from shop import address
from shop.audit.services import AuditLog
from shop.cooperatives.models import Cooperative, CooperativeKind, CooperativeStatus
from shop.errors import Conflict, NotFound
from shop.i18n import LOCAL_TZ
from shop.registry.models import PendingImport, RegistryOcopProduct, RegistryProfile
from shop.registry.schemas import (
    KINDS,
    SECTORS,
    OcopItem,
    PlannedRow,
    Problem,
    RegistryFilters,
    RegistryRow,
    Term,
    current_language,
)
from shop.textutil import fold_vietnamese, slugify
from shop.timeutil import utcnow

# Fields of the cooperative row; the rest live in the registry profile.
CORE_FIELDS = ("name", "kind", "registration_no", "province", "ward", "address", "legal_representative", "phone", "email")
PROFILE_FIELDS = ("sector", "founded_on", "member_count", "charter_capital_vnd", "certifications", "ocop_products",
                  "union", "survey_notes")
FIELDS = CORE_FIELDS + PROFILE_FIELDS
# What a new entry cannot do without (province falls back to the alliance's own).
REQUIRED_FOR_NEW = ("name", "kind", "registration_no", "ward", "address")
IN_CHUNK = 500  # ids per IN (...) list, well under every database's parameter limit
MAX_EXPORT_ROWS = 50_000


class RegistryInvalid(Exception):
    """The entry has problems; the form shows each next to its field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def _chunks(items: Sequence, size: int = IN_CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# -- reading one value -----------------------------------------------------------------------------
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
FORMULA_GUARD = re.compile(r"^'(?=[=+\-@\t\r])")  # the apostrophe shop.exports puts before such cells


def clean_text(value: Any, *, multiline: bool = False) -> str:
    """A cell as text: NFC, no control characters (PostgreSQL refuses NUL), trimmed, without the
    apostrophe our own exports add in front of cells that look like formulas."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # spreadsheets store 5901234567 as 5901234567.0
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    text = unicodedata.normalize("NFC", str(value))
    text = FORMULA_GUARD.sub("", text.strip())
    if multiline:
        text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
        return "\n".join(line.strip() for line in text.split("\n")).strip()
    text = _CONTROL.sub(" ", text.replace("\n", " ").replace("\r", " ").replace("\t", " "))
    return re.sub(r"\s+", " ", text).strip()


def fold_key(text: str) -> str:
    """Diacritic- and punctuation-insensitive key: 'Tỉnh/Thành phố' -> 'tinh thanh pho'."""
    return re.sub(r"[^a-z0-9]+", " ", fold_vietnamese(text)).strip()


def _exact_key(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip().casefold()


def _term_index(terms: Sequence[Term]) -> dict[str, str]:
    index: dict[str, str] = {}
    for term in terms:
        for word in (term.code, term.vi, term.en, *term.aliases):
            index[fold_key(word)] = term.code
    return index


_KIND_INDEX = _term_index(KINDS)
_SECTOR_INDEX = _term_index(SECTORS)

_PROVINCE_PREFIX = re.compile(r"^(tinh|thanh pho|tp)\s+")
_PROVINCE_ALIASES = {"thua thien hue": 46, "hue": 46, "hcm": 79, "tp hcm": 79, "tphcm": 79, "sai gon": 79}
_WARD_PREFIX = re.compile(r"^(xa|phuong|dac khu|p|x)\s+")
_DISTRICT_WORD = re.compile(r"\b(huyen|quan|thi xa|h|q|tx)\s")


def _province_key(text: str) -> str:
    return _PROVINCE_PREFIX.sub("", fold_key(text))


@lru_cache(maxsize=1)
def _province_index() -> dict[str, int]:
    index = {_province_key(name): code for code, name in address.provinces()}
    index.update(_PROVINCE_ALIASES)
    return index


@lru_cache(maxsize=1)
def _old_provinces() -> dict[str, str]:
    return {fold_key(old): new for old, new in address.MERGED_PROVINCES.items()}


@lru_cache(maxsize=64)
def _ward_index(province_code: int) -> tuple[dict[str, int], dict[str, list[int]], dict[str, list[int]], dict[str, list[int]]]:
    """Ward lookups of one province: exact name, folded name, exact and folded name without 'Xã'/'Phường'.
    Folding alone is not enough: Ba Tô and Ba Tơ, Tân Thành and Tân Thạnh are different communes."""
    exact: dict[str, int] = {}
    folded: dict[str, list[int]] = {}
    bare_exact: dict[str, list[int]] = {}
    bare_folded: dict[str, list[int]] = {}
    for code, name in address.wards(province_code):
        exact[_exact_key(name)] = code
        folded.setdefault(fold_key(name), []).append(code)
        bare = re.sub(r"^(xã|phường|đặc khu)\s+", "", _exact_key(name))
        bare_exact.setdefault(bare, []).append(code)
        bare_folded.setdefault(_WARD_PREFIX.sub("", fold_key(name)), []).append(code)
    return exact, folded, bare_exact, bare_folded


class EntryParser:
    """Turns raw values (strings from a form, cells from a spreadsheet) into typed values, with a
    message per field that cannot be read. Only the fields given are read: a spreadsheet without a
    column leaves that field of an existing entry as it is."""

    def __init__(self, default_province: int, today: date | None = None) -> None:
        self.default_province = default_province
        self.today = today or datetime.now(LOCAL_TZ).date()

    def parse(self, raw: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
        values: dict[str, Any] = {}
        problems: list[Problem] = []
        for name in FIELDS:
            if name not in raw or name in ("province", "ward"):
                continue
            try:
                values[name] = getattr(self, f"_{name}")(raw[name])
            except ValueError as error:
                problems.append(Problem(name, str(error)))
        if "province" in raw or "ward" in raw:
            self._place(raw, values, problems)
        return values, problems

    # each reader returns the value or raises ValueError with the message for the person
    @staticmethod
    def _text(value: Any, *, required: bool, low: int = 0, high: int, multiline: bool = False) -> str:
        text = clean_text(value, multiline=multiline)
        if not text:
            if required:
                raise ValueError(gettext("This field is required."))
            return ""
        if len(text) < low:
            raise ValueError(gettext("Write at least %(count)d characters.", count=low))
        if len(text) > high:
            raise ValueError(gettext("Write at most %(count)d characters.", count=high))
        return text

    def _name(self, value: Any) -> str:
        return self._text(value, required=True, low=3, high=200)

    def _registration_no(self, value: Any) -> str:
        return self._text(value, required=True, low=1, high=40)

    def _address(self, value: Any) -> str:
        text = self._text(value, required=True, low=3, high=300)
        problem = address.old_address_problem(text)
        if problem:
            raise ValueError(problem[0] if current_language() == "en" else problem[1])
        return text

    def _legal_representative(self, value: Any) -> str:
        return self._text(value, required=False, high=120)

    def _certifications(self, value: Any) -> str:
        return self._text(value, required=False, high=500)

    def _survey_notes(self, value: Any) -> str:
        return self._text(value, required=False, high=2000, multiline=True)

    def _union(self, value: Any) -> str:
        return self._text(value, required=False, high=200)

    def _email(self, value: Any) -> str | None:
        text = self._text(value, required=False, high=254)
        if text and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
            raise ValueError(gettext("Enter an e-mail address such as htx@example.vn."))
        return text or None

    @staticmethod
    def _term(value: Any, index: dict[str, str], terms: Sequence[Term], *, required: bool) -> str:
        text = clean_text(value)
        if not text:
            if required:
                raise ValueError(gettext("This field is required."))
            return ""
        code = index.get(fold_key(text))
        if code is None:
            raise ValueError(gettext('"%(value)s" is not one of: %(choices)s.', value=text[:60],
                                     choices=", ".join(term.label() for term in terms)))
        return code

    def _kind(self, value: Any) -> str:
        return self._term(value, _KIND_INDEX, KINDS, required=True)

    def _sector(self, value: Any) -> str:
        return self._term(value, _SECTOR_INDEX, SECTORS, required=False)

    def _phone(self, value: Any) -> str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(int(value))
            if len(value) == 9:  # the spreadsheet dropped the leading zero of a mobile number
                value = "0" + value
        text = clean_text(value)
        if not text:
            return ""
        mobile = address.normalize_phone(text)
        if mobile:
            return mobile
        digits = re.sub(r"[\s.\-()]", "", text)
        if digits.startswith("+84"):
            digits = "0" + digits[3:]
        if re.fullmatch(r"02\d{8,9}", digits):  # landline: 02 + area code + number
            return digits
        raise ValueError(gettext("Enter one Vietnamese phone number, such as 0912345678 or 02993822339."))

    def _founded_on(self, value: Any) -> date | None:
        if isinstance(value, datetime):
            found = value.date()
        elif isinstance(value, date):
            found = value
        else:
            text = clean_text(value)
            if not text:
                return None
            found = None
            match = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})", text)
            iso = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
            try:
                if match:
                    found = date(int(match[3]), int(match[2]), int(match[1]))
                elif iso:
                    found = date(int(iso[1]), int(iso[2]), int(iso[3]))
            except ValueError:
                found = None
            if found is None:
                raise ValueError(gettext("Write the date as dd/mm/yyyy, for example 15/05/2023."))
        if found.year < 1900 or found > self.today:
            raise ValueError(gettext("The date must be between 1900 and today."))
        return found

    @staticmethod
    def _number(value: Any, *, message: str) -> int | None:
        """Whole numbers as Vietnamese write them: 1.500.000.000, 1,500,000,000, 1 500 000 000 đ,
        or with a word: 1,5 tỷ, 500 triệu."""
        if isinstance(value, bool):
            raise ValueError(message)
        if isinstance(value, int):
            number = value
        elif isinstance(value, float):
            if not value.is_integer():
                raise ValueError(message)
            number = int(value)
        else:
            text = clean_text(value).lower()
            if not text:
                return None
            text = re.sub(r"(vnđ|vnd|đồng|đ|₫|dong)$", "", text).strip()
            multiplier = 1
            for word, factor in (("tỷ", 10**9), ("ty", 10**9), ("triệu", 10**6), ("trieu", 10**6)):
                if text.endswith(word):
                    multiplier, text = factor, text[: -len(word)].strip()
                    break
            text = text.replace("\u00a0", " ")
            if re.fullmatch(r"\d+", text):
                number = int(text)
            elif re.fullmatch(r"\d{1,3}(\.\d{3})+", text) or re.fullmatch(r"\d{1,3}(,\d{3})+", text) or re.fullmatch(r"\d{1,3}( \d{3})+", text):
                number = int(re.sub(r"[., ]", "", text))
            elif multiplier > 1 and re.fullmatch(r"\d+([.,]\d+)?", text):
                try:
                    return int(Decimal(text.replace(",", ".")) * multiplier)
                except InvalidOperation as error:
                    raise ValueError(message) from error
            else:
                raise ValueError(message)
            number *= multiplier
        if number < 0:
            raise ValueError(message)
        return number

    def _member_count(self, value: Any) -> int | None:
        number = self._number(value, message=gettext("Write the number of members as a whole number."))
        if number is not None and number > 1_000_000:
            raise ValueError(gettext("Write the number of members as a whole number."))
        return number

    def _charter_capital_vnd(self, value: Any) -> int | None:
        number = self._number(value, message=gettext("Write the capital in whole dong, such as 1.500.000.000."))
        if number is not None and number > 10**15:
            raise ValueError(gettext("Write the capital in whole dong, such as 1.500.000.000."))
        return number

    _OCOP_ITEM = re.compile(
        r"^(?P<name>.+?)\s*(?:[(\[]\s*(?P<a>\d)\s*(?:sao|stars?|\*|★)?\s*[)\]]|[-–:,]?\s*(?P<b>\d)\s*(?:sao|stars?|\*|★))$",
        re.IGNORECASE)

    def _ocop_products(self, value: Any) -> list[OcopItem]:
        text = clean_text(value, multiline=True)
        items: list[OcopItem] = []
        for part in re.split(r"[;\n]", text):
            part = part.strip()
            if not part:
                continue
            match = self._OCOP_ITEM.match(part)
            if not match or len(match["name"].strip(" -–:,")) == 0:
                raise ValueError(gettext('Write each OCOP product as "Name (4 sao)", separated by ";".'))
            stars = int(match["a"] or match["b"])
            name = match["name"].strip(" -–:,")
            if not 3 <= stars <= 5:
                raise ValueError(gettext("OCOP products have 3, 4 or 5 stars."))
            if len(name) > 200:
                raise ValueError(gettext("Write at most %(count)d characters.", count=200))
            items.append(OcopItem(name=name, stars=stars))
        if len(items) > 50:
            raise ValueError(gettext("At most 50 OCOP products per entry."))
        return items

    def _place(self, raw: dict[str, Any], values: dict[str, Any], problems: list[Problem]) -> None:
        province_text = clean_text(raw.get("province"))
        province = self.default_province
        if province_text:
            try:
                province = self.province_code(province_text)
            except ValueError as error:
                problems.append(Problem("province", str(error)))
                return
        values["province_code"] = province
        if "ward" not in raw:
            problems.append(Problem("ward", gettext("Give the commune or ward with the province.")))
            return
        try:
            values["ward_code"] = self.ward_code(raw["ward"], province)
        except ValueError as error:
            problems.append(Problem("ward", str(error)))

    @staticmethod
    def province_code(text: str) -> int:
        if text.isdigit():
            code = int(text)
            if address.province_name(code) != "?":
                return code
            raise ValueError(gettext("There is no province with code %(code)s.", code=text))
        key = _province_key(text)
        if key in _province_index():
            return _province_index()[key]
        for old, new in _old_provinces().items():
            if key == old or key.startswith(old + " ") or key.endswith(" " + old):
                raise ValueError(gettext(
                    "%(old)s is no longer a province: since 1 July 2025 it is part of %(new)s. Write %(new)s "
                    "and the commune or ward's current name.", old=text, new=new))
        raise ValueError(gettext('There is no province or city named "%(name)s" (the 34 units since 1 July 2025).',
                                 name=text[:60]))

    @staticmethod
    def ward_code(value: Any, province: int) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = clean_text(value)
        if not text:
            raise ValueError(gettext("This field is required."))
        if text.isdigit():
            if address.is_valid(province, int(text)):
                return int(text)
            raise ValueError(gettext("Commune or ward code %(code)s is not in %(province)s.", code=text,
                                     province=address.province_name(province)))
        exact, folded, bare_exact, bare_folded = _ward_index(province)
        candidates: list[int] = []
        if _exact_key(text) in exact:
            return exact[_exact_key(text)]
        for index, key in ((folded, fold_key(text)), (bare_exact, _exact_key(text)), (bare_folded, fold_key(text))):
            candidates = index.get(key, [])
            if len(candidates) == 1:
                return candidates[0]
            if candidates:
                break
        if candidates:
            raise ValueError(gettext('"%(name)s" could be %(choices)s: write the full name or the code.', name=text[:60],
                                     choices=", ".join(f"{address.ward_name(c)} ({c})" for c in candidates)))
        if _DISTRICT_WORD.search(fold_key(text) + " "):
            raise ValueError(gettext("Districts were abolished on 1 July 2025: write only the commune or ward's current name."))
        raise ValueError(gettext('There is no commune or ward named "%(name)s" in %(province)s since 1 July 2025.',
                                 name=text[:60], province=address.province_name(province)))


# -- formatting values back, the way the parser reads them -------------------------------------------
def format_ocop(items: Sequence[OcopItem], locale: str | None = None) -> str:
    word = "stars" if (locale or current_language()) == "en" else "sao"
    return "; ".join(f"{item.name} ({item.stars} {word})" for item in items)


def format_capital(amount: int | None) -> str:
    return "" if amount is None else f"{amount:,}".replace(",", ".")


class RegistryService:
    def __init__(self, session: Session, default_province: int = 92) -> None:
        self.session = session
        self.parser = EntryParser(default_province)

    # -- reading -----------------------------------------------------------------------------------
    def _filtered(self, filters: RegistryFilters):
        statement = select(Cooperative, RegistryProfile).join(
            RegistryProfile, RegistryProfile.cooperative_id == Cooperative.id, isouter=True)
        if filters.kind:
            statement = statement.where(Cooperative.kind == filters.kind)
        if filters.sector:
            statement = statement.where(RegistryProfile.sector == filters.sector)
        if filters.province_code:
            statement = statement.where(Cooperative.province_code == filters.province_code)
        if filters.ward_code:
            statement = statement.where(Cooperative.ward_code == filters.ward_code)
        if filters.status:
            statement = statement.where(Cooperative.status == filters.status)
        if filters.q.strip():
            # The slug is the folded name, so 'hanh tim' finds 'Hành tím'; registration numbers as typed.
            words = slugify(filters.q)
            conditions = [func.upper(Cooperative.registration_no).contains(filters.q.strip().upper())]
            if words:
                conditions.append(Cooperative.slug.contains(words))  # type: ignore[attr-defined]
            statement = statement.where(or_(*conditions))
        return statement

    def search(self, filters: RegistryFilters, page: int = 1, per_page: int = 50) -> tuple[list[RegistryRow], int]:
        statement = self._filtered(filters)
        total = self.session.exec(select(func.count()).select_from(statement.subquery())).one()
        pairs = self.session.exec(statement.order_by(Cooperative.slug, Cooperative.id)
                                  .offset((page - 1) * per_page).limit(per_page)).all()
        return self._rows(pairs), total

    def export_rows(self, filters: RegistryFilters) -> list[RegistryRow]:
        pairs = self.session.exec(self._filtered(filters).order_by(Cooperative.slug, Cooperative.id).limit(MAX_EXPORT_ROWS)).all()
        return self._rows(pairs)

    def members(self, union_id: int) -> list[RegistryRow]:
        union = self._cooperative(union_id)
        if union.kind != CooperativeKind.UNION:
            return []
        pairs = self.session.exec(
            select(Cooperative, RegistryProfile).join(RegistryProfile, RegistryProfile.cooperative_id == Cooperative.id)
            .where(RegistryProfile.union_id == union_id).order_by(Cooperative.slug, Cooperative.id)).all()
        return self._rows(pairs)

    def row(self, cooperative_id: int) -> RegistryRow:
        cooperative = self._cooperative(cooperative_id)
        profile = self.session.get(RegistryProfile, cooperative_id)
        return self._rows([(cooperative, profile)])[0]

    def unions(self) -> list[Cooperative]:
        return list(self.session.exec(select(Cooperative).where(Cooperative.kind == CooperativeKind.UNION)
                                      .order_by(Cooperative.slug)))

    def _cooperative(self, cooperative_id: int) -> Cooperative:
        cooperative = self.session.get(Cooperative, cooperative_id)
        if cooperative is None:
            raise NotFound(gettext("Cooperative not found."))
        return cooperative

    def _rows(self, pairs: Sequence) -> list[RegistryRow]:
        ids = [cooperative.id for cooperative, _profile in pairs]
        union_ids = sorted({profile.union_id for _c, profile in pairs if profile is not None and profile.union_id})
        unions: dict[int, tuple[str, str]] = {}
        for chunk in _chunks(union_ids):
            for union_id, name, registration_no in self.session.exec(
                    select(Cooperative.id, Cooperative.name, Cooperative.registration_no).where(Cooperative.id.in_(chunk))):
                unions[union_id] = (name, registration_no)
        ocop: dict[int, list[OcopItem]] = {}
        for chunk in _chunks(ids):
            for product in self.session.exec(select(RegistryOcopProduct).where(RegistryOcopProduct.cooperative_id.in_(chunk))
                                             .order_by(RegistryOcopProduct.id)):
                ocop.setdefault(product.cooperative_id, []).append(OcopItem(name=product.name, stars=product.stars))
        rows = []
        for cooperative, profile in pairs:
            row = RegistryRow(
                id=cooperative.id, name=cooperative.name, kind=cooperative.kind, registration_no=cooperative.registration_no,
                status=cooperative.status, province_code=cooperative.province_code, ward_code=cooperative.ward_code,
                address=cooperative.address, legal_representative=cooperative.legal_representative, phone=cooperative.phone,
                email=cooperative.email, ocop_products=ocop.get(cooperative.id, []))
            if profile is not None:
                row.sector, row.founded_on, row.member_count = profile.sector, profile.founded_on, profile.member_count
                row.charter_capital_vnd, row.certifications = profile.charter_capital_vnd, profile.certifications
                row.survey_notes, row.union_id = profile.survey_notes, profile.union_id
                if profile.union_id in unions:
                    row.union_name, row.union_registration_no = unions[profile.union_id]
            rows.append(row)
        return rows

    @staticmethod
    def form_values(row: RegistryRow) -> dict[str, str]:
        """An entry as the form shows it: the text the parser reads back to the same values."""
        return {
            "name": row.name, "kind": row.kind, "registration_no": row.registration_no, "province": str(row.province_code),
            "ward": str(row.ward_code), "address": row.address, "legal_representative": row.legal_representative,
            "phone": row.phone, "email": row.email or "", "sector": row.sector,
            "founded_on": row.founded_on.strftime("%d/%m/%Y") if row.founded_on else "",
            "member_count": "" if row.member_count is None else str(row.member_count),
            "charter_capital_vnd": format_capital(row.charter_capital_vnd), "certifications": row.certifications,
            "ocop_products": format_ocop(row.ocop_products).replace("; ", "\n"), "union": row.union_registration_no,
            "survey_notes": row.survey_notes,
        }

    # -- checking ----------------------------------------------------------------------------------
    def plan(self, entries: Sequence[tuple[int | None, dict[str, Any]]], *, target_id: int | None = None,
             new_only: bool = False) -> list[PlannedRow]:
        """Read and check every entry. `entries` are (spreadsheet row or None, raw values by field);
        `target_id` is the cooperative the form edits, `new_only` says the form creates one; an
        import matches rows to the registry by registration number."""
        planned: list[PlannedRow] = []
        first_row_of: dict[str, int | None] = {}
        for row_no, raw in entries:
            values, problems = self.parser.parse(raw)
            item = PlannedRow(row=row_no, values=values, problems=problems)
            registration_no = values.get("registration_no")
            if registration_no:
                if registration_no in first_row_of:
                    item.problems.append(Problem("registration_no", gettext(
                        "Registration number %(number)s is also on row %(row)s of this file.",
                        number=registration_no, row=first_row_of[registration_no])))
                else:
                    first_row_of[registration_no] = row_no
            planned.append(item)

        existing = self._existing({item.values["registration_no"] for item in planned if item.values.get("registration_no")})
        if target_id is not None:
            target = self._cooperative(target_id)
            for item in planned:
                taken = existing.get(item.values.get("registration_no", ""))
                if taken is not None and taken.id != target_id:
                    item.problems.append(Problem("registration_no", gettext("A cooperative with this registration number exists.")))
                item.existing_id, item.existing_status = target.id, target.status
            existing = {target.registration_no: target, **existing}
            by_id = {target.id: target}
        else:
            for item in planned:
                match = existing.get(item.values.get("registration_no", ""))
                if match is not None and new_only:
                    item.problems.append(Problem("registration_no", gettext("A cooperative with this registration number exists.")))
                elif match is not None:
                    item.existing_id, item.existing_status = match.id, match.status
            by_id = {cooperative.id: cooperative for cooperative in existing.values()}

        for item in planned:
            if item.action == "create":
                refused = {p.field for p in item.problems}
                for name in REQUIRED_FOR_NEW:
                    if name == "ward" and ("ward_code" in item.values or "province" in refused):
                        continue
                    if name not in refused and name not in item.values:
                        item.problems.append(Problem(name, gettext("This field is required.")))
            elif item.existing_status != CooperativeStatus.REGISTERED:
                self._keep_applicants_own_details(item, by_id[item.existing_id])
        self._check_unions(planned, by_id)
        return planned

    def _existing(self, registration_numbers: set[str]) -> dict[str, Cooperative]:
        found: dict[str, Cooperative] = {}
        for chunk in _chunks(sorted(registration_numbers)):
            for cooperative in self.session.exec(select(Cooperative).where(Cooperative.registration_no.in_(chunk))):
                found[cooperative.registration_no] = cooperative
        return found

    @staticmethod
    def _keep_applicants_own_details(item: PlannedRow, cooperative: Cooperative) -> None:
        """A cooperative that applied to sell keeps its own identity and contacts (its certificate
        names it); the registry only adds what the alliance knows about it."""
        current = {"name": cooperative.name, "kind": cooperative.kind, "province_code": cooperative.province_code,
                   "ward_code": cooperative.ward_code, "address": cooperative.address,
                   "legal_representative": cooperative.legal_representative, "phone": cooperative.phone,
                   "email": cooperative.email}
        differs = any(name in item.values and item.values[name] != value for name, value in current.items())
        for name in current:
            item.values.pop(name, None)
        item.problems = [p for p in item.problems if p.field not in CORE_FIELDS or p.field == "registration_no"]
        if differs:
            item.notes.append(gettext("Applied to sell: its name, address and contacts stay as the cooperative keeps "
                                      "them; only the registry data is updated."))

    def _check_unions(self, planned: list[PlannedRow], by_id: dict[int, Cooperative]) -> None:
        def kind_of(item: PlannedRow) -> str | None:
            if "kind" in item.values:
                return item.values["kind"]
            return by_id[item.existing_id].kind if item.existing_id else None

        in_file = {item.values["registration_no"]: item for item in planned if item.values.get("registration_no")}
        stored = list(self.session.exec(select(Cooperative).where(Cooperative.kind == CooperativeKind.UNION)))
        stored_by_no = {union.registration_no: union for union in stored}
        stored_by_name: dict[str, list[Cooperative]] = {}
        for union in stored:
            stored_by_name.setdefault(fold_key(union.name), []).append(union)
        file_by_name: dict[str, list[PlannedRow]] = {}
        for item in planned:
            if kind_of(item) == CooperativeKind.UNION and item.values.get("name"):
                file_by_name.setdefault(fold_key(item.values["name"]), []).append(item)

        for item in planned:
            reference = item.values.get("union")
            if not reference:
                continue
            if kind_of(item) == CooperativeKind.UNION:
                item.problems.append(Problem("union", gettext("A union cannot belong to another union.")))
                continue
            resolved: str | None = None
            if reference in in_file:
                target = in_file[reference]
                if kind_of(target) == CooperativeKind.UNION:
                    resolved = reference
                else:
                    item.problems.append(Problem("union", gettext("%(name)s is not a union of cooperatives.", name=reference)))
                    continue
            elif reference in stored_by_no:
                resolved = reference
            else:
                named = file_by_name.get(fold_key(reference), []) or stored_by_name.get(fold_key(reference), [])
                numbers = {(n.values["registration_no"] if isinstance(n, PlannedRow) else n.registration_no) for n in named}
                if len(numbers) == 1:
                    resolved = numbers.pop()
                elif numbers:
                    item.problems.append(Problem("union", gettext(
                        "Several unions are named %(name)s: write the union's registration number.", name=reference)))
                    continue
            if resolved is None:
                item.problems.append(Problem("union", gettext(
                    "No union with the registration number or name %(name)s is on the registry or in this file.",
                    name=reference)))
                continue
            becoming = in_file.get(resolved)
            if becoming is not None and kind_of(becoming) != CooperativeKind.UNION:
                item.problems.append(Problem("union", gettext("%(name)s is not a union of cooperatives.", name=reference)))
                continue
            item.values["union_registration_no"] = resolved

        # A union that still has members cannot become something else.
        leaving = [item for item in planned if item.existing_id and by_id[item.existing_id].kind == CooperativeKind.UNION
                   and kind_of(item) != CooperativeKind.UNION]
        for item in leaving:
            members = self.session.exec(select(func.count()).select_from(RegistryProfile)
                                        .where(RegistryProfile.union_id == item.existing_id)).one()
            if members:
                item.problems.append(Problem("kind", gettext(
                    "This union still has %(count)d members: move them to another union first.", count=members)))

    # -- writing -----------------------------------------------------------------------------------
    def write(self, planned: Sequence[PlannedRow]) -> tuple[list[Cooperative], dict[str, dict]]:
        """Write a plan without problems, all or nothing: (the new cooperatives, changes by
        registration number of the updated ones as {field: [before, after]})."""
        if any(item.problems for item in planned):
            raise RegistryInvalid([problem for item in planned for problem in item.problems])
        try:
            with self.session.begin_nested():
                return self._write(planned)
        except IntegrityError as error:
            # Someone else wrote the same registration number between the check and the write.
            raise Conflict(gettext("The registry changed while this was being saved. Please check and try again."),
                           field="registration_no") from error

    def _write(self, planned: Sequence[PlannedRow]) -> tuple[list[Cooperative], dict[str, dict]]:
        creates = [item for item in planned if item.action == "create"]
        updates = [item for item in planned if item.action == "update"]
        created: list[Cooperative] = []
        if creates:
            taken = set(self.session.exec(select(Cooperative.slug)))
            for item in creates:
                values = item.values
                cooperative = Cooperative(
                    slug=self._unique_slug(values["name"], taken), name=values["name"], kind=values["kind"],
                    registration_no=values["registration_no"], province_code=values["province_code"],
                    ward_code=values["ward_code"], address=values["address"],
                    legal_representative=values.get("legal_representative", ""), phone=values.get("phone", ""),
                    email=values.get("email"), status=CooperativeStatus.REGISTERED)
                created.append(cooperative)
            self.session.add_all(created)
            self.session.flush()

        update_ids = [item.existing_id for item in updates]
        cooperatives: dict[int, Cooperative] = {c.id: c for c in created}
        profiles: dict[int, RegistryProfile] = {}
        ocop_before: dict[int, list[OcopItem]] = {}
        for chunk in _chunks(update_ids):
            for cooperative in self.session.exec(select(Cooperative).where(Cooperative.id.in_(chunk))):
                cooperatives[cooperative.id] = cooperative
            for profile in self.session.exec(select(RegistryProfile).where(RegistryProfile.cooperative_id.in_(chunk))):
                profiles[profile.cooperative_id] = profile
            for product in self.session.exec(select(RegistryOcopProduct).where(RegistryOcopProduct.cooperative_id.in_(chunk))
                                             .order_by(RegistryOcopProduct.id)):
                ocop_before.setdefault(product.cooperative_id, []).append(OcopItem(name=product.name, stars=product.stars))

        union_numbers = sorted({item.values["union_registration_no"] for item in planned if item.values.get("union_registration_no")})
        union_ids = {c.registration_no: c.id for c in created}
        for chunk in _chunks(union_numbers):
            for union_id, number in self.session.exec(select(Cooperative.id, Cooperative.registration_no)
                                                      .where(Cooperative.registration_no.in_(chunk))):
                union_ids[number] = union_id

        created_for = {id(item): cooperative for item, cooperative in zip(creates, created)}
        changes: dict[str, dict] = {}
        new_profiles: list[RegistryProfile] = []
        replaced_ocop: list[int] = []
        new_ocop: list[RegistryOcopProduct] = []
        for item in planned:
            values = item.values
            cooperative = cooperatives[item.existing_id] if item.existing_id else created_for[id(item)]
            before = self._snapshot(cooperative, profiles.get(cooperative.id), ocop_before.get(cooperative.id, [])) \
                if item.existing_id else {}
            if item.existing_id:
                for name in ("name", "kind", "registration_no", "province_code", "ward_code", "address",
                             "legal_representative", "phone", "email"):
                    if name in values:
                        setattr(cooperative, name, values[name])
            profile = profiles.get(cooperative.id)
            if profile is None:
                profile = RegistryProfile(cooperative_id=cooperative.id)
                new_profiles.append(profile)
            for name in ("sector", "founded_on", "member_count", "charter_capital_vnd", "certifications", "survey_notes"):
                if name in values:
                    setattr(profile, name, values[name])
            if "union" in values:
                profile.union_id = union_ids.get(values.get("union_registration_no") or "")
            profile.updated_at = utcnow()
            if "ocop_products" in values:
                if item.existing_id:
                    replaced_ocop.append(cooperative.id)
                new_ocop.extend(RegistryOcopProduct(cooperative_id=cooperative.id, name=o.name, stars=o.stars)
                                for o in values["ocop_products"])
            if item.existing_id:
                after = self._snapshot(cooperative, profile, values.get("ocop_products", ocop_before.get(cooperative.id, [])))
                diff = {name: [before.get(name), value] for name, value in after.items() if before.get(name) != value}
                if diff:
                    changes[cooperative.registration_no] = diff
        for chunk in _chunks(replaced_ocop):
            self.session.exec(delete(RegistryOcopProduct).where(RegistryOcopProduct.cooperative_id.in_(chunk)))
        self.session.add_all(new_profiles)
        self.session.add_all(new_ocop)
        self.session.flush()
        return created, changes

    @staticmethod
    def _unique_slug(name: str, taken: set[str]) -> str:
        slug = base = slugify(name)[:72] or "htx"
        counter = 1
        while slug in taken:
            counter += 1
            slug = f"{base}-{counter}"
        taken.add(slug)
        return slug

    @staticmethod
    def _snapshot(cooperative: Cooperative, profile: RegistryProfile | None, ocop: Sequence[OcopItem]) -> dict[str, Any]:
        union_id = profile.union_id if profile else None
        return {
            "name": cooperative.name, "kind": cooperative.kind, "registration_no": cooperative.registration_no,
            "province_code": cooperative.province_code, "ward_code": cooperative.ward_code, "address": cooperative.address,
            "legal_representative": cooperative.legal_representative, "phone": cooperative.phone, "email": cooperative.email,
            "sector": profile.sector if profile else "", "founded_on": profile.founded_on.isoformat() if profile and profile.founded_on else None,
            "member_count": profile.member_count if profile else None,
            "charter_capital_vnd": profile.charter_capital_vnd if profile else None,
            "certifications": profile.certifications if profile else "", "survey_notes": profile.survey_notes if profile else "",
            "union_id": union_id, "ocop_products": format_ocop(ocop, "vi"),
        }

    # -- the form ----------------------------------------------------------------------------------
    def save(self, raw: dict[str, Any], cooperative_id: int | None = None) -> Cooperative:
        """Create (no id) or edit one entry from the console form, recorded in the audit log."""
        planned = self.plan([(None, raw)], target_id=cooperative_id, new_only=cooperative_id is None)
        created, changes = self.write(planned)
        audit = AuditLog(self.session)
        if created:
            cooperative = created[0]
            audit.record("registry.create", "cooperative", cooperative.id, after=self._snapshot(
                cooperative, self.session.get(RegistryProfile, cooperative.id), planned[0].values.get("ocop_products", [])),
                cooperative_id=cooperative.id)
            return cooperative
        cooperative = self._cooperative(cooperative_id)  # type: ignore[arg-type]
        change = changes.get(cooperative.registration_no)
        if change:
            audit.record("registry.update", "cooperative", cooperative.id,
                         before={name: pair[0] for name, pair in change.items()},
                         after={name: pair[1] for name, pair in change.items()}, cooperative_id=cooperative.id)
        return cooperative


class PendingImports:
    """Uploaded files waiting between preview and confirmation: in the database, so any web
    process can confirm, and never in the session cookie. Each belongs to the person who uploaded it."""

    LIFETIME = timedelta(hours=24)

    def __init__(self, session: Session) -> None:
        self.session = session

    def save(self, user_id: int, filename: str, content: bytes) -> PendingImport:
        self.session.exec(delete(PendingImport).where(PendingImport.created_at < utcnow() - self.LIFETIME))
        pending = PendingImport(id=secrets.token_urlsafe(24), user_id=user_id, filename=filename[:200] or "upload",
                                content=content)
        self.session.add(pending)
        self.session.flush()
        return pending

    def get(self, token: str, user_id: int) -> PendingImport:
        pending = self.session.get(PendingImport, token[:43]) if re.fullmatch(r"[A-Za-z0-9_\-]{1,43}", token) else None
        if pending is None or pending.user_id != user_id or pending.created_at < utcnow() - self.LIFETIME:
            raise NotFound(gettext("This upload has expired or was already imported. Please upload the file again."))
        return pending

    def discard(self, pending: PendingImport) -> None:
        self.session.delete(pending)
        self.session.flush()

