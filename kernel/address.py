"""Vietnamese addresses on the two-level system in force since 1 July 2025.

34 provinces and centrally-run cities, each made of communes, wards and special zones. The data
comes from the pinned `vietnam-provinces` package, so a correction there is a version bump here.
"""

from __future__ import annotations

import re
from functools import lru_cache

from vietnam_provinces import Province, Ward


@lru_cache(maxsize=1)
def provinces() -> list[tuple[int, str]]:
    return sorted(((int(p.code), p.name) for p in Province.iter_all()), key=lambda item: item[1])


@lru_cache(maxsize=1)
def _province_names() -> dict[int, str]:
    return dict(provinces())


@lru_cache(maxsize=64)
def wards(province_code: int) -> list[tuple[int, str]]:
    if province_code not in _province_names():
        return []
    return sorted(
        ((int(w.code), re.sub(r"\s+", " ", w.name).strip()) for w in Ward.iter_all() if int(w.province_code) == province_code),
        key=lambda item: item[1],
    )


@lru_cache(maxsize=1)
def _ward_index() -> dict[int, tuple[str, int]]:
    return {int(w.code): (re.sub(r"\s+", " ", w.name).strip(), int(w.province_code)) for w in Ward.iter_all()}


def province_name(code: int) -> str:
    return _province_names().get(code, "?")


def ward_name(code: int) -> str:
    return _ward_index().get(code, ("?", 0))[0]


def is_valid(province_code: int, ward_code: int) -> bool:
    entry = _ward_index().get(ward_code)
    return entry is not None and entry[1] == province_code


def full_address(street: str, ward_code: int, province_code: int) -> str:
    return f"{street}, {ward_name(ward_code)}, {province_name(province_code)}"


PHONE_RE = re.compile(r"^0(3|5|7|8|9)\d{8}$")


def normalize_phone(raw: str) -> str | None:
    """Vietnamese mobile numbers: 0xxxxxxxxx or +84xxxxxxxxx; returns the 0-prefixed form."""
    digits = re.sub(r"[\s.\-()]", "", raw or "")
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits if PHONE_RE.match(digits) else None


def normalize_landline(raw: str) -> str | None:
    """Office numbers, as cooperatives often give: 02 + area code + number, ten or eleven digits."""
    digits = re.sub(r"[\s.\-()]", "", raw or "")
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    return digits if re.fullmatch(r"02\d{8,9}", digits) else None


def normalize_contact_phone(raw: str) -> str | None:
    """A mobile number or, failing that, a landline; the 0-prefixed form."""
    return normalize_phone(raw) or normalize_landline(raw)


# The 63 provinces before 1 July 2025 that were merged, and the unit each now belongs to.
MERGED_PROVINCES = {
    "sóc trăng": "Thành phố Cần Thơ", "hậu giang": "Thành phố Cần Thơ", "bạc liêu": "Cà Mau",
    "bến tre": "Vĩnh Long", "trà vinh": "Vĩnh Long", "long an": "Tây Ninh", "tiền giang": "Đồng Tháp",
    "kiên giang": "An Giang", "bình dương": "Thành phố Hồ Chí Minh", "bà rịa": "Thành phố Hồ Chí Minh",
    "vũng tàu": "Thành phố Hồ Chí Minh", "bình phước": "Đồng Nai", "ninh thuận": "Khánh Hòa",
    "bình thuận": "Lâm Đồng", "đắk nông": "Lâm Đồng", "phú yên": "Đắk Lắk", "bình định": "Gia Lai",
    "kon tum": "Quảng Ngãi", "quảng nam": "Thành phố Đà Nẵng", "quảng bình": "Quảng Trị",
    "hà nam": "Ninh Bình", "nam định": "Ninh Bình", "thái bình": "Hưng Yên", "hải dương": "Thành phố Hải Phòng",
    "bắc giang": "Bắc Ninh", "vĩnh phúc": "Phú Thọ", "hòa bình": "Phú Thọ", "bắc kạn": "Thái Nguyên",
    "yên bái": "Lào Cai", "hà giang": "Tuyên Quang",
}
_DISTRICT_WORDS = re.compile(r"\b(huyện|quận|thị xã|h\.|q\.|tx\.)\s", re.IGNORECASE)


def old_address_problem(street: str) -> tuple[str, str] | None:
    """An address still written in the three-level system: (English, Vietnamese) explanation."""
    text = street.lower()
    for old, new in MERGED_PROVINCES.items():
        if re.search(rf"\b(tỉnh\s+)?{re.escape(old)}\b", text) and ("tỉnh" in text or "," in text):
            return (f"{old.title()} province no longer exists: since 1 July 2025 it is part of {new}. "
                    "Choose the new province and commune or ward above and write only the house number, street and hamlet here.",
                    f"Tỉnh {old.title()} không còn: từ 1/7/2025 đã thuộc {new}. "
                    "Hãy chọn tỉnh/thành và xã/phường mới ở trên, ở đây chỉ ghi số nhà, đường, ấp.")
    if _DISTRICT_WORDS.search(text + " "):
        return ("Districts were abolished on 1 July 2025. Choose the commune or ward above and write only the house number, street and hamlet here.",
                "Cấp huyện đã bỏ từ 1/7/2025. Hãy chọn xã/phường ở trên, ở đây chỉ ghi số nhà, đường, ấp.")
    return None


def check_place(province_code: int, ward_code: int, street: str, *, street_field: str) -> None:
    """Refuse, naming the field, a province that does not exist, a commune outside it, or a street
    line still written the pre-2025 way (in the reader's language)."""
    from flask_babel import get_locale, gettext

    from kernel.errors import ServiceError

    if province_name(province_code) == "?":
        raise ServiceError(gettext("Choose a province or city."), field="province_code")
    if not is_valid(province_code, ward_code):
        raise ServiceError(gettext("Choose a commune or ward of the selected province."), field="ward_code")
    old = old_address_problem(street)
    if old is not None:
        raise ServiceError(old[1] if str(get_locale()) == "vi" else old[0], field=street_field)
