"""Postal rules: quotes, shipment jobs (one per order, whatever the retries) and status changes."""

from __future__ import annotations

import secrets

from blinker import Namespace
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from kernel.errors import NotFound, ServiceError
from kernel.i18n import format_vnd
from kernel.labels import status_label
from kernel.timeutil import utcnow
from workers.postal.models import Partner, Shipment, ShipmentStatus, ShipmentStatusChange
from workers.postal.schemas import Parcel, Quote, ShipmentRequest

_signals = Namespace()
# Sent inside the transaction that changed the shipment, so listeners (the shop's orders) change
# their own rows in the same commit.
shipment_status_changed = _signals.signal("shipment-status-changed")

S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)

# Where each status may go next. Status never moves backwards; repeats are accepted and ignored.
NEXT_STATUSES: dict[str, set[str]] = {
    ShipmentStatus.AWAITING_PICKUP: {ShipmentStatus.ACCEPTED, ShipmentStatus.PICKED_UP},
    ShipmentStatus.ACCEPTED: {ShipmentStatus.PICKED_UP},
    ShipmentStatus.CANCELLED: set(),
    ShipmentStatus.PICKED_UP: {ShipmentStatus.IN_TRANSIT, ShipmentStatus.OUT_FOR_DELIVERY, ShipmentStatus.DELIVERED},
    ShipmentStatus.IN_TRANSIT: {ShipmentStatus.OUT_FOR_DELIVERY, ShipmentStatus.DELIVERED, ShipmentStatus.DELIVERY_FAILED},
    ShipmentStatus.OUT_FOR_DELIVERY: {ShipmentStatus.DELIVERED, ShipmentStatus.DELIVERY_FAILED},
    ShipmentStatus.DELIVERY_FAILED: {ShipmentStatus.OUT_FOR_DELIVERY, ShipmentStatus.RETURNING},
    ShipmentStatus.RETURNING: {ShipmentStatus.RETURNED},
    ShipmentStatus.DELIVERED: set(),
    ShipmentStatus.RETURNED: set(),
}


