"""Printable sheets of QR labels for packages of produce.

A cooperative prints these on an office laser printer (A4 sheets of sticky
labels, as sold in Vietnamese stationery shops) or on a thermal roll printer
in the packing shed.  Each label carries:

* the QR code, whose payload is exactly the unit's GS1 Digital Link URI;
* the product name, lot, harvest date (dd/mm/yyyy) and cooperative, in
  Vietnamese, so a buyer without a phone still learns the essentials;
* the OCOP rating as stars, when the product has one;
* the GS1 element string ``(01)…(10)…(21)…`` in small type below, the
  "human readable interpretation" a person can type in if the code is
  damaged.

The output is a PDF made with reportlab.  QR codes are vector squares, not
bitmaps, so they stay crisp at whatever resolution the printer driver
rasterises the page.

Serialised runs (one unique ``/21/{serial}`` per unit, up to about 10,000 per
batch) are the heavy case, so the module keeps per-label work small: the QR
version and mask are chosen once per sheet (see :class:`_Encoder`), dark
modules are merged into rectangles and written as integer PDF operators, and
the text block is laid out once per distinct product/lot/cooperative.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import math
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import qrcode
from qrcode.exceptions import DataOverflowError
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as pdfcanvas

from traceability.gs1 import DigitalLink, GS1Error, parse_digital_link_path
from traceability.qr import ERROR_LEVELS, QUIET_ZONE_MODULES

__all__ = [
    "FONT_ENV_VAR",
    "FONT_CANDIDATES",
    "MIN_MODULE_MM",
    "PRESETS",
    "LabelData",
    "LabelFontError",
    "LayoutError",
    "SheetLayout",
    "custom",
    "get_layout",
    "module_size_mm",
    "print_warning",
    "qr_version_for",
    "render_sheet",
    "serial_links",
    "serial_uris",
]

log = logging.getLogger(__name__)

PT_PER_MM: Final = 72.0 / 25.4

# Modules smaller than this are where cheap phone cameras (fixed focus, small
# sensors, the kind most market shoppers carry) start to fail; they struggle
# below ~0.3 mm, and office printers spread toner a little, so keep a margin.
MIN_MODULE_MM: Final = 0.33

FONT_ENV_VAR: Final = "NONGSAN_LABEL_FONT"
FONT_CANDIDATES: Final = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)

# Every precomposed letter Vietnamese needs.  reportlab does no shaping, so a
# font that only has the combining marks (e.g. Liberation 1.x) would stack
# accents wrongly or print boxes; we require the precomposed forms.
_VIETNAMESE_LETTERS: Final = (
    "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ"
)
_VIETNAMESE_GLYPHS: Final = frozenset(_VIETNAMESE_LETTERS + _VIETNAMESE_LETTERS.upper())
_STAR: Final = "\u2605"  # ★ BLACK STAR
_ELLIPSIS: Final = "\u2026"

# Sheet validation works in mm; allow float rounding (10 × 29.7 ≠ 297.0).
_EPS_MM: Final = 1e-6
# Below these the label would be unusable rather than merely small.
_MIN_QR_SIDE_MM: Final = 6.0
_MIN_TEXT_WIDTH_MM: Final = 6.0
_MIN_TEXT_PT: Final = 4.0
_MIN_HRI_PT: Final = 3.0
_LEADING: Final = 1.18
_PROGRESS_EVERY: Final = 100


# --------------------------------------------------------------------------
# Sheet layouts
# --------------------------------------------------------------------------


class LayoutError(ValueError):
    """A sheet layout is impossible; ``field`` names the parameter to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _check_number(field: str, value: object, *, positive: bool) -> float:
    # bool is an int; True as a label width is always a bug.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LayoutError(field, f"must be a finite number of millimetres, got {value!r}")
    if positive and value <= 0:
        raise LayoutError(field, f"must be greater than 0 mm, got {value!r}")
    if not positive and value < 0:
        raise LayoutError(field, f"must not be negative, got {value!r}")
    return float(value)


