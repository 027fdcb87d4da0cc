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