def s10_check_digit(serial: str) -> int:
    """UPU S10 check digit over the eight serial digits."""
    total = sum(int(digit) * weight for digit, weight in zip(serial, S10_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: 0, 11: 5}.get(check, check)


def new_shipment_code(service_indicator: str = "EN") -> str:
    serial = f"{secrets.randbelow(10**8):08d}"
    return f"{service_indicator}{serial}{s10_check_digit(serial)}VN"


class QuoteService:
    """Prices parcels with the configured carrier adapter and the tariff version in force, through
    the quote cache (see workers.postal.quotes)."""

    def __init__(self, session: Session | None = None, carrier=None, cache=None) -> None:
        self.session = session  # None: the request's or task's session, else a short one of its own
        self.carrier = carrier  # None: the one the configuration names
        self.cache = cache

    def _active_tariff(self):
        from flask import g

        from kernel.db import db
        from workers.postal.tariff import TariffBook

        session = self.session if self.session is not None else g.get("db_session")
        if session is not None:
            return TariffBook(session).active()
        with db.new_session() as own:
            tariff = TariffBook(own).active()
            own.commit()  # keeps version 1 when the table was empty and this read seeded it
            return tariff

    def quote(self, parcel: Parcel) -> Quote:
        from dataclasses import replace

        from flask import current_app

        from workers.postal.carriers import cache_name, configured_carrier
        from workers.postal.quotes import FALLBACK_TTL_SECONDS, band_of, quote_cache
        from workers.postal.tariff import chargeable_weight_g, region_of

        _check_parcel(parcel)
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        cache = self.cache or quote_cache()
        adapter = self.carrier.name if self.carrier else cache_name(app.config)
        # The version this process last read, if the shared pointer says it is still in force:
        # then a cached quote costs one look-up and no database query.
        tariff, hit = app.extensions.get("nongsan.tariff_in_force"), None
        if tariff is not None:
            head, hit = cache.lookup(band_of(parcel, tariff).suffix(adapter))
            if head != tariff.head:
                tariff, hit = None, None
        if tariff is None:
            tariff = app.extensions["nongsan.tariff_in_force"] = self._active_tariff()
            cache.point_to(tariff)
            hit = cache.get(band_of(parcel, tariff).key(adapter, tariff))
        actual_weight = chargeable_weight_g(parcel, tariff.rates.volumetric_divisor)
        if hit is not None:
            return Quote(**{**hit, "chargeable_weight_g": actual_weight, "cached": True})
        try:
            region_of(parcel.from_province_code, tariff.rates.regions)
            region_of(parcel.to_province_code, tariff.rates.regions)
        except ValueError as error:
            raise ServiceError(gettext("The tariff has no price for this province."), field="province_code") from error
        band = band_of(parcel, tariff)
        carrier = self.carrier or configured_carrier(tariff)
        try:
            quote = carrier.quote(band.parcel(parcel))
        except ValueError as error:
            raise ServiceError(gettext("This parcel cannot be quoted: %(reason)s", reason=str(error)), field="parcel") from error
        ttl = int(app.config.get("QUOTE_CACHE_SECONDS") or 0)
        if quote.source == "tariff_fallback":
            ttl = min(ttl, FALLBACK_TTL_SECONDS)
        if ttl > 0:
            cache.put(band.key(adapter, tariff), quote.as_dict(), ttl)
        return replace(quote, chargeable_weight_g=actual_weight)


def _check_parcel(parcel: Parcel) -> None:
    """Whole, sensible numbers only, each refused with the field it concerns."""
    limits = (("weight_g", 1, 10_000_000), ("length_cm", 0, 1000), ("width_cm", 0, 1000), ("height_cm", 0, 1000),
              ("cod_amount_vnd", 0, 1_000_000_000))
    for name, low, high in limits:
        value = getattr(parcel, name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ServiceError(gettext("%(field)s must be a whole number from %(low)s to %(high)s.", field=name, low=low,
                                       high=high), field=name)


class ShipmentService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def default_partner(self) -> Partner:
        partner = self.session.exec(select(Partner).order_by(Partner.is_default.desc(), Partner.id)).first()  # type: ignore[attr-defined]
        if partner is None:
            raise ServiceError(gettext("No postal partner is configured."), status=503)
        return partner

    def create_job(self, request: ShipmentRequest) -> Shipment:
        """Create the shipment for an order once; a repeated call returns the same shipment."""
        existing = self.session.exec(select(Shipment).where(Shipment.order_id == request.order_id)).first()
        if existing is not None:
            return existing
        partner = self.default_partner()
        for _attempt in range(5):
            shipment = Shipment(
                code=new_shipment_code(),
                partner_id=partner.id,
                order_id=request.order_id,
                order_reference=request.order_reference,
                cooperative_id=request.cooperative_id,
                sender_name=request.sender_name,
                sender_province_code=request.sender_province_code,
                sender_ward_code=request.sender_ward_code,
                sender_address=request.sender_address,
                recipient_name=request.recipient_name,
                recipient_phone=request.recipient_phone,
                recipient_province_code=request.recipient_province_code,
                recipient_ward_code=request.recipient_ward_code,
                recipient_address=request.recipient_address,
                note=request.note,
                weight_g=request.weight_g,
                shipping_fee_vnd=request.shipping_fee_vnd,
                cod_amount_vnd=request.cod_amount_vnd,
            )
            try:
                with self.session.begin_nested():
                    self.session.add(shipment)
                    self.session.flush()
            except IntegrityError:
                # Either the random code collided (try another) or a concurrent task created the
                # shipment for this order first (return that one).
                existing = self.session.exec(select(Shipment).where(Shipment.order_id == request.order_id)).first()
                if existing is not None:
                    return existing
                continue
            self.session.add(ShipmentStatusChange(shipment_id=shipment.id, to_status=shipment.status, actor="system"))
            self.session.flush()
            return shipment
        raise ServiceError("Could not allocate a shipment code.", status=503)

    def for_partner(self, partner_id: int, status: str | None = None) -> list[Shipment]:
        query = select(Shipment).where(Shipment.partner_id == partner_id)
        if status:
            query = query.where(Shipment.status == status)
        return list(self.session.exec(query.order_by(Shipment.created_at.desc())))  # type: ignore[attr-defined]

    def get_for_partner(self, partner_id: int, code: str, *, lock: bool = False) -> Shipment:
        """The partner's shipment. With `lock`, the row is locked for this transaction and read
        afresh from the database: updates of one shipment then run one after the other, each
        seeing the status the previous one committed, never a copy this session read earlier."""
        query = select(Shipment).where(Shipment.code == code.strip().upper(), Shipment.partner_id == partner_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        shipment = self.session.exec(query).first()
        if shipment is None:
            raise NotFound(gettext("Unknown shipment code."), field="code")
        return shipment

    def by_codes(self, partner_id: int, codes: list[str]) -> dict[str, Shipment]:
        """The partner's own shipments among `codes`, by code (others' and unknown codes are left out)."""
        wanted = {code for code in codes if code and len(code) <= 20}
        if not wanted:
            return {}
        rows = self.session.exec(select(Shipment).where(Shipment.partner_id == partner_id,
                                                        Shipment.code.in_(wanted)))  # type: ignore[attr-defined]
        return {shipment.code: shipment for shipment in rows}

    def for_order(self, order_id: int) -> Shipment | None:
        return self.session.exec(select(Shipment).where(Shipment.order_id == order_id)).first()

    def cancel_for_order(self, order_id: int, actor: str) -> bool:
        """Cancel the order's shipment job if the post has not picked it up; True when nothing
        is on its way (no job, or it is now cancelled)."""
        shipment = self.session.exec(select(Shipment).where(Shipment.order_id == order_id).with_for_update()).first()
        if shipment is None or shipment.status == ShipmentStatus.CANCELLED:
            return True
        if shipment.status not in (ShipmentStatus.AWAITING_PICKUP, ShipmentStatus.ACCEPTED):
            return False
        previous = shipment.status
        shipment.status = ShipmentStatus.CANCELLED
        shipment.updated_at = utcnow()
        self.session.add(ShipmentStatusChange(shipment_id=shipment.id, from_status=previous, to_status=shipment.status, actor=actor))
        self.session.flush()
        return True

    COD_EVENTS = ("cod_collected", "cod_remitted")

    def apply_partner_update(self, partner_id: int, code: str, update_id: str, status: str, amount_vnd: int | None,
                             actor: str) -> tuple[Shipment, bool]:
        """An update from the partner's API: applied once per update id; a status behind the current
        one (arriving late) is recorded but changes nothing; COD amounts are recorded once."""
        from sqlalchemy.exc import IntegrityError as _IntegrityError

        from workers.postal.models import PartnerUpdate

        if not update_id or len(update_id) > 80:
            raise ServiceError(gettext("Give each update an id (at most 80 characters)."), field="id")
        if status in self.COD_EVENTS:
            if amount_vnd is None or isinstance(amount_vnd, bool) or not isinstance(amount_vnd, int) or amount_vnd < 0:
                raise ServiceError(gettext("COD updates need amount_vnd, a whole number of dong."), field="amount_vnd")
            target = None
        else:
            try:
                target = ShipmentStatus(status)
            except ValueError as error:
                raise ServiceError(gettext("Unknown shipment status."), field="status") from error
        # Lock first, then look for the update id: a duplicate sent while the first copy is still
        # being applied waits here and then finds it.
        shipment = self.get_for_partner(partner_id, code, lock=True)
        known = self.session.exec(select(PartnerUpdate).where(PartnerUpdate.partner_id == partner_id,
                                                              PartnerUpdate.update_id == update_id)).first()
        if known is not None:
            return shipment, False
        # The update id is claimed before anything changes, so a clash (the same id reused for
        # another shipment at the same moment) changes nothing.
        record = PartnerUpdate(partner_id=partner_id, update_id=update_id, shipment_code=shipment.code, status=status,
                               applied=False)
        try:
            with self.session.begin_nested():
                self.session.add(record)
        except _IntegrityError:
            return shipment, False
        applied = False
        if target is None:
            now = utcnow()
            if status == "cod_collected" and shipment.cod_collected_at is None:
                shipment.cod_collected_vnd, shipment.cod_collected_at, applied = amount_vnd, now, True
            elif status == "cod_remitted" and shipment.cod_remitted_at is None:
                shipment.cod_remitted_vnd, shipment.cod_remitted_at, applied = amount_vnd, now, True
        elif target in _reachable(shipment.status):
            _shipment, applied = self._walk_to(partner_id, shipment, target, actor)
        record.applied = applied
        self.session.flush()
        return shipment, applied

    def _walk_to(self, partner_id: int, shipment: Shipment, target: str, actor: str) -> tuple[Shipment, bool]:
        """Move forward to `target`, through the steps in between when updates were skipped."""
        path = _path(shipment.status, target)
        for step in path:
            self.update_status(partner_id, shipment.code, step, actor)
        return shipment, bool(path)

    def update_status(self, partner_id: int, code: str, new_status: str, actor: str) -> tuple[Shipment, bool]:
        """Move a shipment forward. Returns (shipment, changed); a repeat is not an error."""
        try:
            target = ShipmentStatus(new_status)
        except ValueError as error:
            raise ServiceError(gettext("Unknown shipment status."), field="status") from error
        shipment = self.get_for_partner(partner_id, code, lock=True)
        if shipment.status == target:
            return shipment, False
        if target not in NEXT_STATUSES[shipment.status]:
            raise ServiceError(
                gettext("A shipment cannot go from %(old)s to %(new)s.", old=status_label(shipment.status),
                        new=status_label(target)),
                field="status",
                status=409,
            )
        previous = shipment.status
        shipment.status = target
        shipment.updated_at = utcnow()
        self.session.add(ShipmentStatusChange(shipment_id=shipment.id, from_status=previous, to_status=target, actor=actor))
        self.session.flush()
        shipment_status_changed.send(self, session=self.session, shipment=shipment, previous=previous, actor=actor)
        return shipment, True

    # The partner portal (post-office staff at the counter). Every change goes through
    # apply_partner_update, the path the partner API uses, so the rules cannot drift apart.

    PICKUP_STATUSES = (ShipmentStatus.AWAITING_PICKUP, ShipmentStatus.ACCEPTED)
    SCAN_STATUSES = (
        ShipmentStatus.PICKED_UP, ShipmentStatus.IN_TRANSIT, ShipmentStatus.OUT_FOR_DELIVERY, ShipmentStatus.DELIVERED,
        ShipmentStatus.DELIVERY_FAILED, ShipmentStatus.RETURNING, ShipmentStatus.RETURNED, "cod_collected",
    )

    def pickup_groups(self, partner_id: int, statuses=None, *, cooperative_id: int | None = None,
                      ward_code: int | None = None, rows_per_group: int = 100) -> list[dict]:
        """The partner's shipments grouped by the commune/ward they are picked up in and the sending
        cooperative. Counts and COD totals cover every matching shipment; `shipments` holds the
        oldest `rows_per_group` of each group, so one busy cooperative cannot crowd out the rest."""
        from sqlalchemy import func

        conditions = [Shipment.partner_id == partner_id]
        if statuses:
            conditions.append(Shipment.status.in_(list(statuses)))  # type: ignore[attr-defined]
        if cooperative_id is not None:
            conditions.append(Shipment.cooperative_id == cooperative_id)
        if ward_code is not None:
            conditions.append(Shipment.sender_ward_code == ward_code)
        totals = self.session.exec(
            select(Shipment.sender_ward_code, Shipment.sender_province_code, Shipment.cooperative_id, Shipment.status,
                   func.count(Shipment.id), func.coalesce(func.sum(Shipment.cod_amount_vnd), 0), func.max(Shipment.sender_name))
            .where(*conditions)
            .group_by(Shipment.sender_ward_code, Shipment.sender_province_code, Shipment.cooperative_id, Shipment.status)
        ).all()
        groups: dict[tuple[int, int], dict] = {}
        for ward, province, cooperative, status, count, cod_total, sender_name in totals:
            group = groups.setdefault((ward, cooperative), {
                "ward_code": ward, "province_code": province, "cooperative_id": cooperative, "sender_name": sender_name,
                "count": 0, "cod_total_vnd": 0, "by_status": {}, "shipments": [],
            })
            group["count"] += int(count)
            group["cod_total_vnd"] += int(cod_total)
            group["by_status"][status] = int(count)
        if not groups:
            return []
        ranked = (
            select(Shipment.id, func.row_number().over(
                partition_by=(Shipment.sender_ward_code, Shipment.cooperative_id),
                order_by=(Shipment.created_at, Shipment.id)).label("position"))
            .where(*conditions)
            .subquery()
        )
        rows = self.session.exec(
            select(Shipment).join(ranked, ranked.c.id == Shipment.id).where(ranked.c.position <= rows_per_group)
            .order_by(Shipment.created_at, Shipment.id)  # type: ignore[arg-type]
        )
        for shipment in rows:
            groups[(shipment.sender_ward_code, shipment.cooperative_id)]["shipments"].append(shipment)
        return list(groups.values())

    def accept(self, partner_id: int, code: str, actor: str) -> tuple[Shipment, bool]:
        """Accept a job, exactly as `POST /api/partner/v1/shipments/{code}/accept` does (same update
        id), so accepting from the portal and from the API is one and the same update."""
        shipment = self.get_for_partner(partner_id, code)
        return self.apply_partner_update(partner_id, shipment.code, f"accept:{shipment.code}", ShipmentStatus.ACCEPTED,
                                         None, actor=actor)

    def accept_group(self, partner_id: int, cooperative_id: int, ward_code: int, actor: str) -> tuple[int, int]:
        """Accept every job of one pick-up group still awaiting pick-up; returns (accepted now, group
        size). Repeating it accepts nothing more. An empty or foreign group is unknown (404)."""
        shipments = list(self.session.exec(
            select(Shipment).where(Shipment.partner_id == partner_id, Shipment.cooperative_id == cooperative_id,
                                   Shipment.sender_ward_code == ward_code)
            .order_by(Shipment.created_at, Shipment.id)  # type: ignore[arg-type]
        ))
        if not shipments:
            raise NotFound(gettext("Unknown pick-up group."), field="group")
        accepted = 0
        for shipment in shipments:
            if shipment.status == ShipmentStatus.AWAITING_PICKUP:
                _shipment, changed = self.accept(partner_id, shipment.code, actor)
                accepted += int(changed)
        return accepted, len(shipments)

    def for_labels(self, partner_id: int, *, codes: list[str] | None = None, cooperative_id: int | None = None,
                   ward_code: int | None = None, statuses=None) -> list[tuple[Shipment, str]]:
        """Shipments to print labels for, each with the sending cooperative's phone (the shipment row
        does not copy it). Only the partner's own shipments; unknown codes are 404."""
        from sqlalchemy import column, table

        # The shipment's foreign key already names this table; read the one column without
        # importing the shop's model (workers sit below the shop).
        cooperatives = table("cooperative", column("id"), column("phone"))

        if codes is not None:
            shipments = [self.get_for_partner(partner_id, code) for code in codes]
        else:
            query = select(Shipment).where(Shipment.partner_id == partner_id)
            if cooperative_id is not None:
                query = query.where(Shipment.cooperative_id == cooperative_id)
            if ward_code is not None:
                query = query.where(Shipment.sender_ward_code == ward_code)
            if statuses:
                query = query.where(Shipment.status.in_(list(statuses)))  # type: ignore[attr-defined]
            shipments = list(self.session.exec(query.order_by(Shipment.created_at, Shipment.id)))  # type: ignore[arg-type]
        phones = dict(self.session.exec(
            select(cooperatives.c.id, cooperatives.c.phone).where(cooperatives.c.id.in_({s.cooperative_id for s in shipments}))
        ).all()) if shipments else {}
        return [(shipment, phones.get(shipment.cooperative_id, "")) for shipment in shipments]

    def apply_scan(self, partner_id: int, code: str, scan_id: str, status: str, amount_vnd: int | None,
                   actor: str, *, amount_confirmed: bool = False) -> tuple[str, Shipment]:
        """A label scanned at the counter: the partner API's update path, keyed by the scan's own id
        (a page resubmitted or retried after a network error applies once). Returns the outcome:
        'updated', 'already' (at this status, COD already recorded, or this very scan seen before)
        or 'refused' (the shipment would move backwards, or was cancelled). Unknown codes are 404."""
        if status not in self.SCAN_STATUSES:
            raise ServiceError(gettext("Choose the new status."), field="status")
        if not scan_id or len(scan_id) > 24 or not scan_id.replace("-", "").isalnum():
            raise ServiceError(gettext("This scan has no valid id; reload the page."), field="scan_id")
        shipment = self.get_for_partner(partner_id, code)
        if status == "cod_collected" and shipment.cod_collected_at is None:
            self._check_counter_cash(shipment, amount_vnd, amount_confirmed)
        # Code and status are part of the id: a stale page re-sending its scan id with another
        # code is a new update, not a duplicate of the earlier one.
        update_id = f"scan:{scan_id}:{shipment.code}:{status}"
        shipment, applied = self.apply_partner_update(partner_id, shipment.code, update_id, status, amount_vnd, actor)
        if applied:
            return "updated", shipment
        if status in self.COD_EVENTS or shipment.status == status or status in _reachable(shipment.status):
            return "already", shipment
        return "refused", shipment

    @staticmethod
    def _check_counter_cash(shipment: Shipment, amount_vnd: int | None, confirmed: bool) -> None:
        """Cash typed at the counter must be what the shipment asks for: a parcel without COD has
        nothing to collect, and a different sum (a typo, or a recipient who paid short) is only
        recorded when the clerk says so explicitly. The partner API does not pass through here: it
        reports what was actually collected and reconciliation flags the difference."""
        if not shipment.cod_amount_vnd:
            raise ServiceError(gettext("%(code)s: this shipment has no cash on delivery; there is nothing to collect.",
                                       code=shipment.code), field="amount_vnd")
        if amount_vnd != shipment.cod_amount_vnd and not confirmed:
            raise ServiceError(gettext(
                "%(code)s: the cash entered differs from the COD due (%(expected)s). Check the amount, or tick "
                "“The amount differs from the COD” and scan again.",
                code=shipment.code, expected=format_vnd(shipment.cod_amount_vnd)), field="amount_vnd")

    def portal_status(self, partner_id: int, code: str, status: str, actor: str) -> tuple[Shipment, bool]:
        """The portal's status form: the partner API's update path, as the scan counter uses it, so
        a PartnerUpdate row is kept. A move backwards is refused naming both statuses."""
        try:
            target = ShipmentStatus(status)
        except ValueError as error:
            raise ServiceError(gettext("Unknown shipment status."), field="status") from error
        shipment = self.get_for_partner(partner_id, code)
        if shipment.status != target and target not in _reachable(shipment.status):
            raise ServiceError(gettext("A shipment cannot go from %(old)s to %(new)s.", old=status_label(shipment.status),
                                       new=status_label(target)), field="status", status=409)
        update_id = f"portal:{secrets.token_hex(8)}:{shipment.code}:{target.value}"
        return self.apply_partner_update(partner_id, shipment.code, update_id, target, None, actor)

    def history(self, partner_id: int, code: str) -> tuple[Shipment, list[ShipmentStatusChange]]:
        """One of the partner's shipments with its status changes, oldest first (404 otherwise)."""
        shipment = self.get_for_partner(partner_id, code)
        changes = self.session.exec(
            select(ShipmentStatusChange).where(ShipmentStatusChange.shipment_id == shipment.id)
            .order_by(ShipmentStatusChange.at, ShipmentStatusChange.id)  # type: ignore[arg-type]
        ).all()
        return shipment, list(changes)


def _reachable(status: str) -> set[str]:
    seen, todo = set(), [status]
    while todo:
        for nxt in NEXT_STATUSES.get(todo.pop(), set()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _path(start: str, target: str) -> list[str]:
    """The shortest forward path of statuses from start to target (breadth first)."""
    from collections import deque

    queue, parent = deque([start]), {start: None}
    while queue:
        here = queue.popleft()
        if here == target:
            break
        for nxt in sorted(NEXT_STATUSES.get(here, set())):
            if nxt not in parent:
                parent[nxt] = here
                queue.append(nxt)
    if target not in parent:
        return []
    steps, here = [], target
    while here != start:
        steps.append(here)
        here = parent[here]
    return list(reversed(steps))
