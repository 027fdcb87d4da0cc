"""Demo data for the embedded default: cooperatives of the former Sóc Trăng province (Cần Thơ city
since the 2025 merger), their products and harvests, a postal partner and the alliance staff.

Passwords are random, written once to the instance folder (mode 0600) and printed by `nongsan run`.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from flask import current_app
from sqlmodel import Session, select

from shop.accounts.models import Role, User
from shop.accounts.services import AccountService
from shop.catalog.models import Category, SaleUnit
from shop.catalog.schemas import BatchCreate, ProductCreate
from shop.catalog.services import CatalogService
from shop.cooperatives.schemas import CooperativeCreate
from shop.cooperatives.services import CooperativeService
from traceability.services import CredentialService, key_service
from workers.postal.models import Partner

CAN_THO = 92

COOPERATIVES = [
    {
        "login": "htx-st25",
        "coop": CooperativeCreate(
            name="HTX Nông nghiệp Lúa thơm Mỹ Xuyên", registration_no="2201M000123", province_code=CAN_THO,
            ward_code=31684, address="Ấp Hòa Phuông, phường Mỹ Xuyên", legal_representative="Trần Văn Lúa",
            phone="0912345601", email="st25@htx.example.vn", bank_bin="970405", bank_account="7700205123456",
            description="Trồng lúa ST25 theo tiêu chuẩn VietGAP trên vùng đất giồng cát ven biển.",
        ),
        "products": [
            (ProductCreate(name="Gạo ST25 túi 5 kg", category=Category.RICE, sale_unit=SaleUnit.BAG_5KG,
                           unit_weight_g=5000, price_vnd=185_000, description="Gạo ST25 thơm, dẻo, vụ Đông Xuân."),
             [("ST25-2611A", "Ruộng số 7, ấp Hòa Phuông", "ST25", "VietGAP", Decimal("1200"), 20)]),
        ],
    },
    {
        "login": "htx-hanhtim",
        "coop": CooperativeCreate(
            name="HTX Hành tím Vĩnh Châu", registration_no="2201V000456", province_code=CAN_THO, ward_code=31783,
            address="Khóm Wathpich, phường Vĩnh Châu", legal_representative="Lý Thị Hành", phone="0912345602",
            email="hanhtim@htx.example.vn", description="Hành tím Vĩnh Châu, chỉ dẫn địa lý, trồng trên đất giồng cát.",
        ),
        "products": [
            (ProductCreate(name="Hành tím Vĩnh Châu 1 kg", category=Category.VEGETABLES, sale_unit=SaleUnit.KG,
                           unit_weight_g=1000, price_vnd=45_000),
             [("HT-2611", "Giồng cát khóm Wathpich", "Hành tím Vĩnh Châu", "VietGAP", Decimal("800"), 12)]),
        ],
    },
    {
        "login": "htx-buoi",
        "coop": CooperativeCreate(
            name="HTX Cây ăn trái Thới An Hội", registration_no="2201K000789", province_code=CAN_THO, ward_code=31540,
            address="Ấp An Phú, xã Thới An Hội", legal_representative="Nguyễn Văn Bưởi", phone="0912345603",
            email="buoi@htx.example.vn", description="Bưởi Năm Roi và cây ăn trái vùng cù lao sông Hậu.",
        ),
        "products": [
            (ProductCreate(name="Bưởi Năm Roi (hộp 2 trái)", category=Category.FRUIT, sale_unit=SaleUnit.BOX,
                           unit_weight_g=3000, price_vnd=120_000),
             [("NR-2611", "Vườn ông Bưởi, ấp An Phú", "Năm Roi", "GlobalGAP", Decimal("600"), 8)]),
        ],
    },
]


def _password() -> str:
    return secrets.token_urlsafe(9)


def is_empty(session: Session) -> bool:
    return session.exec(select(User.id)).first() is None


def seed_demo(session: Session, instance_path: Path) -> dict[str, str]:
    """Create the demo world; returns {username: password}."""
    config = current_app.config
    keys = key_service(session)
    keys.alliance_root()
    logins: dict[str, str] = {}
    accounts = AccountService(session)

    partner = Partner(name="Bưu điện thành phố Cần Thơ", province_code=CAN_THO, is_default=True)
    session.add(partner)
    session.flush()

    logins["admin"] = _password()
    accounts.create_user(username="admin", password=logins["admin"] + "-lmhtx", display_name="Liên minh HTX",
                         role=Role.ALLIANCE_ADMIN)
    logins["admin"] += "-lmhtx"
    logins["buudien"] = _password() + "-post"
    accounts.create_user(username="buudien", password=logins["buudien"], display_name="Bưu cục Ninh Kiều",
                         role=Role.PARTNER, partner_id=partner.id)

    cooperatives = CooperativeService(session, keys)
    today = date.today()
    for entry in COOPERATIVES:
        cooperative = cooperatives.register(entry["coop"])
        cooperatives.approve(cooperative.id)
        password = _password() + "-htx"
        logins[entry["login"]] = password
        accounts.create_user(username=entry["login"], password=password, display_name=cooperative.name,
                             role=Role.MEMBER, cooperative_id=cooperative.id, email=cooperative.email,
                             is_coop_admin=True)
        catalog = CatalogService(session, cooperative.id, alliance_gs1_prefix=config["GS1_COMPANY_PREFIX"],
                                 credentials=CredentialService(session, keys))
        for product_data, batches in entry["products"]:
            product = catalog.create_product(product_data)
            for lot, plot, variety, standard, quantity, days_ago in batches:
                catalog.create_batch(product.id, BatchCreate(
                    lot=lot, harvest_date=today - timedelta(days=days_ago), plot=plot, variety=variety,
                    cultivation_standard=standard, quantity_kg=quantity))
    _write_logins(instance_path, logins)
    return logins


def _write_logins(instance_path: Path, logins: dict[str, str]) -> None:
    path = instance_path / "demo-logins.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(logins, handle, indent=2)


def read_logins(instance_path: Path) -> dict[str, str]:
    path = instance_path / "demo-logins.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
