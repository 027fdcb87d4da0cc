"""Validated input for products and batches (table models are never used as input)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field, field_validator

from shop.catalog.models import Category, SaleUnit


class ProductCreate(BaseModel):
    name: str = Field(min_length=2, max_length=200)
    description: str = Field(default="", max_length=4000)
    category: Category = Category.OTHER
    sale_unit: SaleUnit = SaleUnit.KG
    unit_weight_g: int = Field(gt=0, le=50_000)
    price_vnd: int = Field(gt=0, le=100_000_000)

    @field_validator("name", "description")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class BatchCreate(BaseModel):
    lot: str = Field(min_length=1, max_length=20)
    harvest_date: date
    plot: str = Field(min_length=1, max_length=120)
    variety: str = Field(default="", max_length=120)
    cultivation_standard: str = Field(default="", max_length=60)
    quantity_kg: Decimal = Field(gt=0, le=Decimal("1000000"), decimal_places=3)

    @field_validator("lot", "plot", "variety", "cultivation_standard")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class TraceEventCreate(BaseModel):
    """A traceability event a cooperative adds to one of its batches after the harvest."""

    kind: str = Field(pattern="^(diary|processing|packing|inspection|shipping|receiving)$")
    event_date: date
    note: str = Field(default="", max_length=500)
    # diary: what was applied and its pre-harvest interval
    input_name: str = Field(default="", max_length=120)
    dose: str = Field(default="", max_length=60)
    pre_harvest_interval_days: int | None = Field(default=None, ge=0, le=365)
    # processing: kilograms in and out, and the product made
    input_kg: Decimal | None = Field(default=None, gt=0, le=Decimal("1000000"))
    output_kg: Decimal | None = Field(default=None, gt=0, le=Decimal("1000000"))
    output_product_id: int | None = None
    output_lot: str = Field(default="", max_length=20)
    # inspection
    passed: bool = True
    certificate_no: str = Field(default="", max_length=60)
    inspector: str = Field(default="", max_length=120)

    @field_validator("note", "input_name", "dose", "output_lot", "certificate_no", "inspector")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()
