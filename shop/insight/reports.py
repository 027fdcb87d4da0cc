"""The monthly report the alliance sends to the province: an A4 PDF in Vietnamese (reportlab),
with the month's key figures, its tables, bar charts of the last twelve months and the ranking of
cooperatives summarised by class."""

from __future__ import annotations

import io
import unicodedata
from datetime import date, datetime

from flask_babel import force_locale
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen import canvas
from sqlmodel import Session

from kernel.i18n import LOCAL_TZ, format_date, format_vnd
from shop.insight.formatting import format_month, format_number, format_percent
from shop.insight.schemas import MonthRange, Period, Table
from shop.insight.services import SCORING, ClassificationService, DashboardService
from traceability.labels import _label_font

GRADE_NAMES_VI = {"good": "Tốt", "fair": "Khá", "average": "Trung bình", "weak": "Yếu"}
COMPONENT_NAMES_VI = {"sales": "doanh số", "on_time": "giao hàng đúng hạn", "traceability": "truy xuất nguồn gốc",
                      "complaints": "phản ánh của người mua", "returns": "hoàn hàng"}
GREEN = (0.184, 0.42, 0.184)
GREY = (0.33, 0.33, 0.4)


def _text(value) -> str:
    return unicodedata.normalize("NFC", str(value))  # reportlab places precomposed letters only


def _cell(value, kind: str) -> str:
    if kind == "vnd":
        return format_vnd(value)
    if kind in ("number",):
        return format_number(value, locale="vi")
    if kind == "score":
        return format_number(value, 1, locale="vi")
    if kind == "month":
        return format_month(value)
    if kind == "date":
        return format_date(value)
    return "" if value is None else str(value)


class _Page:
    """A top-down writer over reportlab's canvas that starts a new page when it runs out."""

    def __init__(self, pdf: canvas.Canvas, font: str) -> None:
        self.pdf = pdf
        self.font = font
        self.width, self.height = A4
        self.left = 18 * mm
        self.right = self.width - 18 * mm
        self.y = self.height - 20 * mm

    def room(self, needed: float) -> None:
        if self.y - needed < 18 * mm:
            self.pdf.showPage()
            self.y = self.height - 20 * mm

    def line(self, text: str, size: float = 10, gap: float = 5.5 * mm, x: float | None = None, colour=(0, 0, 0)) -> None:
        self.room(gap)
        self.pdf.setFillColorRGB(*colour)
        self.pdf.setFont(self.font, size)
        self.pdf.drawString(self.left if x is None else x, self.y, _text(text))
        self.y -= gap

    def heading(self, text: str) -> None:
        self.room(14 * mm)
        self.y -= 3 * mm
        self.line(text, 13, gap=7 * mm, colour=GREEN)

    def table(self, table: Table, title: str, limit: int | None = None, widths: list[float] | None = None) -> None:
        self.heading(title)
        count = len(table.header)
        # By default the first column takes the names and the others share what is left.
        if widths is None:
            first = 0.46 if count > 2 else 0.6
            widths = [first] + [(1 - first) / max(1, count - 1)] * (count - 1)
        span = self.right - self.left
        columns, x = [], self.left
        for share in widths:
            columns.append((x, span * share - 2 * mm))
            x += span * share
        rows = table.rows[:limit] if limit else table.rows
        self._row([str(h) for h in table.header], columns, size=8.5, colour=GREY)
        if not rows:
            self.line("Không có số liệu trong kỳ.", 9)
        for row in rows:
            self._row([_cell(value, table.kinds[i] if i < len(table.kinds) else "text") for i, value in enumerate(row)],
                      columns, size=9)

    def _row(self, cells: list[str], columns: list[tuple[float, float]], size: float, colour=(0, 0, 0)) -> None:
        self.room(5 * mm)
        self.pdf.setFillColorRGB(*colour)
        self.pdf.setFont(self.font, size)
        for cell, (x, room) in zip(cells, columns):
            text = _text(cell)
            # Shortened to its column, so a long name never runs into the next one.
            while text and pdfmetrics.stringWidth(text, self.font, size) > room:
                text = text[:-2] + "…"
            self.pdf.drawString(x, self.y, text)
        self.y -= 5 * mm

    def column_chart(self, title: str, series: list[tuple[str, int]], format_value) -> None:
        """Bars drawn as vector shapes: the chart prints sharp and its labels stay text."""
        chart_height = 45 * mm
        self.room(chart_height + 16 * mm)
        self.heading(title)
        left = self.left + 22 * mm
        bottom = self.y - chart_height
        plot_width = self.right - left
        top = max((value for _label, value in series), default=0) or 1
        pdf = self.pdf
        pdf.setStrokeColorRGB(0.85, 0.87, 0.82)
        pdf.setFont(self.font, 7)
        for fraction in (0, 0.5, 1):
            y = bottom + chart_height * fraction
            pdf.line(left, y, self.right, y)
            pdf.setFillColorRGB(*GREY)
            pdf.drawRightString(left - 2 * mm, y - 1 * mm, _text(format_value(top * fraction if fraction else 0)))
        slot = plot_width / max(1, len(series))
        for index, (label, value) in enumerate(series):
            bar_height = chart_height * value / top
            pdf.setFillColorRGB(*GREEN)
            pdf.rect(left + index * slot + slot * 0.15, bottom, slot * 0.7, bar_height, stroke=0, fill=1)
            pdf.setFillColorRGB(*GREY)
            pdf.drawCentredString(left + index * slot + slot / 2, bottom - 4 * mm, _text(label))
        self.y = bottom - 9 * mm


