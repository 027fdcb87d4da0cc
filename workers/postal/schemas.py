"""Inputs and outputs of the postal services."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


@dataclass(frozen=True)
class Parcel:
    from_province_code: int
    to_province_code: int
    to_ward_code: int
    weight_g: int
    cod_amount_vnd: int = 0
    length_cm: int = 0
    width_cm: int = 0
    height_cm: int = 0


@dataclass(frozen=True)
class Quote:
    """A price for one parcel, in whole VND, itemised. `base_fee_vnd` is the weight charge (first
    500 g plus `extra_weight_vnd`); `surcharge_vnd` is the remote-commune surcharge."""

    zone: str
    chargeable_weight_g: int
    base_fee_vnd: int
    cod_fee_vnd: int
    surcharge_vnd: int
    vat_vnd: int
    total_vnd: int
    tariff_version: int | None
    first_step_vnd: int = 0
    extra_weight_vnd: int = 0
    remote: bool = False
    # Who priced it: "tariff" (the alliance's table), "carrier" (a live carrier API) or
    # "tariff_fallback" (the carrier failed, so the table priced it).
    source: str = "tariff"
    carrier: str = "tariff"
    cached: bool = False

    def as_dict(self) -> dict:
        # Every field is a plain value: a shallow copy is enough (dataclasses.asdict deep-copies).
        return dict(vars(self))


@dataclass(frozen=True)
class ShipmentRequest:
    """What the shop hands to the post for one order."""

    order_id: int
    order_reference: str
    cooperative_id: int
    sender_name: str
    sender_province_code: int
    sender_ward_code: int
    sender_address: str
    recipient_name: str
    recipient_phone: str
    recipient_province_code: int
    recipient_ward_code: int
    recipient_address: str
    note: str
    weight_g: int
    shipping_fee_vnd: int
    cod_amount_vnd: int


def shipment_public(shipment) -> dict:
    return {
        "code": shipment.code, "order": shipment.order_reference, "status": shipment.status,
        "sender": {"name": shipment.sender_name, "address": shipment.sender_address,
                   "province_code": shipment.sender_province_code, "ward_code": shipment.sender_ward_code},
        "recipient": {"name": shipment.recipient_name, "phone": shipment.recipient_phone, "address": shipment.recipient_address,
                      "province_code": shipment.recipient_province_code, "ward_code": shipment.recipient_ward_code},
        "weight_g": shipment.weight_g, "shipping_fee_vnd": shipment.shipping_fee_vnd, "cod_amount_vnd": shipment.cod_amount_vnd,
        "cod_collected_vnd": shipment.cod_collected_vnd, "cod_remitted_vnd": shipment.cod_remitted_vnd,
        "note": shipment.note, "created_at": shipment.created_at.isoformat(),
    }


# The tariff as data. Stored as JSON on each TariffVersion row and validated here whenever it is
# read or written; old versions are never changed, so their rates must keep validating.


class Zone(StrEnum):
    INTRA_PROVINCE = "intra_province"
    INTRA_REGION = "intra_region"
    INTER_REGION = "inter_region"


Vnd = Annotated[int, Field(ge=0, le=100_000_000, strict=True)]
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]


class ZoneRates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    first_500g: Annotated[int, Field(gt=0, le=100_000_000, strict=True)]
    each_500g: Vnd


class TariffRates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    zones: dict[Zone, ZoneRates]
    volumetric_divisor: Annotated[int, Field(ge=1000, le=20_000, strict=True)] = 6000
    cod_percent: Percent
    cod_minimum_vnd: Vnd
    remote_surcharge_vnd: Vnd
    remote_wards: tuple[int, ...] = ()
    vat_percent: Percent
    # Delivery regions (region name → province codes); the zone of a parcel is decided by them.
    regions: dict[str, tuple[int, ...]]

    @field_validator("zones")
    @classmethod
    def _every_zone(cls, zones: dict) -> dict:
        missing = set(Zone) - set(zones)
        if missing:
            raise ValueError(f"missing zones: {', '.join(sorted(missing))}")
        return zones

    @field_validator("remote_wards")
    @classmethod
    def _sorted_unique(cls, codes: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted(set(codes)))

    @model_validator(mode="after")
    def _one_region_per_province(self) -> TariffRates:
        seen: set[int] = set()
        for codes in self.regions.values():
            repeated = seen & set(codes)
            if repeated:
                raise ValueError(f"provinces in two regions: {sorted(repeated)}")
            seen |= set(codes)
        return self
