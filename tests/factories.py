"""Test data, made through the real services so every rule applies."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta
from decimal import Decimal

from shop.accounts.models import Role
from shop.accounts.services import AccountService
from shop.catalog.schemas import BatchCreate, ProductCreate
from shop.catalog.services import CatalogService
from shop.cooperatives.schemas import CooperativeCreate
from shop.cooperatives.services import CooperativeService
from traceability.services import CredentialService, key_service
from workers.postal.models import Partner

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


def _in_app_context(method):
    def wrapper(self, *args, **kwargs):
        with self.app.app_context():
            result = method(self, *args, **kwargs)
            self.session.flush()
            return result

    return wrapper


class Factory:
    def __init__(self, app, session) -> None:
        self.app = app
        self.session = session

    @_in_app_context
    def cooperative(self, *, approved: bool = True, name: str | None = None, email: str | None = "htx@example.vn",
                    province_code: int = 92, ward_code: int = 31684):
        n = next(_counter)
        service = CooperativeService(self.session, key_service(self.session))
        cooperative = service.register(CooperativeCreate(
            name=name or f"HTX Thử nghiệm {n}", registration_no=f"TEST{n:06d}", province_code=province_code,
            ward_code=ward_code, address=f"Ấp {n}", phone="0912345678", email=email))
        if approved:
            service.approve(cooperative.id)
        return cooperative

    @_in_app_context
    def user(self, role: Role, *, cooperative_id=None, partner_id=None, username: str | None = None):
        name = username or f"user{next(_counter)}"
        return AccountService(self.session).create_user(
            username=name, password=PASSWORD, display_name=name, role=role,
            cooperative_id=cooperative_id, partner_id=partner_id)

    @_in_app_context
    def partner(self):
        partner = Partner(name="Bưu điện thử", province_code=92, is_default=True)
        self.session.add(partner)
        self.session.flush()
        return partner

    def catalog(self, cooperative) -> CatalogService:
        return CatalogService(self.session, cooperative.id, alliance_gs1_prefix=self.app.config["GS1_COMPANY_PREFIX"],
                              credentials=CredentialService(self.session, key_service(self.session)))

    @_in_app_context
    def product(self, cooperative, *, name: str = "Gạo ST25 túi 5 kg", price_vnd: int = 185_000, unit_weight_g: int = 5000):
        return self.catalog(cooperative).create_product(
            ProductCreate(name=name, price_vnd=price_vnd, unit_weight_g=unit_weight_g))

    @_in_app_context
    def batch(self, cooperative, product, *, lot: str | None = None, quantity_kg: Decimal = Decimal("100")):
        return self.catalog(cooperative).create_batch(product.id, BatchCreate(
            lot=lot or f"L{next(_counter)}", harvest_date=date.today() - timedelta(days=3), plot="Ruộng 1",
            quantity_kg=quantity_kg))


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html) or re.search(r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token in page"
    return match.group(1)


def login(client, username: str, password: str = PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(page.get_data(as_text=True))})
