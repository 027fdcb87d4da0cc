"""Tests for traceability.labels (printable QR label sheets).

The PDFs are checked the way a printer and a phone would see them: pypdf
reads the text back (so Vietnamese letters must survive font embedding),
and pypdfium2 rasterises pages at 300 dpi, a typical office-printer
resolution, for zxing-cpp to decode every QR code on the page.  The decoded
payloads must be exactly the Digital Links meant for that page.
"""

from __future__ import annotations

import io
import math
import unicodedata
from datetime import date
from pathlib import Path

import pypdf
import pypdfium2
import pytest
import qrcode
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st

from traceability import labels as labels_module
from traceability.gs1 import DigitalLink, GS1Error, parse_digital_link_uri
from traceability.labels import (
    FONT_ENV_VAR,
    PRESETS,
    LabelData,
    LabelFontError,
    LayoutError,
    custom,
    get_layout,
    module_size_mm,
    print_warning,
    qr_version_for,
    render_sheet,
    serial_links,
    serial_uris,
)

BASE = "https://id.nongsan.vn"
GTIN = "08934588012112"
LOT = "LO-2024/07"  # the '/' must be percent-encoded in the URI but not on the label
PRODUCT = "Gạo ST25 Sóc Trăng"
COOPERATIVE = "HTX Nông nghiệp Hòa Tú"
HARVEST = date(2024, 7, 5)


def make_labels(count: int, *, stars: int | None = 5) -> list[LabelData]:
    return [
        LabelData.from_link(
            link,
            BASE,
            product_name=PRODUCT,
            harvest_date=HARVEST,
            cooperative_name=COOPERATIVE,
            ocop_stars=stars,
        )
        for link in serial_links(GTIN, LOT, count)
    ]


def flat(text: str) -> str:
    """Extracted text with line breaks and spacing removed, NFC-normalised."""
    return unicodedata.normalize("NFC", "".join(text.split()))


def decode_page(pdf: bytes, index: int) -> list[str]:
    document = pypdfium2.PdfDocument(pdf)
    try:
        image = document[index].render(scale=300 / 72, grayscale=True).to_pil()
    finally:
        document.close()
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return [result.text for result in results]


# --------------------------------------------------------------------------
# Whole sheets: text, page count and every QR code decoded
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "count"),
    [("a4-3x8", 26), ("a4-4x10", 41), ("thermal-50x30", 3)],
)
def test_preset_sheet_text_pages_and_codes(preset: str, count: int) -> None:
    layout = get_layout(preset)
    items = make_labels(count)
    pdf = render_sheet(items, layout)

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == math.ceil(count / layout.per_page)

    first_page = flat(reader.pages[0].extract_text())
    assert flat(PRODUCT) in first_page
    assert flat(COOPERATIVE) in first_page
    assert LOT in first_page
    assert "05/07/2024" in first_page
    assert "★★★★★" in first_page
    serial = parse_digital_link_uri(items[0].uri).serial
    assert items[0].element_string == f"(01){GTIN}(10){LOT}(21){serial}"
    assert items[0].element_string in first_page
    # QR codes are vector squares, not embedded bitmaps.
    assert not reader.pages[0].images

    for page in range(len(reader.pages)):
        expected = [item.uri for item in items[page * layout.per_page : (page + 1) * layout.per_page]]
        decoded = decode_page(pdf, page)
        assert len(decoded) == len(expected), f"page {page}"
        assert set(decoded) == set(expected), f"page {page}"
    assert len({item.uri for item in items}) == count  # serialised: every unit unique