def _check_count(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LayoutError(field, f"must be a whole number of at least 1, got {value!r}")
    return value


@dataclass(frozen=True)
class _Geometry:
    """Where things go inside one label, in mm from the label's top-left."""

    qr_side: float  # the square reserved for the code, quiet zone included
    text_x: float
    text_width: float
    text_height: float
    text_pt: float
    hri_pt: float
    hri_baseline: float
    hri_width: float


@dataclass(frozen=True)
class SheetLayout:
    """A page of identical labels in a grid; all lengths in millimetres.

    ``margin_left_mm``/``margin_top_mm`` place the top-left label; the grid
    then repeats every ``label + gap``.  ``padding_mm`` is kept blank inside
    each label because die-cut sheets shift by a millimetre or so in the
    printer.  ``printer_dpi`` (thermal printers: 203 or 300) snaps QR modules
    to whole printer dots, because a 0.6 mm module on a 0.125 mm dot grid
    would otherwise print as alternately 4 and 5 dots wide.
    """

    name: str
    page_width_mm: float
    page_height_mm: float
    columns: int
    rows: int
    label_width_mm: float
    label_height_mm: float
    margin_left_mm: float = 0.0
    margin_top_mm: float = 0.0
    gap_x_mm: float = 0.0
    gap_y_mm: float = 0.0
    padding_mm: float = 1.5
    printer_dpi: int | None = None

    def __post_init__(self) -> None:
        for field in ("page_width_mm", "page_height_mm", "label_width_mm", "label_height_mm"):
            _check_number(field, getattr(self, field), positive=True)
        for field in ("margin_left_mm", "margin_top_mm", "gap_x_mm", "gap_y_mm", "padding_mm"):
            _check_number(field, getattr(self, field), positive=False)
        _check_count("columns", self.columns)
        _check_count("rows", self.rows)
        if self.printer_dpi is not None and (
            isinstance(self.printer_dpi, bool)
            or not isinstance(self.printer_dpi, int)
            or not 72 <= self.printer_dpi <= 2400
        ):
            raise LayoutError(
                "printer_dpi", f"must be None or a whole number from 72 to 2400, got {self.printer_dpi!r}"
            )

        needed_w = self.margin_left_mm + self.columns * self.label_width_mm + (self.columns - 1) * self.gap_x_mm
        if needed_w > self.page_width_mm + _EPS_MM:
            raise LayoutError(
                "columns",
                f"{self.columns} columns of {self.label_width_mm:g} mm labels with {self.gap_x_mm:g} mm gaps "
                f"and a {self.margin_left_mm:g} mm left margin need {needed_w:g} mm, "
                f"but the page is {self.page_width_mm:g} mm wide",
            )
        needed_h = self.margin_top_mm + self.rows * self.label_height_mm + (self.rows - 1) * self.gap_y_mm
        if needed_h > self.page_height_mm + _EPS_MM:
            raise LayoutError(
                "rows",
                f"{self.rows} rows of {self.label_height_mm:g} mm labels with {self.gap_y_mm:g} mm gaps "
                f"and a {self.margin_top_mm:g} mm top margin need {needed_h:g} mm, "
                f"but the page is {self.page_height_mm:g} mm high",
            )
        _geometry(self)  # raises LayoutError if the label contents cannot fit

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    @property
    def qr_side_mm(self) -> float:
        """Side of the square reserved for the QR code, quiet zone included."""
        return _geometry(self).qr_side

    def label_origin_mm(self, slot: int) -> tuple[float, float]:
        """Top-left corner of label ``slot`` (0-based, row by row) from the page's top-left."""
        row, column = divmod(slot, self.columns)
        return (
            self.margin_left_mm + column * (self.label_width_mm + self.gap_x_mm),
            self.margin_top_mm + row * (self.label_height_mm + self.gap_y_mm),
        )


@functools.lru_cache(maxsize=64)
def _geometry(layout: SheetLayout) -> _Geometry:
    w, h, pad = layout.label_width_mm, layout.label_height_mm, layout.padding_mm
    # Type sizes follow the label height: ~7 pt on 37 mm labels, the minimum
    # on very small ones.  The element string gets one line along the bottom
    # edge (GS1 puts the human-readable text below the symbol) at full width,
    # because at the text column's width it would need several lines.
    text_pt = min(8.0, max(_MIN_TEXT_PT, h * 0.2))
    hri_pt = min(6.0, max(_MIN_HRI_PT + 0.5, h * 0.16))
    hri_height = hri_pt * 1.15 / PT_PER_MM
    inner_w, inner_h = w - 2 * pad, h - 2 * pad - hri_height
    if inner_w <= 0 or inner_h <= 0:
        raise LayoutError(
            "padding_mm",
            f"{pad:g} mm padding leaves no room inside a {w:g} × {h:g} mm label",
        )
    # The code gets the full height but never more than 60 % of the width,
    # so there is always a text column beside it.
    qr_side = min(inner_h, inner_w * 0.6)
    if qr_side < _MIN_QR_SIDE_MM:
        raise LayoutError(
            "label_height_mm",
            f"a {w:g} × {h:g} mm label leaves only {qr_side:.1f} mm for the QR code; "
            f"at least {_MIN_QR_SIDE_MM:g} mm is needed",
        )
    gutter = 0.5
    text_x = pad + qr_side + gutter
    text_width = w - pad - text_x
    if text_width < _MIN_TEXT_WIDTH_MM:
        raise LayoutError(
            "label_width_mm",
            f"a {w:g} mm wide label leaves only {text_width:.1f} mm for the text beside the QR code; "
            f"at least {_MIN_TEXT_WIDTH_MM:g} mm is needed",
        )
    return _Geometry(
        qr_side=qr_side,
        text_x=text_x,
        text_width=text_width,
        text_height=inner_h,
        text_pt=text_pt,
        hri_pt=hri_pt,
        hri_baseline=h - pad - hri_pt * 0.22 / PT_PER_MM,
        hri_width=inner_w,
    )


PRESETS: Final[dict[str, SheetLayout]] = {
    # Tomy / Decal A4 sheet of 24 (3 × 8) labels, 70 × 37 mm, cut edge to
    # edge; the 1 mm left over vertically is split above and below.
    "a4-3x8": SheetLayout(
        name="a4-3x8",
        page_width_mm=210.0,
        page_height_mm=297.0,
        columns=3,
        rows=8,
        label_width_mm=70.0,
        label_height_mm=37.0,
        margin_left_mm=0.0,
        margin_top_mm=0.5,
        padding_mm=2.0,
    ),
    # A4 sheet of 40 (4 × 10) labels, 52.5 × 29.7 mm, no margins at all.
    "a4-4x10": SheetLayout(
        name="a4-4x10",
        page_width_mm=210.0,
        page_height_mm=297.0,
        columns=4,
        rows=10,
        label_width_mm=52.5,
        label_height_mm=29.7,
        padding_mm=1.5,
    ),
    # Thermal roll printers take one label per page; 203 dpi is by far the
    # most common print head among the cheap ones.
    "thermal-50x30": SheetLayout(
        name="thermal-50x30",
        page_width_mm=50.0,
        page_height_mm=30.0,
        columns=1,
        rows=1,
        label_width_mm=50.0,
        label_height_mm=30.0,
        padding_mm=1.5,
        printer_dpi=203,
    ),
}


def get_layout(name: str) -> SheetLayout:
    """Return the preset called ``name`` (see :data:`PRESETS`)."""
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise LayoutError("name", f"unknown sheet layout {name!r}; known layouts: {known}") from None


def custom(
    columns: int,
    rows: int,
    *,
    label_width_mm: float,
    label_height_mm: float,
    page_width_mm: float = 210.0,
    page_height_mm: float = 297.0,
    margin_left_mm: float | None = None,
    margin_top_mm: float | None = None,
    gap_x_mm: float = 0.0,
    gap_y_mm: float = 0.0,
    padding_mm: float = 1.5,
    printer_dpi: int | None = None,
    name: str = "custom",
) -> SheetLayout:
    """Build and validate a layout for a label sheet that has no preset.

    Margins left as ``None`` centre the grid on the page, which is how most
    sheets are cut.  Raises :class:`LayoutError` (a ``ValueError``) whose
    ``field`` names the parameter at fault, e.g. ``"columns"`` when the
    labels are wider than the page.
    """
    # Validate the numbers before using them to centre the grid, so the
    # error names the user's input rather than a derived margin.
    columns = _check_count("columns", columns)
    rows = _check_count("rows", rows)
    for field, value in (
        ("label_width_mm", label_width_mm),
        ("label_height_mm", label_height_mm),
        ("page_width_mm", page_width_mm),
        ("page_height_mm", page_height_mm),
    ):
        _check_number(field, value, positive=True)
    _check_number("gap_x_mm", gap_x_mm, positive=False)
    _check_number("gap_y_mm", gap_y_mm, positive=False)
    if margin_left_mm is None:
        grid_w = columns * label_width_mm + (columns - 1) * gap_x_mm
        margin_left_mm = max(0.0, (page_width_mm - grid_w) / 2)
    if margin_top_mm is None:
        grid_h = rows * label_height_mm + (rows - 1) * gap_y_mm
        margin_top_mm = max(0.0, (page_height_mm - grid_h) / 2)
    return SheetLayout(
        name=name,
        page_width_mm=page_width_mm,
        page_height_mm=page_height_mm,
        columns=columns,
        rows=rows,
        label_width_mm=label_width_mm,
        label_height_mm=label_height_mm,
        margin_left_mm=margin_left_mm,
        margin_top_mm=margin_top_mm,
        gap_x_mm=gap_x_mm,
        gap_y_mm=gap_y_mm,
        padding_mm=padding_mm,
        printer_dpi=printer_dpi,
    )


# --------------------------------------------------------------------------
# QR sizing
# --------------------------------------------------------------------------


def _error_level(error_correction: str) -> int:
    try:
        return ERROR_LEVELS[error_correction]
    except (KeyError, TypeError):
        raise ValueError(f"error_correction: must be one of L, M, Q, H, got {error_correction!r}") from None


def qr_version_for(uri: str, error_correction: str = "M") -> int:
    """Smallest QR version (1–40) that holds ``uri`` at the given level."""
    code = qrcode.QRCode(error_correction=_error_level(error_correction))
    code.add_data(uri)
    return code.best_fit()


def _modules_per_side(version: int) -> int:
    return 17 + 4 * version


def module_size_mm(version: int, qr_side_mm: float) -> float:
    """Module size when a version-``version`` code, quiet zone included, fills ``qr_side_mm``."""
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 40:
        raise ValueError(f"version: must be a QR version from 1 to 40, got {version!r}")
    return qr_side_mm / (_modules_per_side(version) + 2 * QUIET_ZONE_MODULES)


def _printed_module_mm(layout: SheetLayout, version: int) -> float:
    """Module size as drawn, after snapping to the printer's dot grid."""
    module = module_size_mm(version, _geometry(layout).qr_side)
    if layout.printer_dpi:
        dot = 25.4 / layout.printer_dpi
        if module >= dot:
            module = math.floor(module / dot + 1e-9) * dot
    return module


def _vi_number(value: float, decimals: int) -> str:
    # Vietnamese writes the decimal separator as a comma: 0,33 mm.
    return f"{value:.{decimals}f}".replace(".", ",")


def print_warning(layout: SheetLayout, version: int) -> str | None:
    """English + Vietnamese warning if codes of ``version`` print too small on ``layout``.

    ``None`` means the modules are at least :data:`MIN_MODULE_MM`.  Show the
    text to whoever prints before they spend a box of label sheets on it.
    """
    module = _printed_module_mm(layout, version)
    if module >= MIN_MODULE_MM:
        return None
    side = _geometry(layout).qr_side
    en = (
        f"QR modules on layout {layout.name!r} would be {module:.2f} mm (version {version} in a "
        f"{side:.1f} mm square). Below {MIN_MODULE_MM} mm cheap phone cameras often cannot scan "
        "the code. Use bigger labels, a shorter base URL, or error correction level L."
    )
    vi = (
        f"Ô vuông của mã QR trên mẫu giấy {layout.name!r} chỉ còn {_vi_number(module, 2)} mm "
        f"(phiên bản {version}, ô mã {_vi_number(side, 1)} mm). Dưới {_vi_number(MIN_MODULE_MM, 2)} mm, "
        "điện thoại có camera rẻ thường không quét được. Hãy dùng nhãn lớn hơn, URL gốc ngắn hơn, "
        "hoặc mức sửa lỗi L."
    )
    return f"{en}\n{vi}"


# --------------------------------------------------------------------------
# Label data
# --------------------------------------------------------------------------


def _link_in_uri(uri: str) -> DigitalLink:
    """Parse the Digital Link inside ``uri``, allowing a path prefix before ``/01/``.

    :func:`traceability.gs1.parse_digital_link_uri` insists that the path
    starts at ``/01/``; a label may legitimately use a resolver base with a
    path prefix (``DigitalLink.uri`` allows one), so try each ``/01/``.
    """
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. an unbalanced '[' in the host
        raise ValueError(f"uri: not a valid URI: {uri[:60]!r}") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"uri: must be an absolute http(s) GS1 Digital Link, got {uri[:60]!r}")
    path = parts.path
    error: GS1Error | None = None
    for match in re.finditer("/01/", path):
        try:
            return parse_digital_link_path(path[match.start() :])
        except GS1Error as exc:
            error = exc
    detail = f" ({error})" if error else ""
    raise ValueError(f"uri: not a GS1 Digital Link with /01/{{gtin}}{detail}: {uri[:60]!r}")


