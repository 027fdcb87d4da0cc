"""Orders: one per cooperative per checkout, with lines that record the batch sold."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from kernel.timeutil import UTCDateTime, utcnow


class OrderStatus(StrEnum):
    PLACED = "placed"
    CONFIRMED = "confirmed"
    PACKED = "packed"
    HANDED_TO_POST = "handed_to_post"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    SETTLED = "settled"
    CANCELLED = "cancelled"
    DELIVERY_FAILED = "delivery_failed"
    RETURNED = "returned"


class PaymentMethod(StrEnum):
    COD = "cod"
    VIETQR = "vietqr"


class Order(SQLModel, table=True):
    __tablename__ = "customer_order"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=20, unique=True, index=True)  # shown to people: NS-XXXXXXXX
    public_token: str = Field(max_length=64, unique=True, index=True)  # the buyer's tracking link
    checkout_key: str = Field(max_length=64, index=True)
    cooperative_id: int = Field(foreign_key="cooperative.id", index=True)
    status: str = Field(default=OrderStatus.PLACED, max_length=20, index=True)
    buyer_name: str = Field(max_length=120)
    buyer_phone: str = Field(max_length=15)
    buyer_email: str | None = Field(default=None, max_length=254)
    province_code: int
    ward_code: int
    street: str = Field(max_length=300)
    note: str = Field(default="", max_length=500)
    payment_method: str = Field(default=PaymentMethod.COD, max_length=10)
    goods_total_vnd: int
    shipping_fee_vnd: int | None = None  # the tariff's quote, fixed when the order is placed
    # Which tariff version priced it and who (tariff / carrier / tariff_fallback), so a fee stays
    # explainable after the alliance publishes new prices.
    shipping_tariff_version: int | None = None
    shipping_quote_source: str | None = Field(default=None, max_length=20)
    # The language the buyer used at checkout: their e-mails and texts are written in it.
    locale: str = Field(default="vi", max_length=5)
    weight_g: int
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # transfer confirmed by the cooperative
    paid_confirmed_by: str | None = Field(default=None, max_length=120)
    invoice_number: str | None = Field(default=None, max_length=30)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (
        UniqueConstraint("checkout_key", "cooperative_id", name="uq_order_checkout_cooperative"),
        CheckConstraint("goods_total_vnd >= 0", name="total_not_negative"),
    )


class OrderLine(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="customer_order.id", index=True)
    product_id: int = Field(foreign_key="product.id")
    batch_id: int = Field(foreign_key="batch.id", index=True)
    product_name: str = Field(max_length=200)
    lot: str = Field(max_length=20)
    quantity: int
    unit_price_vnd: int
    line_total_vnd: int

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)


class OrderStatusChange(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="customer_order.id", index=True)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    actor: str = Field(max_length=120)  # "buyer", "member:12", "partner:3", "system"
    reason: str = Field(default="", max_length=300)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InvoiceCounter(SQLModel, table=True):
    """Per-cooperative sequential invoice numbers, with no gaps and no repeats."""

    cooperative_id: int = Field(foreign_key="cooperative.id", primary_key=True)
    year: int = Field(primary_key=True)
    last_number: int = Field(default=0)
