"""Scan analytics and counterfeit warnings, without tracking people.

A scan of a batch code increments a per-day counter. A scan of a serialised unit also updates what
that single item has done: when it was first scanned, how often, and from how many *coarse places*
— a keyed hash of the network prefix (/16 for IPv4, /48 for IPv6), never the address itself.
Patterns a genuine item on a shelf cannot produce raise a warning on the page and an alert for the
cooperative: a serial that was never issued, a rescan long after the first, too many places,
too many scans.

On a busy deployment batch counters go to Redis first (one INCR per scan) and a beat task moves them
into the database; without Redis they are written straight to the database.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Protocol

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from traceability.events import LOCAL_TZ
from traceability.models import ScanAlert, ScanDay, UnitRange, UnitScan


@dataclass(frozen=True)
class ScanRules:
    late_rescan_days: int = 180
    max_places: int = 5
    max_scans: int = 30


WARNINGS = {
    "unknown_serial": ("This code was never issued by the cooperative: the item may be counterfeit.",
                       "Mã này chưa từng được hợp tác xã phát hành: sản phẩm có thể là hàng giả."),
    "late_rescan": ("This item was first scanned long ago; a copied label is possible.",
                    "Sản phẩm này đã được quét lần đầu từ lâu; nhãn có thể bị sao chép."),
    "many_places": ("This single item has been scanned in many different places: its label may be copied.",
                    "Sản phẩm đơn lẻ này đã được quét ở nhiều nơi khác nhau: nhãn có thể bị sao chép."),
    "too_many_scans": ("This single item has been scanned far more often than a real item is.",
                       "Sản phẩm đơn lẻ này bị quét nhiều bất thường so với hàng thật."),
}


def place_of(address: str | None, secret: bytes) -> str:
    """A short keyed hash of the address's network, so places can be told apart but not looked up."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "unknown"
    prefix = 16 if ip.version == 4 else 48
    network = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    return hmac.new(secret, str(network).encode(), hashlib.sha256).hexdigest()[:10]


class BatchCounter(Protocol):
    def add(self, gtin: str, lot: str, day: date) -> None: ...


class DatabaseCounter:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, gtin: str, lot: str, day: date, amount: int = 1) -> None:
        result = self.session.exec(
            update(ScanDay).where(ScanDay.gtin == gtin, ScanDay.lot == lot, ScanDay.day == day)
            .values(count=ScanDay.count + amount)
        )
        if result.rowcount:
            return
        try:
            with self.session.begin_nested():
                self.session.add(ScanDay(gtin=gtin, lot=lot, day=day, count=amount))
        except IntegrityError:  # another request created today's row first
            self.session.exec(
                update(ScanDay).where(ScanDay.gtin == gtin, ScanDay.lot == lot, ScanDay.day == day)
                .values(count=ScanDay.count + amount)
            )


class BufferedCounter:
    """Counts in process memory and writes them to the database every few seconds, inside the
    transaction of whichever request comes next. Busy scan pages then do no write per scan; a
    crash loses at most those few seconds of counts (analytics, not records)."""

    def __init__(self, flush_seconds: float = 10.0) -> None:
        import threading

        self.flush_seconds = flush_seconds
        self.pending: dict[tuple[str, str, date], int] = {}
        self.lock = threading.Lock()
        self.last_flush = time.monotonic()

    def add(self, gtin: str, lot: str, day: date) -> None:
        with self.lock:
            key = (gtin, lot, day)
            self.pending[key] = self.pending.get(key, 0) + 1

    def due(self) -> bool:
        return bool(self.pending) and time.monotonic() - self.last_flush >= self.flush_seconds

    def flush_to(self, session: Session) -> int:
        with self.lock:
            pending, self.pending = self.pending, {}
            self.last_flush = time.monotonic()
        database = DatabaseCounter(session)
        for (gtin, lot, day), amount in pending.items():
            database.add(gtin, lot, day, amount)
        return sum(pending.values())


class RedisCounter:
    """One HINCRBY per scan; `flush_to` moves the totals into the database."""

    KEY = "nongsan:scans:{day}"

    def __init__(self, client) -> None:
        self.client = client

    def add(self, gtin: str, lot: str, day: date) -> None:
        key = self.KEY.format(day=day.isoformat())
        pipe = self.client.pipeline()
        pipe.hincrby(key, f"{gtin}|{lot}", 1)
        pipe.expire(key, 7 * 24 * 3600)
        pipe.execute()

    def flush_to(self, session: Session, days: int = 2) -> int:
        moved = 0
        database = DatabaseCounter(session)
        today = datetime.now(LOCAL_TZ).date()
        for offset in range(days):
            day = today - timedelta(days=offset)
            key = self.KEY.format(day=day.isoformat())
            # Rename first so scans arriving meanwhile go to a fresh hash and are not lost.
            staging = f"{key}:flushing"
            try:
                self.client.rename(key, staging)
            except Exception:  # noqa: BLE001 - no such key: nothing counted that day
                continue
            for field, amount in self.client.hgetall(staging).items():
                gtin, _, lot = (field.decode() if isinstance(field, bytes) else field).partition("|")
                database.add(gtin, lot, day, int(amount))
                moved += int(amount)
            self.client.delete(staging)
        return moved


