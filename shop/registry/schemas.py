"""Input and output shapes of the registry, and the vocabularies its spreadsheets use.

The kinds and sectors are data as much as interface: the alliance's spreadsheets write them in
Vietnamese, an English export writes them in English, and both must import again. So each term
carries its Vietnamese and English wording (and the abbreviations people type) here, instead of
going through the translation catalogue, whose wording may change without the file format changing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import get_locale
from pydantic import BaseModel, Field

from shop.cooperatives.models import CooperativeKind


@dataclass(frozen=True)
class Term:
    code: str
    vi: str
    en: str
    aliases: tuple[str, ...] = ()

    def label(self, locale: str | None = None) -> str:
        return self.en if (locale or current_language()) == "en" else self.vi


def current_language() -> str:
    try:
        return str(get_locale() or "vi")
    except Exception:  # noqa: BLE001 - outside a request or app context: the default language
        return "vi"


KINDS: tuple[Term, ...] = (
    Term(CooperativeKind.COOPERATIVE, "Hợp tác xã", "Cooperative", ("HTX",)),
    Term(CooperativeKind.GROUP, "Tổ hợp tác", "Cooperative group", ("THT", "Tổ HT", "Group")),
    Term(CooperativeKind.UNION, "Liên hiệp hợp tác xã", "Union of cooperatives",
         ("Liên hiệp HTX", "LH HTX", "LHHTX", "Liên hiệp", "Union")),
)

# The sectors the alliance reports on (its survey form's list); "other" keeps a row importable when
# the sector is known but not one of these.
SECTORS: tuple[Term, ...] = (
    Term("crops", "Trồng trọt", "Crop farming", ("Trồng lúa", "Cây trồng")),
    Term("livestock", "Chăn nuôi", "Livestock"),
    Term("aquaculture", "Thủy sản", "Aquaculture and fishing", ("Nuôi trồng thủy sản", "Thuỷ sản")),
    Term("forestry", "Lâm nghiệp", "Forestry"),
    Term("salt", "Diêm nghiệp", "Salt making", ("Làm muối",)),
    Term("agri_services", "Dịch vụ nông nghiệp", "Agricultural services", ("DV nông nghiệp",)),
    Term("mixed_farming", "Nông nghiệp tổng hợp", "Mixed farming", ("Tổng hợp",)),
    Term("handicrafts", "Tiểu thủ công nghiệp", "Handicrafts and small industry", ("TTCN", "Thủ công mỹ nghệ")),
    Term("trade_services", "Thương mại, dịch vụ", "Trade and services", ("Thương mại dịch vụ", "Thương mại - dịch vụ")),
    Term("transport", "Vận tải", "Transport"),
    Term("water_environment", "Nước sạch, môi trường", "Clean water and environment", ("Nước sạch", "Môi trường")),
    Term("other", "Khác", "Other"),
)

KIND_BY_CODE = {term.code: term for term in KINDS}
SECTOR_BY_CODE = {term.code: term for term in SECTORS}


def kind_label(code: str | None) -> str:
    term = KIND_BY_CODE.get(code or "")
    return term.label() if term else (code or "")


def sector_label(code: str | None) -> str:
    term = SECTOR_BY_CODE.get(code or "")
    return term.label() if term else (code or "")


class OcopItem(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    stars: int = Field(ge=3, le=5)


class RegistryFilters(BaseModel):
    """The list page's filters; anything unknown has already been dropped by the view."""

    kind: str | None = None
    sector: str | None = None
    province_code: int | None = None
    ward_code: int | None = None
    status: str | None = None
    q: str = Field(default="", max_length=100)

    def as_args(self) -> dict[str, Any]:
        """The query-string form, for pagination and export links."""
        args = {"kind": self.kind, "sector": self.sector, "province": self.province_code, "ward": self.ward_code,
                "status": self.status, "q": self.q}
        return {key: value for key, value in args.items() if value not in (None, "")}


@dataclass
class Problem:
    """One thing wrong with an entry: the field (a key of importer.COLUMNS) and the message."""

    field: str
    message: str


@dataclass
class RowProblem:
    """A problem as the preview shows it: spreadsheet row (None for the file), column title, message."""

    row: int | None
    column: str
    message: str


@dataclass
class PlannedRow:
    """One entry to write: parsed values of the fields the source gave, and where it goes."""

    row: int | None
    values: dict[str, Any]
    existing_id: int | None = None
    existing_status: str | None = None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def action(self) -> str:
        return "update" if self.existing_id else "create"


@dataclass
class RegistryRow:
    """A line of the registry list: the cooperative and what the registry adds to it."""

    id: int
    name: str
    kind: str
    registration_no: str
    status: str
    province_code: int
    ward_code: int
    address: str
    legal_representative: str
    phone: str
    email: str | None
    sector: str = ""
    founded_on: date | None = None
    member_count: int | None = None
    charter_capital_vnd: int | None = None
    certifications: str = ""
    survey_notes: str = ""
    union_id: int | None = None
    union_name: str = ""
    union_registration_no: str = ""
    ocop_products: list[OcopItem] = field(default_factory=list)