def test_mask_search_runs_once_per_sheet(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = qrcode.QRCode.best_mask_pattern

    def counting(self: qrcode.QRCode) -> int:
        calls.append(self.version)
        return original(self)

    monkeypatch.setattr(qrcode.QRCode, "best_mask_pattern", counting)
    render_sheet(make_labels(60), get_layout("a4-4x10"))
    assert len(calls) == 1


def test_payload_outgrowing_the_chosen_version_still_encodes(monkeypatch: pytest.MonkeyPatch) -> None:
    # The longest URI in characters is not always the longest in bits: an
    # all-uppercase serial packs into alphanumeric mode, lowercase does not.
    compact = DigitalLink(GTIN, serial="AAAAAA").uri(BASE)
    bulky = DigitalLink(GTIN, serial="xxxx").uri(BASE)
    assert len(compact) > len(bulky)
    assert qr_version_for(compact) < qr_version_for(bulky)

    items = [
        LabelData(uri=uri, product_name=PRODUCT, lot="", harvest_date=HARVEST, cooperative_name=COOPERATIVE)
        for uri in (compact, bulky, DigitalLink(GTIN, serial="xxxy").uri(BASE))
    ]
    pdf = render_sheet(items, get_layout("a4-3x8"))
    assert sorted(decode_page(pdf, 0)) == sorted(item.uri for item in items)


def test_progress_reaches_total() -> None:
    calls: list[tuple[int, int]] = []
    render_sheet(make_labels(150, stars=None), get_layout("a4-4x10"), progress=lambda d, t: calls.append((d, t)))
    assert calls == [(100, 150), (150, 150)]


def test_decomposed_vietnamese_is_printed_precomposed() -> None:
    item = make_labels(1)[0]
    nfd = LabelData(
        uri=item.uri,
        product_name=unicodedata.normalize("NFD", "Hành tím Vĩnh Châu"),
        lot=item.lot,
        harvest_date=HARVEST,
        cooperative_name=COOPERATIVE,
    )
    text = pypdf.PdfReader(io.BytesIO(render_sheet([nfd], get_layout("thermal-50x30")))).pages[0].extract_text()
    assert "HànhtímVĩnhChâu" in flat(text)


def test_error_correction_and_empty_input_are_rejected() -> None:
    with pytest.raises(ValueError, match="error_correction"):
        render_sheet(make_labels(1), get_layout("a4-3x8"), error_correction="X")
    with pytest.raises(ValueError, match="labels"):
        render_sheet([], get_layout("a4-3x8"))


# --------------------------------------------------------------------------
# Module size and warnings
# --------------------------------------------------------------------------


def test_module_size() -> None:
    # Version 1 is 21 modules, plus 4 quiet-zone modules on each side.
    assert module_size_mm(1, 29.0) == pytest.approx(1.0)
    assert module_size_mm(4, 41 * 0.5) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="version"):
        module_size_mm(41, 30.0)


def test_print_warning_for_tiny_labels_only() -> None:
    version = qr_version_for(make_labels(1)[0].uri)
    assert print_warning(get_layout("a4-3x8"), version) is None
    assert print_warning(get_layout("a4-4x10"), version) is None

    tiny = custom(8, 22, label_width_mm=25.0, label_height_mm=13.0)
    warning = print_warning(tiny, version)
    assert warning is not None
    assert "0.33 mm" in warning  # English
    assert "0,33 mm" in warning and "điện thoại" in warning  # Vietnamese
    # Too small for a phone, but still a correct sheet: a clean 300 dpi
    # raster (about 2.5 pixels per module) decodes.
    items = make_labels(2)
    pdf = render_sheet(items, tiny)
    assert len(pypdf.PdfReader(io.BytesIO(pdf)).pages) == 1
    assert sorted(decode_page(pdf, 0)) == sorted(item.uri for item in items)


# --------------------------------------------------------------------------
# Layout validation
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(columns=4, rows=8, label_width_mm=60.0, label_height_mm=37.0), "columns"),
        (dict(columns=3, rows=9, label_width_mm=70.0, label_height_mm=37.0), "rows"),
        (dict(columns=0, rows=8, label_width_mm=70.0, label_height_mm=37.0), "columns"),
        (dict(columns=3, rows=8, label_width_mm=-70.0, label_height_mm=37.0), "label_width_mm"),
        (dict(columns=3, rows=8, label_width_mm=70.0, label_height_mm=37.0, gap_x_mm=-1.0), "gap_x_mm"),
        (dict(columns=3, rows=8, label_width_mm=70.0, label_height_mm=37.0, padding_mm=20.0), "padding_mm"),
        (dict(columns=3, rows=8, label_width_mm=70.0, label_height_mm=5.0), "label_height_mm"),
        (dict(columns=3, rows=8, label_width_mm=14.0, label_height_mm=37.0), "label_width_mm"),
        (dict(columns=2, rows=8, label_width_mm=70.0, label_height_mm=37.0, margin_left_mm=100.0), "columns"),
        (dict(columns=2, rows=2, label_width_mm=70.0, label_height_mm=37.0, printer_dpi=10), "printer_dpi"),
    ],
)
def test_invalid_layouts_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field) as info:
        custom(**kwargs)
    assert isinstance(info.value, LayoutError)
    assert info.value.field == field


def test_unknown_preset() -> None:
    with pytest.raises(LayoutError, match="a4-3x8") as info:
        get_layout("a4-2x7")
    assert info.value.field == "name"


def test_presets_fill_their_sheets() -> None:
    assert (PRESETS["a4-3x8"].per_page, PRESETS["a4-4x10"].per_page, PRESETS["thermal-50x30"].per_page) == (24, 40, 1)
    layout = PRESETS["a4-4x10"]
    x, y = layout.label_origin_mm(layout.per_page - 1)
    assert x + layout.label_width_mm == pytest.approx(210.0)
    assert y + layout.label_height_mm == pytest.approx(297.0)