class ScanService:
    def __init__(self, session: Session, secret: bytes, counter: BatchCounter | None = None, rules: ScanRules | None = None) -> None:
        self.session = session
        self.secret = secret
        self.counter = counter or DatabaseCounter(session)
        self.rules = rules or ScanRules()

    def is_issued(self, gtin: str, lot: str, serial: str) -> bool:
        for unit_range in self.session.exec(select(UnitRange).where(UnitRange.gtin == gtin, UnitRange.lot == lot)):
            rest = serial[len(unit_range.prefix):] if serial.startswith(unit_range.prefix) else None
            if rest and rest.isdigit() and unit_range.start <= int(rest) < unit_range.start + unit_range.count:
                return True
        return False

    def record(self, gtin: str, lot: str, serial: str | None, address: str | None, now: datetime | None = None) -> str | None:
        """Count one scan; returns the warning code to show the consumer, if any."""
        now = now or datetime.now(timezone.utc)
        self.counter.add(gtin, lot, now.astimezone(LOCAL_TZ).date())
        if not serial:
            return None
        if not self.is_issued(gtin, lot, serial):
            self._alert(gtin, lot, serial, "unknown_serial", "scanned serial was never issued")
            return "unknown_serial"
        place = place_of(address, self.secret)
        unit = self.session.exec(
            select(UnitScan).where(UnitScan.gtin == gtin, UnitScan.lot == lot, UnitScan.serial == serial).with_for_update()
        ).first()
        if unit is None:
            try:
                with self.session.begin_nested():
                    self.session.add(UnitScan(gtin=gtin, lot=lot, serial=serial, first_scan_at=now, last_scan_at=now,
                                              count=1, places=place))
                return None
            except IntegrityError:
                unit = self.session.exec(
                    select(UnitScan).where(UnitScan.gtin == gtin, UnitScan.lot == lot, UnitScan.serial == serial)
                ).one()
        places = [p for p in unit.places.split(",") if p]
        if place not in places and len(places) < 20:
            places.append(place)
        unit.places = ",".join(places)
        unit.count += 1
        late = now - unit.first_scan_at > timedelta(days=self.rules.late_rescan_days)
        unit.last_scan_at = now
        rule = None
        if len(places) > self.rules.max_places:
            rule = "many_places"
        elif unit.count > self.rules.max_scans:
            rule = "too_many_scans"
        elif late:
            rule = "late_rescan"
        if rule and unit.flagged is None:
            unit.flagged = rule
            self._alert(gtin, lot, serial, rule, f"{unit.count} scans from {len(places)} places since {unit.first_scan_at:%d/%m/%Y}")
        self.session.flush()
        return unit.flagged or rule

    def _alert(self, gtin: str, lot: str, serial: str | None, rule: str, detail: str) -> None:
        recent = self.session.exec(
            select(ScanAlert.id).where(ScanAlert.gtin == gtin, ScanAlert.lot == lot, ScanAlert.serial == serial,
                                       ScanAlert.rule == rule)
        ).first()
        if recent is None:  # one alert per item and rule is enough for a person to act
            self.session.add(ScanAlert(gtin=gtin, lot=lot, serial=serial, rule=rule, detail=detail))
            self.session.flush()

    def daily(self, gtin: str, lot: str, days: int = 30) -> list[tuple[date, int]]:
        today = datetime.now(LOCAL_TZ).date()
        start = today - timedelta(days=days - 1)
        rows = {r.day: r.count for r in self.session.exec(
            select(ScanDay).where(ScanDay.gtin == gtin, ScanDay.lot == lot, ScanDay.day >= start))}
        return [(start + timedelta(days=i), rows.get(start + timedelta(days=i), 0)) for i in range(days)]

    def alerts(self, gtins: list[str], limit: int = 50) -> list[ScanAlert]:
        if not gtins:
            return []
        return list(self.session.exec(
            select(ScanAlert).where(ScanAlert.gtin.in_(gtins)).order_by(ScanAlert.created_at.desc()).limit(limit)  # type: ignore[attr-defined]
        ))

    def issue_range(self, gtin: str, lot: str, count: int, prefix: str = "") -> UnitRange:
        """Reserve the next `count` serials of a batch (continuing after the ranges already issued)."""
        ranges = self.session.exec(select(UnitRange).where(UnitRange.gtin == gtin, UnitRange.lot == lot, UnitRange.prefix == prefix)).all()
        start = max((r.start + r.count for r in ranges), default=1)
        unit_range = UnitRange(gtin=gtin, lot=lot, prefix=prefix, start=start, count=count)
        self.session.add(unit_range)
        self.session.flush()
        return unit_range


def serial_for(unit_range: UnitRange, n: int) -> str:
    return f"{unit_range.prefix}{n:06d}"
