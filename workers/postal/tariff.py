"""The alliance's shipping tariff, as versioned data, and the default carrier adapter that prices
parcels with it.

Zones come from the sender's and receiver's provinces (same province, same region, another region);
weight is charged in 500 g steps on the chargeable weight, max(actual, L×W×H/6000); cash on
delivery costs a percentage with a minimum; parcels to a remote commune pay a surcharge; VAT is
added last. All amounts are whole VND, rounded up.

Versions are never edited: saving the form adds the next version, and the highest version is the
one in force, so there is always exactly one and a quote made under an old one stays explainable.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from flask_babel import gettext
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from kernel.errors import Conflict, NotFound, ServiceError
from workers.postal.models import TariffVersion
from workers.postal.schemas import Parcel, Quote, TariffRates, Zone

# Province codes of the 34 units since 1 July 2025, grouped into the three delivery regions.
NORTH = {1, 4, 8, 11, 12, 14, 15, 19, 20, 22, 24, 25, 31, 33, 37}
CENTRAL = {38, 40, 42, 44, 46, 48, 51, 52, 56, 66, 68}
SOUTH = {75, 79, 80, 82, 86, 91, 92, 96}

# What version 1 holds (the migration seeds a frozen copy of it).
DEFAULT_TARIFF: dict[str, Any] = {
    "zones": {
        "intra_province": {"first_500g": 18_000, "each_500g": 3_000},
        "intra_region": {"first_500g": 28_000, "each_500g": 5_000},
        "inter_region": {"first_500g": 35_000, "each_500g": 7_000},
    },
    "volumetric_divisor": 6000,
    "cod_percent": "1",
    "cod_minimum_vnd": 10_000,
    "remote_surcharge_vnd": 10_000,
    # Island special zones (đặc khu) reached by boat.
    "remote_wards": [6994, 7192, 11914, 11948, 19742, 21548, 23272, 26732, 31078, 31105, 31108],
    "vat_percent": "8",
    "regions": {"north": sorted(NORTH), "central": sorted(CENTRAL), "south": sorted(SOUTH)},
}

STEP_G = 500


@dataclass(frozen=True)
class ActiveTariff:
    """A tariff version ready to price with. `tag` names its exact prices (row id and a digest
    of the rates), so a cache keyed by it can never serve a price from another version."""

    id: int | None
    version: int
    rates: TariffRates
    tag: str
    # Names this exact row (a rolled-back row's id can come back with other prices): what the
    # shared "version in force" pointer holds (see workers.postal.quotes).
    head: str

    @classmethod
    def of(cls, id: int | None, version: int, rates: TariffRates, created_at: datetime | None = None) -> ActiveTariff:  # noqa: A002
        canonical = json.dumps(rates.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        tag = f"{id or 0}.{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"
        created = created_at.isoformat() if created_at else "-"
        return cls(id, version, rates, tag, f"{version}|{id or 0}|{created}|{tag}")

    @classmethod
    def from_row(cls, row: TariffVersion) -> ActiveTariff:
        return cls.of(row.id, row.version, TariffRates.model_validate(row.rates), row.created_at)


@lru_cache(maxsize=1)
def default_tariff() -> ActiveTariff:
    return ActiveTariff.of(None, 1, TariffRates.model_validate(DEFAULT_TARIFF))


def region_of(province_code: int, regions: Mapping[str, tuple[int, ...]] | None = None) -> str:
    for name, codes in (regions or default_tariff().rates.regions).items():
        if province_code in codes:
            return name
    raise ValueError(f"unknown province code {province_code}")


def zone_of(from_province: int, to_province: int, regions: Mapping[str, tuple[int, ...]] | None = None) -> str:
    if from_province == to_province:
        region_of(from_province, regions)
        return Zone.INTRA_PROVINCE.value
    if region_of(from_province, regions) == region_of(to_province, regions):
        return Zone.INTRA_REGION.value
    return Zone.INTER_REGION.value


def chargeable_weight_g(parcel: Parcel, volumetric_divisor: int) -> int:
    """max(actual, L×W×H/divisor), in grams (dimensions in cm, the divisor giving kilograms)."""
    volume_cm3 = parcel.length_cm * parcel.width_cm * parcel.height_cm
    return max(parcel.weight_g, math.ceil(volume_cm3 * 1000 / volumetric_divisor))


def weight_steps(chargeable_g: int) -> int:
    return max(1, math.ceil(chargeable_g / STEP_G))


def _percent_of(amount: int, percent: Decimal) -> int:
    return int((Decimal(amount) * percent / 100).to_integral_value(rounding=ROUND_CEILING))


class TariffAdapter:
    """The default carrier adapter: prices from the alliance's tariff table."""

    name = "tariff"

    def __init__(self, tariff: ActiveTariff | None = None) -> None:
        self.tariff = tariff or default_tariff()

    def quote(self, parcel: Parcel) -> Quote:
        if parcel.weight_g <= 0:
            raise ValueError("weight must be positive")
        rates = self.tariff.rates
        zone = zone_of(parcel.from_province_code, parcel.to_province_code, rates.regions)
        chargeable = chargeable_weight_g(parcel, rates.volumetric_divisor)
        steps = weight_steps(chargeable)
        zone_rates = rates.zones[Zone(zone)]
        first, extra = zone_rates.first_500g, (steps - 1) * zone_rates.each_500g
        cod_fee = 0
        if parcel.cod_amount_vnd > 0:
            cod_fee = max(rates.cod_minimum_vnd, _percent_of(parcel.cod_amount_vnd, rates.cod_percent))
        remote = parcel.to_ward_code in rates.remote_wards
        surcharge = rates.remote_surcharge_vnd if remote else 0
        subtotal = first + extra + cod_fee + surcharge
        vat = _percent_of(subtotal, rates.vat_percent)
        return Quote(zone, chargeable, first + extra, cod_fee, surcharge, vat, subtotal + vat, self.tariff.version,
                     first_step_vnd=first, extra_weight_vnd=extra, remote=remote, source="tariff", carrier=self.name)


