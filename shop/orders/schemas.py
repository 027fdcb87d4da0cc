"""Checkout input."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from shop.orders.models import PaymentMethod


class CheckoutData(BaseModel):
    buyer_name: str = Field(min_length=2, max_length=120)
    buyer_phone: str = Field(max_length=20)
    buyer_email: str | None = Field(default=None, max_length=254)
    province_code: int
    ward_code: int
    street: str = Field(min_length=3, max_length=300)
    note: str = Field(default="", max_length=500)
    payment_method: PaymentMethod = PaymentMethod.COD

    @field_validator("buyer_name", "street", "note")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class CartLine(BaseModel):
    batch_id: int
    quantity: int = Field(gt=0, le=1000)