@settings(max_examples=150, deadline=None)
@given(
    columns=st.integers(1, 8),
    rows=st.integers(1, 20),
    width=st.floats(5.0, 150.0),
    height=st.floats(5.0, 150.0),
    gap=st.floats(0.0, 10.0),
)
def test_accepted_layouts_stay_on_the_page(columns: int, rows: int, width: float, height: float, gap: float) -> None:
    try:
        layout = custom(columns, rows, label_width_mm=width, label_height_mm=height, gap_x_mm=gap, gap_y_mm=gap)
    except LayoutError:
        return
    x, y = layout.label_origin_mm(layout.per_page - 1)
    assert layout.label_origin_mm(0) >= (0.0, 0.0)
    assert x + width <= layout.page_width_mm + 1e-6
    assert y + height <= layout.page_height_mm + 1e-6
    assert layout.qr_side_mm >= 6.0


# --------------------------------------------------------------------------
# Label data and serials
# --------------------------------------------------------------------------


def test_label_data_checks_consistency() -> None:
    uri = DigitalLink(GTIN, lot="L1", serial="7").uri(BASE)
    derived = LabelData(uri=uri, product_name=PRODUCT, lot="L1", harvest_date=HARVEST, cooperative_name="")
    assert derived.element_string == f"(01){GTIN}(10)L1(21)7"
    with pytest.raises(ValueError, match="element_string"):
        LabelData(uri, PRODUCT, "L1", HARVEST, "", element_string=f"(01){GTIN}(10)L1(21)8")
    with pytest.raises(ValueError, match="lot"):
        LabelData(uri, PRODUCT, "L2", HARVEST, "")
    with pytest.raises(ValueError, match="ocop_stars"):
        LabelData(uri, PRODUCT, "L1", HARVEST, "", ocop_stars=6)
    with pytest.raises(ValueError, match="uri"):
        LabelData("https://id.nongsan.vn/products/7", PRODUCT, "L1", HARVEST, "")
    # A resolver base with a path prefix is fine.
    prefixed = DigitalLink(GTIN, lot="L1").uri("https://nongsan.vn/id")
    assert LabelData(prefixed, PRODUCT, "L1", HARVEST, "").element_string == f"(01){GTIN}(10)L1"


def test_serial_uris() -> None:
    uris = list(serial_uris(BASE, GTIN, LOT, 3, start=99, prefix="A-"))
    assert uris == [
        f"{BASE}/01/{GTIN}/10/LO-2024%2F07/21/A-099",
        f"{BASE}/01/{GTIN}/10/LO-2024%2F07/21/A-100",
        f"{BASE}/01/{GTIN}/10/LO-2024%2F07/21/A-101",
    ]
    assert [parse_digital_link_uri(uri).serial for uri in uris] == ["A-099", "A-100", "A-101"]
    many = list(serial_uris(BASE, GTIN, None, 10_000))
    assert len(set(many)) == 10_000 and len({len(uri) for uri in many}) == 1


def test_serial_uris_fail_at_the_call() -> None:
    with pytest.raises(GS1Error) as info:
        serial_uris(BASE, GTIN, LOT, 5, prefix="LÔ")  # not GS1 character set 82
    assert info.value.field == "serial"
    with pytest.raises(GS1Error) as info:
        serial_uris(BASE, GTIN, LOT, 10, prefix="X" * 19)  # 21 characters
    assert info.value.field == "serial"
    with pytest.raises(GS1Error) as info:
        serial_uris("ftp://id.nongsan.vn", GTIN, LOT, 5)
    assert info.value.field == "base_url"
    with pytest.raises(ValueError, match="count"):
        serial_uris(BASE, GTIN, LOT, -1)


# --------------------------------------------------------------------------
# Fonts
# --------------------------------------------------------------------------


def test_missing_configured_font_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(FONT_ENV_VAR, str(tmp_path / "nope.ttf"))
    with pytest.raises(LabelFontError, match=FONT_ENV_VAR):
        render_sheet(make_labels(1), get_layout("thermal-50x30"))


def test_no_font_at_all_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(FONT_ENV_VAR, raising=False)
    monkeypatch.setattr(labels_module, "FONT_CANDIDATES", (str(tmp_path / "a.ttf"), str(tmp_path / "b.ttf")))
    with pytest.raises(LabelFontError, match="fonts-dejavu-core"):
        render_sheet(make_labels(1), get_layout("thermal-50x30"))


NOTO = Path("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf")


@pytest.mark.skipif(not NOTO.is_file(), reason="Noto Sans not installed")
def test_font_without_star_glyph_draws_stars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FONT_ENV_VAR, str(NOTO))
    pdf = render_sheet(make_labels(1, stars=3), get_layout("thermal-50x30"))
    text = flat(pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text())
    assert flat(PRODUCT) in text and "OCOP" in text and "★" not in text
    assert decode_page(pdf, 0) == [make_labels(1)[0].uri]
