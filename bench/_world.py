"""A throw-away nongsan world for benchmarks: fresh database, one approved cooperative, a product
and a batch. PostgreSQL when NONGSAN_BENCH_DATABASE_URL is set, else SQLite in a temp folder."""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path


from shop import create_app, migrate
from kernel.db import unit_of_work


def fresh_app():
    folder = Path(tempfile.mkdtemp(prefix="nongsan-bench-"))
    url = os.environ.get("NONGSAN_BENCH_DATABASE_URL") or f"sqlite:///{folder / 'bench.sqlite3'}"
    migrate.rebuild(url)
    return create_app({
        "INSTANCE_PATH": str(folder), "DATABASE_URL": url, "SECRET_KEY": secrets.token_urlsafe(32),
        "KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "PUBLIC_BASE_URL": "https://nongsan.bench",
        "BROKER_URL": os.environ.get("NONGSAN_BENCH_REDIS_URL") or f"sqla+sqlite:///{folder / 'broker.sqlite3'}",
        "REDIS_URL": os.environ.get("NONGSAN_BENCH_REDIS_URL"),
        "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
    })


def cooperative_with_batch(app, lot: str = "BENCH-1"):
    from shop.catalog.schemas import BatchCreate, ProductCreate
    from shop.catalog.services import CatalogService
    from shop.cooperatives.schemas import CooperativeCreate
    from shop.cooperatives.services import CooperativeService
    from traceability.services import CredentialService, key_service

    with app.app_context(), unit_of_work() as session:
        keys = key_service(session)
        cooperatives = CooperativeService(session, keys)
        cooperative = cooperatives.register(CooperativeCreate(
            name="HTX Đo hiệu năng", registration_no=f"BENCH{secrets.randbelow(10**6):06d}", province_code=92, ward_code=31684,
            address="Ấp 1", phone="0912345678"))
        cooperatives.approve(cooperative.id)
        catalog = CatalogService(session, cooperative.id, alliance_gs1_prefix=app.config["GS1_COMPANY_PREFIX"],
                                 credentials=CredentialService(session, keys))
        product = catalog.create_product(ProductCreate(name="Gạo ST25", price_vnd=185_000, unit_weight_g=5000))
        batch = catalog.create_batch(product.id, BatchCreate(lot=lot, harvest_date=date.today() - timedelta(days=1),
                                                             plot="Ruộng 1", quantity_kg=Decimal("1000")))
        return cooperative.id, product.gtin, batch.id