# Rates of versions already read, by (id, version, created_at): rows never change, and the
# creation time tells apart two rows that reused an id after a rollback.
_loaded: dict[tuple, ActiveTariff] = {}


class TariffBook:
    """The tariff versions: the one in force, the history, and publishing the next."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def active(self) -> ActiveTariff:
        head = self.session.exec(
            select(TariffVersion.id, TariffVersion.version, TariffVersion.created_at)
            .order_by(TariffVersion.version.desc())  # type: ignore[attr-defined]
            .limit(1)
        ).first()
        if head is None:
            return ActiveTariff.from_row(self._seed())
        key = tuple(head)
        tariff = _loaded.get(key)
        if tariff is None:
            if len(_loaded) > 32:
                _loaded.clear()
            tariff = _loaded[key] = ActiveTariff.from_row(self.session.get(TariffVersion, head[0]))
        return tariff

    def _seed(self) -> TariffVersion:
        """Version 1 from DEFAULT_TARIFF, for a database whose table is empty (the migration
        normally wrote it); a concurrent seeder winning is fine."""
        row = TariffVersion(version=1, rates=default_tariff().rates.model_dump(mode="json"), note="Biểu giá cước ban đầu")  # data, in the alliance's language
        try:
            with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            return self.session.exec(select(TariffVersion).where(TariffVersion.version == 1)).one()
        return row

    def history(self) -> list[TariffVersion]:
        self.active()  # makes sure version 1 exists
        return list(self.session.exec(select(TariffVersion).order_by(TariffVersion.version.desc())))  # type: ignore[attr-defined]

    def get(self, version: int) -> TariffVersion:
        row = self.session.exec(select(TariffVersion).where(TariffVersion.version == version)).first()
        if row is None:
            raise NotFound(gettext("There is no tariff version %(version)s.", version=version), field="version")
        return row

    def preview(self, values: Mapping[str, str]) -> tuple[Quote | None, dict[str, str]]:
        """The calculator: the quote a version's table (the one in force unless `version` names
        another) gives for the typed parcel, or the problems by field."""
        numbers, errors = _calculator_numbers(values)
        row = None
        if "version" not in errors:
            try:
                row = self.get(numbers["version"]) if numbers["version"] else self.history()[0]
            except ServiceError as error:
                errors["version"] = error.message
        if errors:
            return None, errors
        parcel = Parcel(numbers["from_province"], numbers["to_province"], numbers["to_ward"], numbers["weight_g"],
                        numbers["cod_amount_vnd"], numbers["length_cm"], numbers["width_cm"], numbers["height_cm"])
        try:
            return TariffAdapter(ActiveTariff.from_row(row)).quote(parcel), {}
        except ValueError:
            return None, {"to_province": gettext("The tariff has no price for this province.")}

    def publish(self, rates: TariffRates, note: str, based_on: int) -> TariffVersion:
        """Put a new version in force. `based_on` is the version the editor started from: when
        somebody else published meanwhile, their change is not silently overwritten."""
        from kernel.audit.services import AuditLog, current_actor
        from kernel.db import after_commit
        from workers.postal.quotes import quote_cache

        current = self.active()
        if based_on != current.version:
            raise Conflict(gettext("Version %(version)s was published while you were editing. Review it and save again.",
                                   version=current.version), field="based_on")
        check_publishable(rates)
        if rates == current.rates:
            raise ServiceError(gettext("Nothing changed: the prices are those of version %(version)s.",
                                       version=current.version), field="note")
        user_id, label = current_actor()
        row = TariffVersion(version=current.version + 1, rates=rates.model_dump(mode="json"), note=note.strip()[:300],
                            created_by_user_id=user_id, created_by=label[:120])
        try:
            with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError as error:
            raise Conflict(gettext("Another version was published at the same moment. Review it and save again."),
                           field="based_on") from error
        AuditLog(self.session).record("tariff.publish", "tariff_version", row.version,
                                      before={"version": current.version, "rates": current.rates.model_dump(mode="json")},
                                      after={"version": row.version, "rates": row.rates, "note": row.note})
        # Once the new version is durable: every process's next quote uses it (the shared pointer
        # to the version in force moves) and the old version's quotes are dropped. Quotes are keyed
        # by the version's tag, so an old one could not be served even if dropping failed.
        self.session.flush()
        cache, published = quote_cache(), ActiveTariff.from_row(row)
        after_commit(self.session, lambda: cache.switch_to(published))
        return row


def check_publishable(rates: TariffRates) -> None:
    """Rules for a new version that old versions need not meet: every province of today's map in
    a region, and remote communes that exist."""
    from kernel import address

    known = {code for code, _name in address.provinces()}
    placed = {code for codes in rates.regions.values() for code in codes}
    if known - placed:
        raise ServiceError(gettext("Provinces without a region: %(codes)s.", codes=", ".join(map(str, sorted(known - placed)))),
                           field="regions")
    unknown = [code for code in rates.remote_wards if address.ward_name(code) == "?"]
    if unknown:
        raise ServiceError(gettext("Unknown commune or ward codes: %(codes)s.", codes=", ".join(map(str, unknown))),
                           field="remote_wards")


# The edit form: flat field names, each checked with a message naming what is wrong.

MONEY_FIELDS = [f"{zone.value}__{part}" for zone in Zone for part in ("first_500g", "each_500g")] + [
    "cod_minimum_vnd", "remote_surcharge_vnd"]
PERCENT_FIELDS = ["cod_percent", "vat_percent"]
_THOUSANDS = re.compile("^[0-9]{1,3}([., \u00a0\u202f][0-9]{3})+$")  # incl. no-break spaces


def is_number(text: str) -> bool:
    """Plain 0-9 digits only: str.isdigit() also accepts "²" or "٣", which int() refuses or misreads."""
    return text.isascii() and text.isdigit()


def parse_vnd(raw: str) -> int | None:
    """A whole number of dong: 18000, 18.000 or 18 000 (Vietnamese thousands separators)."""
    text = (raw or "").strip().removesuffix("₫").removesuffix("đ").strip()
    if is_number(text):
        return int(text)
    if _THOUSANDS.match(text):
        return int(re.sub(r"[.,\s]", "", text))
    return None


def parse_percent(raw: str) -> Decimal | None:
    text = (raw or "").strip().removesuffix("%").strip().replace(",", ".")
    if not re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,2})?", text):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if 0 <= value <= 100 else None


def rates_from_form(values: Mapping[str, str], regions: Mapping[str, tuple[int, ...]]) -> tuple[TariffRates | None, dict[str, str]]:
    """Read the edit form. Returns the rates, or the problems by field name (already translated)."""
    errors: dict[str, str] = {}
    money: dict[str, int] = {}
    for name in MONEY_FIELDS:
        amount = parse_vnd(values.get(name, ""))
        if amount is None or amount > 100_000_000:
            errors[name] = gettext("Enter a whole number of dong, for example 18000.")
        elif amount == 0 and name.endswith("first_500g"):
            errors[name] = gettext("The first 500 g must cost more than 0 ₫.")
        else:
            money[name] = amount
    percents: dict[str, Decimal] = {}
    for name in PERCENT_FIELDS:
        percent = parse_percent(values.get(name, ""))
        if percent is None:
            errors[name] = gettext("Enter a percentage between 0 and 100 (at most two decimals).")
        else:
            percents[name] = percent
    divisor_text = (values.get("volumetric_divisor") or "").strip()
    divisor = int(divisor_text) if is_number(divisor_text) else 0
    if not 1000 <= divisor <= 20_000:
        errors["volumetric_divisor"] = gettext("Enter a whole number between 1000 and 20000.")
    remote: list[int] = []
    for token in re.split(r"[\s,;]+", values.get("remote_wards", "") or ""):
        if not token:
            continue
        if not is_number(token) or len(token) > 6:
            errors["remote_wards"] = gettext("List commune or ward codes (numbers), separated by spaces or commas.")
            break
        remote.append(int(token))
    if errors:
        return None, errors
    try:
        rates = TariffRates(
            zones={zone: {"first_500g": money[f"{zone.value}__first_500g"], "each_500g": money[f"{zone.value}__each_500g"]}
                   for zone in Zone},
            volumetric_divisor=divisor, cod_percent=percents["cod_percent"], cod_minimum_vnd=money["cod_minimum_vnd"],
            remote_surcharge_vnd=money["remote_surcharge_vnd"], remote_wards=tuple(remote),
            vat_percent=percents["vat_percent"], regions=dict(regions),
        )
    except ValidationError:
        return None, {"form": gettext("These prices cannot be saved; check every field.")}
    try:
        check_publishable(rates)
    except ServiceError as error:
        return None, {error.field or "form": error.message}
    return rates, {}


def form_values(rates: TariffRates) -> dict[str, str]:
    """The edit form filled with a version's rates."""
    values = {f"{zone.value}__{part}": str(getattr(rates.zones[zone], part)) for zone in Zone
              for part in ("first_500g", "each_500g")}
    values.update(cod_percent=_plain_percent(rates.cod_percent), vat_percent=_plain_percent(rates.vat_percent),
                  cod_minimum_vnd=str(rates.cod_minimum_vnd), remote_surcharge_vnd=str(rates.remote_surcharge_vnd),
                  volumetric_divisor=str(rates.volumetric_divisor), remote_wards=" ".join(map(str, rates.remote_wards)))
    return values


