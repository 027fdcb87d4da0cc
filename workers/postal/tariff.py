"""The default carrier adapter: a tariff table, as data.

Zones come from the sender's and receiver's provinces; weight is charged in 500 g steps on the
chargeable weight, max(actual, L×W×H/6000); cash on delivery costs a percentage with a minimum;
VAT is added last. All amounts are whole VND.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from workers.postal.schemas import Parcel, Quote

# Province codes of the 34 units since 1 July 2025, grouped into the three delivery regions.
NORTH = {1, 4, 8, 11, 12, 14, 15, 19, 20, 22, 24, 25, 31, 33, 37}
CENTRAL = {38, 40, 42, 44, 46, 48, 51, 52, 56, 66, 68}
SOUTH = {75, 79, 80, 82, 86, 91, 92, 96}

DEFAULT_TARIFF: dict[str, Any] = {
    "version": "2026-01",
    "zones": {
        "intra_province": {"first_500g": 18_000, "each_500g": 3_000},
        "intra_region": {"first_500g": 28_000, "each_500g": 5_000},
        "inter_region": {"first_500g": 35_000, "each_500g": 7_000},
    },
    "volumetric_divisor": 6000,
    "cod_percent": 1.0,
    "cod_minimum": 10_000,
    "remote_surcharge": 10_000,
    "remote_wards": [],
    "vat_percent": 8,
}


def region_of(province_code: int) -> str:
    for name, codes in (("north", NORTH), ("central", CENTRAL), ("south", SOUTH)):
        if province_code in codes:
            return name
    raise ValueError(f"unknown province code {province_code}")


def zone_of(from_province: int, to_province: int) -> str:
    if from_province == to_province:
        return "intra_province"
    if region_of(from_province) == region_of(to_province):
        return "intra_region"
    return "inter_region"


class CarrierAdapter(Protocol):
    def quote(self, parcel: Parcel) -> Quote: ...


class TariffAdapter:
    def __init__(self, tariff: dict[str, Any] | None = None) -> None:
        self.tariff = tariff or DEFAULT_TARIFF

    def quote(self, parcel: Parcel) -> Quote:
        if parcel.weight_g <= 0:
            raise ValueError("weight must be positive")
        t = self.tariff
        zone = zone_of(parcel.from_province_code, parcel.to_province_code)
        volumetric_g = math.ceil(parcel.length_cm * parcel.width_cm * parcel.height_cm * 1000 / t["volumetric_divisor"])
        chargeable = max(parcel.weight_g, volumetric_g)
        steps = math.ceil(chargeable / 500)
        rates = t["zones"][zone]
        base = rates["first_500g"] + (steps - 1) * rates["each_500g"]
        cod_fee = 0
        if parcel.cod_amount_vnd > 0:
            cod_fee = max(t["cod_minimum"], math.ceil(parcel.cod_amount_vnd * t["cod_percent"] / 100))
        surcharge = t["remote_surcharge"] if parcel.to_ward_code in set(t["remote_wards"]) else 0
        subtotal = base + cod_fee + surcharge
        vat = math.ceil(subtotal * t["vat_percent"] / 100)
        return Quote(zone, chargeable, base, cod_fee, surcharge, vat, subtotal + vat, t["version"])
