"""Products and the batches (lots) their stock is held in."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Index, CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from kernel.timeutil import UTCDateTime, utcnow


class Category(StrEnum):
    RICE = "rice"
    FRUIT = "fruit"
    VEGETABLES = "vegetables"
    SEAFOOD = "seafood"
    PROCESSED = "processed"
    OTHER = "other"


class SaleUnit(StrEnum):
    KG = "kg"
    BAG_5KG = "bag_5kg"
    BOX = "box"
    PIECE = "piece"


class Product(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    cooperative_id: int = Field(foreign_key="cooperative.id", index=True)
    gtin: str = Field(max_length=14, unique=True, index=True)
    name: str = Field(max_length=200)
    name_ascii: str = Field(default="", max_length=200, index=True)  # for diacritic-free search
    description: str = Field(default="", max_length=4000)
    category: str = Field(default=Category.OTHER, max_length=20)
    sale_unit: str = Field(default=SaleUnit.KG, max_length=20)
    unit_weight_g: int  # shipping weight of one sale unit
    price_vnd: int  # per sale unit, whole dong
    is_listed: bool = Field(default=True)
    ocop_stars: int | None = Field(default=None)  # 3-5 stars of the One Commune One Product programme
    ocop_decision: str | None = Field(default=None, max_length=60)  # the provincial decision number
    photo: str | None = Field(default=None, max_length=80)  # file name under instance/media
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (
        CheckConstraint("price_vnd > 0", name="price_positive"),
        CheckConstraint("unit_weight_g > 0", name="weight_positive"),
        Index("ix_product_name_id", "name", "id"),  # the catalogue's order when nothing is searched
        # Search reads an index the models cannot describe (migration 0017, `search_index_names`):
        # a trigram GIN index on name_ascii (PostgreSQL) or the FTS5 table product_fts (SQLite).
    )


# Schema objects of the catalogue search that live in migrations only; the model comparison skips them.
SEARCH_INDEX_NAMES = frozenset({"ix_product_name_trgm", "product_fts", "product_fts_data", "product_fts_idx",
                                "product_fts_docsize", "product_fts_config", "product_fts_content"})


class Batch(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    # Copied from the product so every query can be scoped to the caller's cooperative directly.
    cooperative_id: int = Field(foreign_key="cooperative.id", index=True)
    lot: str = Field(max_length=20)
    harvest_date: date
    plot: str = Field(max_length=120)
    variety: str = Field(default="", max_length=120)
    cultivation_standard: str = Field(default="", max_length=60)
    quantity_g: int  # harvested quantity
    stock_units: int  # sale units still available
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (
        UniqueConstraint("product_id", "lot", name="uq_batch_product_lot"),
        CheckConstraint("stock_units >= 0", name="stock_not_negative"),
        CheckConstraint("quantity_g > 0", name="quantity_positive"),
    )


class Certification(SQLModel, table=True):
    """A certificate a cooperative holds (VietGAP, organic, GlobalGAP…), shown with its validity."""

    id: int | None = Field(default=None, primary_key=True)
    cooperative_id: int = Field(foreign_key="cooperative.id", index=True)
    name: str = Field(max_length=80)
    number: str = Field(default="", max_length=60)
    issued_by: str = Field(default="", max_length=120)
    valid_until: date | None = None


class Reservation(SQLModel, table=True):
    """Units held for a buyer while they check out; returned to stock if they do not finish."""

    id: int | None = Field(default=None, primary_key=True)
    checkout_key: str = Field(max_length=64, index=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    quantity: int
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    consumed: bool = Field(default=False)

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)
