from __future__ import annotations

from pydantic import BaseModel, Field


class CooperativeCreate(BaseModel):
    name: str = Field(min_length=3, max_length=200)
    registration_no: str = Field(min_length=3, max_length=40)
    province_code: int
    ward_code: int
    address: str = Field(min_length=3, max_length=300)
    legal_representative: str = Field(default="", max_length=120)
    phone: str = Field(max_length=20)
    email: str | None = Field(default=None, max_length=254)
    description: str = Field(default="", max_length=2000)
    kind: str = "cooperative"
    gs1_company_prefix: str | None = None
    bank_bin: str | None = None
    bank_account: str | None = None


class CooperativeApplication(BaseModel):
    """What a cooperative sends to apply (the public form), including its first user's login."""

    name: str = Field(min_length=3, max_length=200)
    registration_no: str = Field(min_length=3, max_length=40)
    province_code: int
    ward_code: int
    address: str = Field(min_length=3, max_length=300)
    legal_representative: str = Field(min_length=2, max_length=120)
    phone: str = Field(max_length=20)
    email: str = Field(max_length=254)
    bank_bin: str | None = None
    bank_account: str | None = None
    main_products: str = Field(min_length=3, max_length=1000)
    username: str = Field(min_length=3, max_length=80)
    password: str = Field(max_length=200)

