"""Cash-on-delivery reconciliation: for each delivered parcel, what the buyer owed, what the
courier collected and what the post office paid the cooperative; every difference is flagged."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlmodel import Session, select

from traceability.events import LOCAL_TZ
from workers.postal.models import Shipment, ShipmentStatus, ShipmentStatusChange


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

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["shipment", "order", "delivered", "expected_vnd", "collected_vnd", "remitted_vnd", "flags"])
        for l in self.lines:
            writer.writerow([l.code, l.order, l.delivered_at.astimezone(LOCAL_TZ).strftime("%d/%m/%Y"), l.expected_vnd,
                             l.collected_vnd if l.collected_vnd is not None else "", l.remitted_vnd if l.remitted_vnd is not None else "",
                             " ".join(l.flags)])
        return out.getvalue()


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
