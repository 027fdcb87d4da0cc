"""Cash-on-delivery reconciliation: for each delivered parcel, what the buyer owed, what the
courier collected and what the post office paid the cooperative; every difference is flagged."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from flask_babel import gettext, lazy_gettext as _l
from sqlmodel import Session, select

from traceability.events import LOCAL_TZ
from workers.postal.models import Shipment, ShipmentStatus, ShipmentStatusChange


FLAG_LABELS = {
    "not_collected": _l("Delivered but no cash collected"),
    "collected_differs": _l("Cash collected differs from what was owed"),
    "not_remitted": _l("Collected but not paid to the cooperative"),
    "remitted_differs": _l("Paid to the cooperative differs from what was collected"),
}


def flag_label(flag: str) -> str:
    return str(FLAG_LABELS.get(flag, flag))


@dataclass
class CodLine:
    code: str
    order: str
    cooperative_id: int
    delivered_at: datetime
    expected_vnd: int
    collected_vnd: int | None
    remitted_vnd: int | None
    flags: list[str] = field(default_factory=list)


@dataclass
class CodReport:
    start: date
    end: date
    lines: list[CodLine]

    @property
    def totals(self) -> dict[str, int]:
        return {
            "expected": sum(l.expected_vnd for l in self.lines),
            "collected": sum(l.collected_vnd or 0 for l in self.lines),
            "remitted": sum(l.remitted_vnd or 0 for l in self.lines),
            "flagged": sum(1 for l in self.lines if l.flags),
        }

    def table(self) -> tuple[list[str], list[list]]:
        """The report as a spreadsheet: header and rows, amounts as whole VND numbers."""
        header = [gettext("Shipment"), gettext("Order"), gettext("Delivered"), gettext("Owed (VND)"),
                  gettext("Collected (VND)"), gettext("Remitted (VND)"), gettext("Differences")]
        rows = [[line.code, line.order, line.delivered_at, line.expected_vnd, line.collected_vnd, line.remitted_vnd,
                 "; ".join(flag_label(flag) for flag in line.flags)] for line in self.lines]
        return header, rows


def cod_report(session: Session, start: date, end: date, cooperative_id: int | None = None) -> CodReport:
    """Parcels delivered between `start` and `end` (inclusive, Asia/Ho_Chi_Minh days)."""
    since = datetime.combine(start, time.min, LOCAL_TZ)
    until = datetime.combine(end + timedelta(days=1), time.min, LOCAL_TZ)
    query = (
        select(Shipment, ShipmentStatusChange.at)
        .join(ShipmentStatusChange, ShipmentStatusChange.shipment_id == Shipment.id)
        .where(ShipmentStatusChange.to_status == ShipmentStatus.DELIVERED, ShipmentStatusChange.at >= since,
               ShipmentStatusChange.at < until, Shipment.cod_amount_vnd > 0)
        .order_by(ShipmentStatusChange.at)
    )
    if cooperative_id is not None:
        query = query.where(Shipment.cooperative_id == cooperative_id)
    lines = []
    for shipment, delivered_at in session.exec(query):
        line = CodLine(shipment.code, shipment.order_reference, shipment.cooperative_id, delivered_at,
                       shipment.cod_amount_vnd, shipment.cod_collected_vnd, shipment.cod_remitted_vnd)
        if line.collected_vnd is None:
            line.flags.append("not_collected")
        elif line.collected_vnd != line.expected_vnd:
            line.flags.append("collected_differs")
        if line.collected_vnd is not None and line.remitted_vnd is None:
            line.flags.append("not_remitted")
        elif line.remitted_vnd is not None and line.remitted_vnd != (line.collected_vnd or 0):
            line.flags.append("remitted_differs")
        lines.append(line)
    return CodReport(start, end, lines)