def _plain_percent(value: Decimal) -> str:
    return format(value.normalize(), "f")


CALCULATOR_FIELDS = ("from_province", "to_province", "to_ward", "weight_g", "length_cm", "width_cm", "height_cm",
                     "cod_amount_vnd")


def _calculator_numbers(values: Mapping[str, str]) -> tuple[dict[str, int], dict[str, str]]:
    from kernel import address

    numbers: dict[str, int] = {}
    errors: dict[str, str] = {}
    required = {"from_province", "to_province", "weight_g"}
    for name in (*CALCULATOR_FIELDS, "version"):
        raw = (values.get(name) or "").strip()
        if raw == "" and name not in required:
            numbers[name] = 0
        elif is_number(raw) and len(raw) <= 10:
            numbers[name] = int(raw)
        elif raw == "" and name.endswith("province"):
            errors[name] = gettext("Choose a province.")
        else:
            errors[name] = gettext("Enter a whole number (0 or more).")
    known = dict(address.provinces())
    for name in ("from_province", "to_province"):
        if name in numbers and numbers[name] not in known:
            errors[name] = gettext("Choose a province.")
    if numbers.get("to_ward") and numbers.get("to_province") in known and not address.is_valid(numbers["to_province"], numbers["to_ward"]):
        errors["to_ward"] = gettext("Choose a commune or ward of the selected province.")
    if "weight_g" in numbers and not 1 <= numbers["weight_g"] <= 10_000_000:
        errors["weight_g"] = gettext("The weight must be at least 1 g.")
    for name in ("length_cm", "width_cm", "height_cm"):
        if numbers.get(name, 0) > 1000:
            errors[name] = gettext("At most 1000 cm.")
    return numbers, errors


