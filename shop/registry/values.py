"""Reading one registry entry's values, as typed in the console form or found in a spreadsheet
cell, into typed values, with a message for the person for each value that cannot be read; and
writing values back in the form the reader accepts (exports, the edit form).

Province and commune names are matched without regard to diacritics, but exact spelling wins where
folding would merge two places (Ba Tô and Ba Tơ are different communes); names of the provinces
merged on 1 July 2025 are refused with the name of the province they now belong to.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from flask_babel import gettext

from kernel import address
from kernel.i18n import LOCAL_TZ
from shop.registry.schemas import (
    KINDS,
    SECTORS,
    OcopItem,
    Problem,
    Term,
    current_language,
)
from kernel.textutil import fold_vietnamese

# Fields of the cooperative row; the rest live in the registry profile.
CORE_FIELDS = ("name", "kind", "registration_no", "province", "ward", "address", "legal_representative", "phone", "email")
PROFILE_FIELDS = ("sector", "founded_on", "member_count", "charter_capital_vnd", "certifications", "ocop_products",
                  "union", "survey_notes")
FIELDS = CORE_FIELDS + PROFILE_FIELDS


# -- reading one value -----------------------------------------------------------------------------
ASCII_DIGITS = re.compile(r"[0-9]{1,9}")  # str.isdigit() also accepts '²', which int() refuses
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
FORMULA_GUARD = re.compile(r"^'(?=[=+\-@\t\r])")  # the apostrophe kernel.exports puts before such cells


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
    text = FORMULA_GUARD.sub("", text).strip()  # guard first: a guarded cell may be only "\t"
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
        # Upper case, as onboarding stores it: "2201000101" and "05/hđht" match however they were typed.
        return self._text(value, required=True, low=1, high=40).upper()

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
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
            if len(value) == 9:  # the spreadsheet dropped the leading zero of a mobile number
                value = "0" + value
        text = clean_text(value)
        if not text:
            return ""
        phone = address.normalize_contact_phone(text)
        if phone:
            return phone
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
            raise ValueError(message)  # noqa: TRY004 - ValueError carries the message for the person
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
        if ASCII_DIGITS.fullmatch(text):
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
        if ASCII_DIGITS.fullmatch(text):
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