def monthly_report_pdf(session: Session, month: date, *, top: int = 10) -> bytes:
    """The report for the calendar month containing `month`, in Vietnamese whatever the reader's language."""
    with force_locale("vi"):
        return _monthly_report(session, month, top)


def _monthly_report(session: Session, month: date, top: int) -> bytes:
    month = month.replace(day=1)
    one_month = MonthRange(month, month)
    year_to_month = MonthRange.last_months(12, month)
    dashboard = DashboardService(session, top=top)
    data = dashboard.build(one_month)
    history = dashboard.table("monthly", year_to_month)
    scans_history = dashboard.scans(year_to_month)
    ranking_period = Period.months_back(SCORING.period_months, one_month.period.end)
    ranking = ClassificationService(session).ranking(ranking_period)

    font = _label_font().name
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    label = format_month(f"{month:%Y-%m}")
    pdf.setTitle(f"Báo cáo tháng {label}")
    pdf.setAuthor("Liên minh Hợp tác xã")
    page = _Page(pdf, font)
    page.line("LIÊN MINH HỢP TÁC XÃ", 10, gap=9 * mm, colour=GREY)
    page.line(f"BÁO CÁO THÁNG {label}", 17, gap=8 * mm)
    page.line(f"Tiêu thụ nông sản, truy xuất nguồn gốc và xếp loại hợp tác xã · "
              f"từ {format_date(one_month.period.start)} đến {format_date(one_month.period.end)}", 9)
    page.line(f"Lập ngày {format_date(datetime.now(LOCAL_TZ))}", 9, colour=GREY)

    f = data.figures
    page.heading("1. Số liệu chính trong tháng")
    for name, value in (
        ("Đơn hàng đã đặt", format_number(f["orders"], locale="vi")),
        ("Đơn hàng đã giao", format_number(f["delivered"], locale="vi")),
        ("Doanh thu đơn đã giao", format_vnd(f["revenue_vnd"])),
        ("Lượt quét mã QR", format_number(f["scans"], locale="vi")),
        ("Bưu gửi", format_number(f["shipments"], locale="vi")),
        ("Tiền thu hộ (COD) còn phải thanh toán", format_vnd(f["cod_outstanding_vnd"])),
        ("Việc chạy nền thất bại", format_number(f["dead_letters"], locale="vi")),
        ("Lô hàng bị thu hồi", format_number(f["recalls"], locale="vi")),
    ):
        page.line(f"{name}: {value}", 10)

    page.column_chart("2. Đơn hàng đã đặt theo tháng (12 tháng)",
                      [(format_month(r[0]), r[1]) for r in history.rows], lambda v: format_number(v, locale="vi"))
    page.column_chart("3. Doanh thu đơn đã giao theo tháng (triệu đồng)",
                      [(format_month(r[0]), r[3]) for r in history.rows],
                      lambda v: format_number(v / 1_000_000, 1, locale="vi"))
    page.column_chart("4. Lượt quét mã QR theo tháng", [(format_month(r[0]), r[1]) for r in scans_history.rows],
                      lambda v: format_number(v, locale="vi"))

    tables = data.tables
    page.table(_vietnamese(tables["cooperatives"], ["Hợp tác xã", "Đơn đã đặt", "Doanh thu (đồng)"]),
               f"5. {top} hợp tác xã có doanh thu cao nhất trong tháng")
    page.table(_vietnamese(tables["categories"], ["Nhóm sản phẩm", "Dòng hàng", "Số lượng", "Doanh thu (đồng)"]),
               "6. Doanh thu theo nhóm sản phẩm")
    page.table(_vietnamese(tables["shipments"], ["Trạng thái", "Bưu gửi"]), "7. Bưu gửi theo trạng thái")
    cod = tables["cod"]
    cod_rows = [["Đã giao, chưa ghi nhận thu tiền", *cod.rows[0][1:]], ["Đã thu, chưa chuyển cho hợp tác xã", *cod.rows[1][1:]],
                ["Đã chuyển thiếu so với số đã thu", *cod.rows[2][1:]]]
    page.table(Table("cod", "", ["Khoản", "Bưu gửi", "Số tiền (đồng)"], cod_rows, cod.kinds), "8. Tiền thu hộ (COD) còn tồn")
    recalls = tables["recalls"]
    page.table(Table("recalls", "", ["Ngày", "GTIN", "Lô", "Sản phẩm", "Hợp tác xã"],
                     [row[:5] for row in recalls.rows], recalls.kinds[:5]), "9. Thu hồi lô hàng",
               widths=[0.13, 0.2, 0.12, 0.25, 0.3])

    page.heading(f"10. Xếp loại hợp tác xã (12 tháng đến {format_date(ranking_period.end)})")
    counts = {grade: 0 for grade, _lowest in SCORING.classes}
    for item in ranking:
        counts[item.grade] += 1
    total = len(ranking)
    for grade, lowest in SCORING.classes:
        share = format_percent(100 * counts[grade] / total, locale="vi") if total else "—"
        threshold = f"từ {lowest} điểm" if lowest else f"dưới {SCORING.classes[-2][1]} điểm"
        page.line(f"{GRADE_NAMES_VI[grade]} ({threshold}): {counts[grade]} hợp tác xã ({share})", 10)
    leaders = [[s.rank, s.name, s.total, GRADE_NAMES_VI[s.grade]]
               for grade, _lowest in SCORING.classes for s in [s for s in ranking if s.grade == grade][:5]]
    page.table(Table("leaders", "", ["Hạng", "Hợp tác xã", "Điểm", "Xếp loại"], leaders, ["number", "text", "score", "text"]),
               "Năm hợp tác xã đứng đầu mỗi mức xếp loại", widths=[0.1, 0.55, 0.15, 0.2])
    page.line("Trọng số: " + ", ".join(f"{COMPONENT_NAMES_VI[key]} {weight}" for key, weight in SCORING.weights) + ".", 8,
              colour=GREY)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _vietnamese(table: Table, header: list[str]) -> Table:
    """The same rows under the report's own Vietnamese column titles."""
    return Table(table.key, table.title, header, table.rows, table.kinds)