def sample_quotes(current: ActiveTariff, draft: TariffRates, home_province: int) -> list[dict[str, Any]]:
    """What a few typical parcels from `home_province` cost now and under the draft, before it is
    published: each zone at 0.5, 2 and 5 kg, then with cash on delivery and to a remote commune."""
    proposed = TariffAdapter(ActiveTariff.of(None, current.version + 1, draft))
    now = TariffAdapter(current)
    home_region = region_of(home_province, draft.regions)
    same_region = next((c for c in draft.regions[home_region] if c != home_province), home_province)
    other_region = next(codes[0] for name, codes in draft.regions.items() if name != home_region and codes)
    remote = next((ward for ward in draft.remote_wards), None)
    cases: list[tuple[str, Parcel]] = []
    for zone, to in ((Zone.INTRA_PROVINCE, home_province), (Zone.INTRA_REGION, same_region),
                     (Zone.INTER_REGION, other_region)):
        for weight in (500, 2_000, 5_000):
            cases.append((zone.value, Parcel(home_province, to, 0, weight)))
    cases.append((Zone.INTRA_PROVINCE.value, Parcel(home_province, home_province, 0, 2_000, cod_amount_vnd=1_000_000)))
    if remote is not None:
        from kernel import address

        province = next((code for code, _name in address.provinces() if address.is_valid(code, remote)), home_province)
        cases.append((zone_of(home_province, province, draft.regions), Parcel(home_province, province, remote, 2_000)))
    rows = []
    for zone, parcel in cases:
        try:
            before, after = now.quote(parcel), proposed.quote(parcel)
        except ValueError:  # a province the version in force has no region for
            continue
        rows.append({"zone": zone, "parcel": parcel, "now": before.total_vnd, "draft": after.total_vnd,
                     "change": after.total_vnd - before.total_vnd})
    return rows

