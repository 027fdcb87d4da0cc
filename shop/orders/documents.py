"""Packing slips and invoices as PDF (reportlab), in Vietnamese, with dd/mm/yyyy and VND."""

from __future__ import annotations

import io
import unicodedata

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from kernel import address
from kernel.i18n import format_date, format_vnd
from traceability.labels import _label_font


def _text(value: str) -> str:
    return unicodedata.normalize("NFC", value)  # reportlab places precomposed letters only


def _document(title: str, order, lines, cooperative, *, with_prices: bool, extra: list[str]) -> bytes:
    font = _label_font().name
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    pdf.setTitle(f"{title} {order.reference}")
    width, height = A4
    y = height - 20 * mm

    def line(text: str, size: float = 10, x: float = 20 * mm, gap: float = 5.5 * mm) -> None:
        nonlocal y
        if y < 25 * mm:
            pdf.showPage()
            y = height - 20 * mm
        pdf.setFont(font, size)
        pdf.drawString(x, y, _text(text))
        y -= gap

    line(cooperative.name, 12)
    line(f"{cooperative.address}, {address.ward_name(cooperative.ward_code)}, {address.province_name(cooperative.province_code)}", 9)
    line(f"ĐT: {cooperative.phone} · MST/ĐKKD: {cooperative.registration_no}", 9, gap=9 * mm)
    line(title, 16, gap=8 * mm)
    for text in extra:
        line(text)
    line(f"Đơn hàng: {order.reference} · Ngày đặt: {format_date(order.created_at)}")
    line(f"Người nhận: {order.buyer_name} · {order.buyer_phone}")
    line(f"Địa chỉ: {address.full_address(order.street, order.ward_code, order.province_code)}", gap=8 * mm)
    for item in lines:
        text = f"{item.product_name} (lô {item.lot}) × {item.quantity}"
        if with_prices:
            text += f"  —  {format_vnd(item.unit_price_vnd)} = {format_vnd(item.line_total_vnd)}"
        line(text)
    if with_prices:
        y -= 3 * mm
        line(f"Tiền hàng: {format_vnd(order.goods_total_vnd)}")
        line(f"Phí vận chuyển: {format_vnd(order.shipping_fee_vnd or 0)}")
        line(f"Tổng cộng: {format_vnd(order.goods_total_vnd + (order.shipping_fee_vnd or 0))}", 12)
        line("Thanh toán: " + ("chuyển khoản VietQR" if order.payment_method == "vietqr" else "thu hộ khi giao hàng (COD)"))
    if order.note:
        line(f"Ghi chú: {order.note}")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def invoice_pdf(order, lines, cooperative) -> bytes:
    return _document("HÓA ĐƠN BÁN HÀNG", order, lines, cooperative, with_prices=True,
                     extra=[f"Số hóa đơn: {order.invoice_number}"])


def packing_slip_pdf(order, lines, cooperative, shipment_code: str | None) -> bytes:
    return _document("PHIẾU ĐÓNG GÓI", order, lines, cooperative, with_prices=False,
                     extra=[f"Mã bưu gửi: {shipment_code}"] if shipment_code else [])
