"""The postal partner, its shipments and their status history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from kernel.timeutil import UTCDateTime, utcnow


class ShipmentStatus(StrEnum):
    AWAITING_PICKUP = "awaiting_pickup"
    ACCEPTED = "accepted"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    RETURNING = "returning"
    RETURNED = "returned"
    CANCELLED = "cancelled"  # the order was cancelled before pick-up


class Partner(SQLModel, table=True):
    __tablename__ = "postal_partner"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    province_code: int
    is_default: bool = Field(default=False)
    # Partners with an endpoint get each new shipment job as a signed webhook.
    webhook_url: str | None = Field(default=None, max_length=300)
    webhook_secrets: str | None = Field(default=None, max_length=400)  # whsec_… separated by spaces
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Shipment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=13, unique=True, index=True)  # UPU S10: EN12345678 9 VN
    order_id: int = Field(foreign_key="customer_order.id", unique=True)
    order_reference: str = Field(max_length=20)
    cooperative_id: int = Field(foreign_key="cooperative.id", index=True)
    partner_id: int = Field(foreign_key="postal_partner.id", index=True)
    status: str = Field(default=ShipmentStatus.AWAITING_PICKUP, max_length=20, index=True)
    sender_name: str = Field(max_length=200)
    sender_province_code: int
    sender_ward_code: int
    sender_address: str = Field(max_length=300)
    recipient_name: str = Field(max_length=120)
    recipient_phone: str = Field(max_length=15)
    recipient_province_code: int
    recipient_ward_code: int
    recipient_address: str = Field(max_length=300)
    note: str = Field(default="", max_length=500)
    weight_g: int
    shipping_fee_vnd: int
    cod_amount_vnd: int  # what the courier collects from the buyer; 0 when paid by transfer
    cod_collected_vnd: int | None = None
    cod_collected_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cod_remitted_vnd: int | None = None
    cod_remitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ShipmentStatusChange(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    shipment_id: int = Field(foreign_key="shipment.id", index=True)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    actor: str = Field(max_length=120)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PartnerUpdate(SQLModel, table=True):
    """Status updates received from a partner, by their own id: the same update twice is applied once."""

    id: int | None = Field(default=None, primary_key=True)
    partner_id: int = Field(foreign_key="postal_partner.id")
    update_id: str = Field(max_length=80)
    shipment_code: str = Field(max_length=13)
    status: str = Field(max_length=20)
    applied: bool
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (UniqueConstraint("partner_id", "update_id", name="uq_partnerupdate_partner_update"),)


class WebhookDelivery(SQLModel, table=True):
    """One message to a partner's endpoint and its attempts. Its id is the `webhook-id`, stable
    across retries, and the body carries the shipment code: the receiver can never create two."""

    id: str = Field(primary_key=True, max_length=40)
    partner_id: int = Field(foreign_key="postal_partner.id", index=True)
    shipment_code: str = Field(max_length=13, index=True)
    body: str = Field(sa_type=Text)
    status: str = Field(default="pending", max_length=12, index=True)  # pending / delivered / failed
    attempts: int = Field(default=0)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TariffVersion(SQLModel, table=True):
    """One version of the alliance's shipping tariff. Rows are never changed: an edit adds the next
    version, so a quote made under an old version can always be explained. The highest version is
    the one in force."""

    __tablename__ = "tariff_version"

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(unique=True)
    rates: dict = Field(sa_type=JSON)  # TariffRates (workers.postal.schemas), as JSON
    note: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_by: str = Field(default="system", max_length=120)

