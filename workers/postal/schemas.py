"""Inputs and outputs of the postal services."""

from __future__ import annotations

from dataclasses import dataclass


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
    zone: str
    chargeable_weight_g: int
    base_fee_vnd: int
    cod_fee_vnd: int
    surcharge_vnd: int
    vat_vnd: int
    total_vnd: int
    tariff_version: str


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