@dataclass(frozen=True)
class LabelData:
    """Everything printed on one label.

    ``uri`` is encoded in the QR code byte for byte.  ``element_string`` may
    be left empty to derive it from the URI; when given it must describe the
    same identifier, and so must ``lot`` (unless the link has no lot): a
    label whose printed text disagrees with its code would send a recall to
    the wrong packages.  Use :meth:`from_link` to build one from a
    :class:`~traceability.gs1.DigitalLink`.
    """

    uri: str
    product_name: str
    lot: str
    harvest_date: date
    cooperative_name: str
    ocop_stars: int | None = None
    element_string: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.uri, str) or not self.uri or any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in self.uri):
            raise ValueError("uri: must be a non-empty ASCII URI without spaces (percent-encode anything else)")
        link = _link_in_uri(self.uri)
        for field in ("product_name", "lot", "cooperative_name", "element_string"):
            if not isinstance(getattr(self, field), str):
                raise ValueError(f"{field}: must be a string")
        if not self.product_name.strip():
            raise ValueError("product_name: must not be empty")
        if not isinstance(self.harvest_date, date):
            raise ValueError(f"harvest_date: must be a datetime.date, got {type(self.harvest_date).__name__}")
        if self.ocop_stars is not None and (
            isinstance(self.ocop_stars, bool) or not isinstance(self.ocop_stars, int) or not 0 <= self.ocop_stars <= 5
        ):
            raise ValueError(f"ocop_stars: must be None or a whole number from 0 to 5, got {self.ocop_stars!r}")
        if not self.element_string:
            object.__setattr__(self, "element_string", link.element_string)
        elif self.element_string != link.element_string:
            raise ValueError(
                f"element_string: {self.element_string!r} does not match the URI, which encodes {link.element_string!r}"
            )
        if link.lot is not None and self.lot != link.lot:
            raise ValueError(f"lot: {self.lot!r} does not match lot {link.lot!r} in the URI")

    @classmethod
    def from_link(
        cls,
        link: DigitalLink,
        base_url: str,
        *,
        product_name: str,
        harvest_date: date,
        cooperative_name: str,
        ocop_stars: int | None = None,
        lot: str | None = None,
    ) -> LabelData:
        """Label for ``link`` resolved at ``base_url``; the lot defaults to the link's."""
        return cls(
            uri=link.uri(base_url),
            product_name=product_name,
            lot=lot if lot is not None else (link.lot or ""),
            harvest_date=harvest_date,
            cooperative_name=cooperative_name,
            ocop_stars=ocop_stars,
            element_string=link.element_string,
        )


