"""Shipping labels for parcels: one label per page, for a 100×150 mm thermal roll or an A6 sheet.

A label carries what the courier needs without a phone: sender (the cooperative) and receiver with
address and phone, the weight, the cash to collect in VND, and the shipment code twice — as a
Code 128 barcode for the counter's laser/CCD scanner and as a QR code for phone cameras — both
holding exactly the code, so the scan page reads either. Text is in Vietnamese for the courier; the
barcode bars are snapped to the 0.125 mm dot of a 203 dpi thermal head so no bar is printed thinner
than its neighbours.
"""

from __future__ import annotations

import functools
import io
import logging
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import qrcode
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.pagesizes import A6
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from kernel.i18n import format_date, format_vnd
from traceability.labels import LabelFontError, _fit, _label_font, _load_font, _wrap

log = logging.getLogger(__name__)

# name -> (width, height) in points, portrait
SIZES: dict[str, tuple[float, float]] = {
    "thermal": (100 * mm, 150 * mm),
    "a6": A6,
}
THERMAL_DOT = 0.125 * mm  # one dot of a 203 dpi print head
QR_SIDE = 36 * mm
MARGIN = 4 * mm


@dataclass(frozen=True)
class ShippingLabel:
    code: str
    order_reference: str
    partner_name: str
    sender_name: str
    sender_address: str  # street, commune/ward, province
    sender_phone: str
    recipient_name: str
    recipient_phone: str
    recipient_address: str
    weight_g: int
    cod_amount_vnd: int
    note: str
    created_at: datetime


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text or "")  # reportlab places precomposed letters only


def format_weight(weight_g: int) -> str:
    """1200 -> '1,2 kg', 350 -> '350 g' (Vietnamese decimal comma)."""
    if weight_g < 1000:
        return f"{weight_g} g"
    return f"{weight_g / 1000:.2f}".rstrip("0").rstrip(".").replace(".", ",") + " kg"


@functools.lru_cache(maxsize=1)
def _fonts() -> tuple[str, str]:
    """(regular, bold): the label font and its bold face when one sits next to it."""
    regular = _label_font()
    bold_path = Path(regular.path).with_name(Path(regular.path).stem + "-Bold.ttf")
    if bold_path.is_file():
        try:
            return regular.name, _load_font(str(bold_path)).name
        except LabelFontError:
            log.warning("bold font %s is unusable; labels use the regular face only", bold_path)
    return regular.name, regular.name


def _code128(code: str, width_limit: float, height: float) -> Code128:
    """The widest barcode that fits, bars a whole number of thermal dots wide."""
    probe = Code128(code, barWidth=1, barHeight=height, quiet=False)
    dots = max(2, int(width_limit / (probe.width + 20) / THERMAL_DOT))  # 10 modules of quiet zone each side
    return Code128(code, barWidth=dots * THERMAL_DOT, barHeight=height, quiet=True, lquiet=10 * dots * THERMAL_DOT,
                   rquiet=10 * dots * THERMAL_DOT)


def _draw_qr(pdf: canvas.Canvas, code: str, x: float, y: float, side: float) -> None:
    """The QR code as one vector path of merged dark runs (fast, and crisp at any printer
    resolution), inside a quiet zone of four modules, bottom-left corner at (x, y)."""
    encoder = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    encoder.add_data(code)
    encoder.make(fit=True)
    modules = encoder.get_matrix()  # includes the border
    size = side / len(modules)
    path = pdf.beginPath()
    for row, line in enumerate(modules):
        top = y + side - (row + 1) * size
        column = 0
        while column < len(line):
            if not line[column]:
                column += 1
                continue
            start = column
            while column < len(line) and line[column]:
                column += 1
            path.rect(x + start * size, top, (column - start) * size, size)
    pdf.drawPath(path, stroke=0, fill=1)


def _draw_label(pdf: canvas.Canvas, label: ShippingLabel, page_width: float, page_height: float) -> None:
    regular, bold = _fonts()
    width = page_width - 2 * MARGIN
    left, top = MARGIN, page_height - MARGIN
    y = top

    def text(value: str, size: float, *, font: str = regular, x: float = left, max_width: float = width,
             gap: float | None = None) -> None:
        nonlocal y
        y -= size * 1.05
        pdf.setFont(font, size)
        pdf.drawString(x, y, _fit(_nfc(value), font, size, max_width))
        y -= gap if gap is not None else size * 0.3

    def wrapped(value: str, size: float, lines: int, *, font: str = regular) -> None:
        for line in _wrap(_nfc(value), font, size, width, lines):
            text(line, size, font=font)

    def rule(gap: float = 1.5 * mm) -> None:
        nonlocal y
        y -= gap
        pdf.setLineWidth(0.8)
        pdf.line(left, y, left + width, y)
        y -= gap

    # Header: who carries it and when the job was created.
    pdf.setFont(regular, 8)
    y -= 8
    pdf.drawString(left, y, _fit(_nfc(label.partner_name), regular, 8, width * 0.7))
    pdf.drawRightString(left + width, y, format_date(label.created_at))
    y -= 2 * mm

    barcode = _code128(label.code, width, 20 * mm)
    y -= barcode.height
    barcode.drawOn(pdf, left + (width - barcode.width) / 2, y)
    y -= 5.5 * mm
    pdf.setFont(bold, 15)
    pdf.drawCentredString(left + width / 2, y, label.code)
    rule()

    text("NGƯỜI GỬI (From)", 7)
    text(label.sender_name, 10, font=bold)
    wrapped(label.sender_address, 8.5, 2)
    if label.sender_phone:
        text(f"ĐT: {label.sender_phone}", 8.5)
    rule()

    text("NGƯỜI NHẬN (To)", 7)
    text(label.recipient_name, 13, font=bold)
    text(f"ĐT: {label.recipient_phone}", 13, font=bold)
    wrapped(label.recipient_address, 10, 3)
    rule()

    # Bottom: the QR code on the left, the money and the weight beside it.
    qr_top = y
    _draw_qr(pdf, label.code, left - 1 * mm, qr_top - QR_SIDE, QR_SIDE)
    column = left + QR_SIDE + 2 * mm
    column_width = width - QR_SIDE - 2 * mm
    text("THU HỘ (COD)", 7, x=column, max_width=column_width)
    if label.cod_amount_vnd:
        text(format_vnd(label.cod_amount_vnd), 18, font=bold, x=column, max_width=column_width)
    else:
        text("Không thu tiền", 13, font=bold, x=column, max_width=column_width)
    text(f"Khối lượng: {format_weight(label.weight_g)}", 10, x=column, max_width=column_width)
    text(f"Đơn hàng: {label.order_reference}", 9, x=column, max_width=column_width)
    y = min(y, qr_top - QR_SIDE)
    if label.note:
        text("Ghi chú: " + label.note[:200], 8, max_width=width)


def render_labels(labels: Iterable[ShippingLabel], size: str = "thermal") -> bytes:
    """A PDF with one label per page; `size` is a key of SIZES."""
    if size not in SIZES:
        raise ValueError(f"unknown label size {size!r}")
    page_width, page_height = SIZES[size]
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(page_width, page_height), invariant=True)
    pdf.setTitle("Nhãn bưu gửi")
    count = 0
    for label in labels:
        _draw_label(pdf, label, page_width, page_height)
        pdf.showPage()
        count += 1
    if count == 0:
        raise ValueError("no labels to print")
    pdf.save()
    return buffer.getvalue()