def serial_links(
    gtin: str,
    lot: str | None,
    count: int,
    start: int = 1,
    prefix: str = "",
    *,
    width: int | None = None,
) -> Iterator[DigitalLink]:
    """Digital Links for ``count`` consecutive serials ``prefix + number``.

    Numbers are zero-padded to ``width`` digits (default: the digits of the
    last number), so every serial in a run has the same length and all the
    codes of a sheet come out the same QR version and printed size.  All
    arguments are checked before the first link is produced, so a bad prefix
    fails at the call, not half-way through a print run.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count: must be a whole number ≥ 0, got {count!r}")
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise ValueError(f"start: must be a whole number ≥ 0, got {start!r}")
    if not isinstance(prefix, str):
        raise ValueError("prefix: must be a string")
    last = start + max(count, 1) - 1
    if width is None:
        width = len(str(last))
    elif isinstance(width, bool) or not isinstance(width, int) or width < len(str(last)):
        raise ValueError(f"width: must be a whole number ≥ {len(str(last))} (the digits of {last}), got {width!r}")
    # Validates gtin, lot and the longest serial (prefix characters and the
    # 20-character limit of AI 21) in one go; GS1Error names the field.
    DigitalLink(gtin=gtin, lot=lot, serial=f"{prefix}{last:0{width}d}")

    def generate() -> Iterator[DigitalLink]:
        for number in range(start, start + count):
            yield DigitalLink(gtin=gtin, lot=lot, serial=f"{prefix}{number:0{width}d}")

    return generate()


def serial_uris(
    base_url: str,
    gtin: str,
    lot: str | None,
    count: int,
    start: int = 1,
    prefix: str = "",
    *,
    width: int | None = None,
) -> Iterator[str]:
    """Unit-level Digital Link URIs (``…/01/{gtin}/10/{lot}/21/{serial}``), see :func:`serial_links`."""
    links = serial_links(gtin, lot, count, start, prefix, width=width)
    DigitalLink(gtin=gtin).uri(base_url)  # check the base URL now, not at the first next()
    return (link.uri(base_url) for link in links)


# --------------------------------------------------------------------------
# Font
# --------------------------------------------------------------------------


class LabelFontError(RuntimeError):
    """No TrueType font with Vietnamese letters could be found or loaded."""


@dataclass(frozen=True)
class _Font:
    name: str
    path: str
    has_star: bool


@functools.lru_cache(maxsize=8)
def _load_font(path: str) -> _Font:
    """Register ``path`` with reportlab once per process."""
    # Registration is global in reportlab; a name derived from the path lets
    # two fonts coexist if the environment variable changes at run time.
    name = "NongsanLabel-" + hashlib.sha1(path.encode()).hexdigest()[:10]
    try:
        font = TTFont(name, path)
    except Exception as exc:  # reportlab raises TTFError, OSError, struct.error...
        raise LabelFontError(f"cannot load font {path}: {exc}") from exc
    glyphs = font.face.charToGlyph
    missing = sorted(c for c in _VIETNAMESE_GLYPHS if ord(c) not in glyphs)
    if missing:
        raise LabelFontError(
            f"font {path} lacks {len(missing)} Vietnamese letters (e.g. {''.join(missing[:8])})"
        )
    pdfmetrics.registerFont(font)
    return _Font(name=name, path=path, has_star=ord(_STAR) in glyphs)


def _label_font() -> _Font:
    """The font for label text: $NONGSAN_LABEL_FONT, else the first usable candidate."""
    configured = os.environ.get(FONT_ENV_VAR)
    if configured:
        # An explicit choice that does not work is an error, not a hint to be
        # silently replaced: the operator would never learn why labels look odd.
        if not Path(configured).is_file():
            raise LabelFontError(f"{FONT_ENV_VAR}={configured} does not exist or is not a file")
        try:
            return _load_font(configured)
        except LabelFontError as exc:
            raise LabelFontError(f"{FONT_ENV_VAR}: {exc}") from exc
    problems = []
    for path in FONT_CANDIDATES:
        if not Path(path).is_file():
            problems.append(f"{path}: not found")
            continue
        try:
            return _load_font(path)
        except LabelFontError as exc:
            problems.append(str(exc))
    raise LabelFontError(
        "no TrueType font with Vietnamese letters found for QR labels. Install one "
        "(Debian/Ubuntu: apt-get install fonts-dejavu-core) or set "
        f"{FONT_ENV_VAR} to a .ttf file. Tried: " + "; ".join(problems)
    )


# --------------------------------------------------------------------------
# Text layout
# --------------------------------------------------------------------------


def _fit(text: str, font: str, size: float, width_pt: float) -> str:
    """``text`` cut with an ellipsis so that it is at most ``width_pt`` wide."""
    if pdfmetrics.stringWidth(text, font, size) <= width_pt:
        return text
    low, high = 0, len(text)  # longest prefix that fits together with "…"
    while low < high:
        mid = (low + high + 1) // 2
        if pdfmetrics.stringWidth(text[:mid].rstrip() + _ELLIPSIS, font, size) <= width_pt:
            low = mid
        else:
            high = mid - 1
    return text[:low].rstrip() + _ELLIPSIS


def _wrap(text: str, font: str, size: float, width_pt: float, max_lines: int) -> list[str]:
    """Greedy word wrap into at most ``max_lines`` lines; the last one is truncated."""
    words = text.split()
    lines: list[str] = []
    while words and len(lines) < max_lines:
        if len(lines) == max_lines - 1:
            lines.append(_fit(" ".join(words), font, size, width_pt))
            break
        line = words.pop(0)
        while words and pdfmetrics.stringWidth(f"{line} {words[0]}", font, size) <= width_pt:
            line = f"{line} {words.pop(0)}"
        lines.append(_fit(line, font, size, width_pt))  # a single over-long word
    return lines


@dataclass(frozen=True)
class _Line:
    text: str
    size: float  # pt
    baseline: float  # mm below the top of the text column
    stars: int = 0  # > 0: draw this many vector stars after the text


@functools.lru_cache(maxsize=1024)
def _text_block(
    font: _Font,
    product_name: str,
    lot: str,
    harvest: str,
    cooperative: str,
    stars: int,
    width_mm: float,
    height_mm: float,
    base_pt: float,
) -> tuple[_Line, ...]:
    """Lay out the text column once per distinct content; serial runs hit the cache."""
    width_pt, height_pt = width_mm * PT_PER_MM, height_mm * PT_PER_MM
    star_text = ""
    if stars:
        star_text = "OCOP " + _STAR * stars if font.has_star else "OCOP"

    def essential(size: float, label: str, value: str) -> str:
        # Lot and date must never lose characters to an ellipsis; when the
        # column is too narrow for the Vietnamese caption, print the value
        # alone (the lot is also in the element string below).
        text = f"{label}: {value}"
        if pdfmetrics.stringWidth(text, font.name, size) <= width_pt:
            return text
        return _fit(value, font.name, size, width_pt)

    def build(size: float, name_lines: int, cooperative_lines: int) -> list[tuple[str, float, int]]:
        name_size = size * 1.15
        rows = [(line, name_size, 0) for line in _wrap(product_name, font.name, name_size, width_pt, name_lines)]
        if lot:
            rows.append((essential(size, "Lô", lot), size, 0))
        rows.append((essential(size, "Thu hoạch", harvest), size, 0))
        rows += [(line, size, 0) for line in _wrap(cooperative, font.name, size, width_pt, cooperative_lines)]
        if star_text:
            rows.append((star_text, size, 0 if font.has_star else stars))
        return rows

    def height(rows: list[tuple[str, float, int]]) -> float:
        return sum(line_size * _LEADING for _, line_size, _ in rows)

    def fits(rows: list[tuple[str, float, int]], size: float) -> bool:
        # Shrinking the type is preferred over dropping the "Lô:"/"Thu hoạch:"
        # captions, so they count as part of the fit.
        captions = ([f"Lô: {lot}"] if lot else []) + [f"Thu hoạch: {harvest}"]
        captions_fit = all(pdfmetrics.stringWidth(text, font.name, size) <= width_pt for text in captions)
        return captions_fit and height(rows) <= height_pt

    # Largest type that fits; at each size a cooperative name may take two
    # lines before being cut, since names like "HTX Nông nghiệp ..." are long.
    size = base_pt
    while True:
        rows = build(size, 2, 2)
        if not fits(rows, size):
            rows = build(size, 2, 1)
        if fits(rows, size) or size <= _MIN_TEXT_PT:
            break
        size = max(_MIN_TEXT_PT, size - 0.25)
    if height(rows) > height_pt:
        rows = build(size, 1, 1)
    while len(rows) > 1 and height(rows) > height_pt:
        rows.pop()  # tiny labels: drop the least important lines (stars, then cooperative)

    lines = []
    cursor = 0.0
    for text, line_size, star_count in rows:
        cursor += line_size * _LEADING
        lines.append(_Line(text, line_size, (cursor - line_size * 0.25) / PT_PER_MM, star_count))
    return tuple(lines)


def _star_points(cx: float, cy: float, radius: float) -> list[tuple[float, float]]:
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else radius * 0.4
        angle = math.pi / 2 + i * math.pi / 5
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return points


# --------------------------------------------------------------------------
# QR encoding and drawing
# --------------------------------------------------------------------------


class _Encoder:
    """QR matrices for one sheet, with version and mask chosen once.

    qrcode's default ``make(fit=True)`` tries all eight masks and scores each
    with the ISO/IEC 18004 penalty rules; that search is most of its run
    time.  The standard allows any of the eight masks; the search only picks
    the one that avoids finder-like patterns and large blocks best, which
    slightly eases decoding.  So we search once for the longest payload of
    the sheet and reuse its version and mask for every other label.
    Serialised links differ only in a few characters, so the reused mask is
    nearly as good for them, and a shorter payload simply gets more padding
    (which also keeps every code on the sheet the same printed size).

    A payload that does not fit the chosen version (possible if the longest
    string in characters is not the longest in bits) gets the next version
    that fits, with its own one-time mask search.
    """

    def __init__(self, level: int, version: int) -> None:
        self._level = level
        self._version = version
        self._masks: dict[int, int] = {}

    def modules(self, uri: str) -> list[list[bool]]:
        mask = self._masks.get(self._version)
        if mask is not None:
            code = qrcode.QRCode(version=self._version, error_correction=self._level, mask_pattern=mask)
            code.add_data(uri)
            try:
                code.make(fit=False)
                return code.modules
            except DataOverflowError:
                pass
        code = qrcode.QRCode(version=self._version, error_correction=self._level)
        code.add_data(uri)
        version = code.best_fit(start=self._version)
        if version not in self._masks:
            self._masks[version] = code.best_mask_pattern()
        code.mask_pattern = self._masks[version]
        code.make(fit=False)
        return code.modules


_DARK_RUN: Final = re.compile(b"\x01+")


def _module_rects(modules: list[list[bool]]) -> str:
    """PDF ``re`` operators covering the dark modules, in module units.

    Horizontal runs of dark modules become one rectangle, and a run that
    repeats at the same columns in the next row grows that rectangle
    downwards; this cuts a version-4 code from ~550 dark modules to ~230
    rectangles, and everything is written as small integers, which is both
    the fastest thing to format and the most compact to store.
    """
    out: list[str] = []
    open_runs: dict[tuple[int, int], int] = {}
    for r, row in enumerate(modules):
        current: dict[tuple[int, int], int] = {}
        for match in _DARK_RUN.finditer(bytes(row)):
            span = match.span()
            current[span] = open_runs.pop(span, r)
        for (a, b), top in open_runs.items():
            out.append(f"{a} {top} {b - a} {r - top} re")
        open_runs = current
    end = len(modules)
    for (a, b), top in open_runs.items():
        out.append(f"{a} {top} {b - a} {end - top} re")
    return "\n".join(out)


def _format_date(value: date) -> str:
    return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"


def _nfc(text: str) -> str:
    # Text typed on macOS or pasted from some PDFs arrives decomposed (a +
    # combining dot below); reportlab does not position combining marks, so
    # use the precomposed letters the font is known to have.
    return unicodedata.normalize("NFC", text)


def render_sheet(
    labels: Iterable[LabelData],
    layout: SheetLayout,
    *,
    error_correction: str = "M",
    progress: Callable[[int, int], None] | None = None,
) -> bytes:
    """Render ``labels`` onto as many pages of ``layout`` as needed; return the PDF.

    Labels fill each page row by row from the top left.  ``progress(done,
    total)`` is called after every 100 labels and once at the end, so a
    worker can report how far a 10,000-label job has got.

    Raises:
        ValueError: no labels, or an unknown ``error_correction`` level.
        LabelFontError: no font with Vietnamese letters is available.
    """
    level = _error_level(error_correction)
    items = list(labels)  # the total is needed for progress and for picking the version
    if not items:
        raise ValueError("labels: there is nothing to print")
    for index, item in enumerate(items):
        if not isinstance(item, LabelData):
            raise ValueError(f"labels: item {index} is a {type(item).__name__}, not LabelData")
    font = _label_font()
    geo = _geometry(layout)
    total = len(items)

    longest = max(items, key=lambda item: len(item.uri)).uri
    version = qr_version_for(longest, error_correction)
    warning = print_warning(layout, version)
    if warning:
        log.warning("%s", warning.splitlines()[0])
    encoder = _Encoder(level, version)

    page_h = layout.page_height_mm
    dot = 25.4 / layout.printer_dpi if layout.printer_dpi else None

    def snap(value_mm: float) -> float:
        return round(value_mm / dot) * dot if dot else value_mm

    buffer = io.BytesIO()
    pdf = pdfcanvas.Canvas(
        buffer,
        pagesize=(layout.page_width_mm * PT_PER_MM, page_h * PT_PER_MM),
        pageCompression=1,
        invariant=1,  # same labels, same bytes: reproducible files and tests
    )
    pdf.setCreator("nongsan traceability labels")
    pdf.setTitle(f"QR labels ({layout.name}, {total})")

    for done, item in enumerate(items, start=1):
        slot = (done - 1) % layout.per_page
        if slot == 0 and done > 1:
            pdf.showPage()
        left, top = layout.label_origin_mm(slot)

        # QR code: one filled path in a coordinate system of modules, with y
        # pointing down so matrix rows map to it directly.
        modules = encoder.modules(item.uri)
        count = len(modules)
        module = geo.qr_side / (count + 2 * QUIET_ZONE_MODULES)
        if dot and module >= dot:
            module = math.floor(module / dot + 1e-9) * dot
        drawn = module * (count + 2 * QUIET_ZONE_MODULES)
        offset = (geo.qr_side - drawn) / 2  # centre a dot-snapped code in its square
        x0 = snap(left + layout.padding_mm + offset + QUIET_ZONE_MODULES * module)
        y0 = snap(top + layout.padding_mm + offset + QUIET_ZONE_MODULES * module)
        scale = module * PT_PER_MM
        pdf.addLiteral(
            f"q {scale:.5f} 0 0 {-scale:.5f} {x0 * PT_PER_MM:.4f} {(page_h - y0) * PT_PER_MM:.4f} cm 0 g\n"
            f"{_module_rects(modules)}\nf Q"
        )

        # Text column beside the code.
        lines = _text_block(
            font,
            _nfc(item.product_name),
            _nfc(item.lot),
            _format_date(item.harvest_date),
            _nfc(item.cooperative_name),
            item.ocop_stars or 0,
            geo.text_width,
            geo.text_height,
            geo.text_pt,
        )
        text_left = (left + geo.text_x) * PT_PER_MM
        text_top = top + layout.padding_mm
        for line in lines:
            baseline = (page_h - text_top - line.baseline) * PT_PER_MM
            pdf.setFont(font.name, line.size)
            pdf.drawString(text_left, baseline, line.text)
            if line.stars:  # the font has no ★: draw them
                radius = line.size * 0.42
                cx = text_left + pdfmetrics.stringWidth(line.text + " ", font.name, line.size) + radius
                for _ in range(line.stars):
                    path = pdf.beginPath()
                    points = _star_points(cx, baseline + radius * 0.8, radius)
                    path.moveTo(*points[0])
                    for point in points[1:]:
                        path.lineTo(*point)
                    path.close()
                    pdf.drawPath(path, stroke=0, fill=1)
                    cx += radius * 2.2

        # Element string along the bottom edge, shrunk (then condensed) to
        # stay on one line.
        hri = item.element_string
        available = geo.hri_width * PT_PER_MM
        size = geo.hri_pt
        width = pdfmetrics.stringWidth(hri, font.name, size)
        text = pdf.beginText((left + layout.padding_mm) * PT_PER_MM, (page_h - top - geo.hri_baseline) * PT_PER_MM)
        if width > available:
            size = max(_MIN_HRI_PT, size * available / width)
            width = pdfmetrics.stringWidth(hri, font.name, size)
            if width > available:
                text.setHorizScale(100 * available / width)
        text.setFont(font.name, size)
        text.textOut(hri)
        pdf.drawText(text)

        if progress is not None and (done % _PROGRESS_EVERY == 0 or done == total):
            progress(done, total)

    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
