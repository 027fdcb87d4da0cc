"""Cooperatives: registering, approving (which issues their signing key) and listing."""

from __future__ import annotations

from flask_babel import gettext
from sqlmodel import Session, select

from shop import address
from shop.cooperatives.models import Cooperative, CooperativeStatus
from shop.cooperatives.schemas import CooperativeCreate
from shop.errors import NotFound, ServiceError
from shop.textutil import slugify
from traceability.schemas import IssuerRef
from traceability.services import KeyService


class CooperativeService:
    def __init__(self, session: Session, keys: KeyService) -> None:
        self.session = session
        self.keys = keys

    def register(self, data: CooperativeCreate) -> Cooperative:
        if not address.is_valid(data.province_code, data.ward_code):
            raise ServiceError(gettext("Choose a commune or ward of the selected province."), field="ward_code")
        phone = address.normalize_phone(data.phone) or (data.phone if data.phone.startswith("02") else None)
        if phone is None:
            raise ServiceError(gettext("Enter a Vietnamese phone number."), field="phone")
        if self.session.exec(select(Cooperative.id).where(Cooperative.registration_no == data.registration_no)).first():
            raise ServiceError(gettext("A cooperative with this registration number exists."), field="registration_no", status=409)
        slug = base = slugify(data.name) or "htx"
        counter = 1
        while self.session.exec(select(Cooperative.id).where(Cooperative.slug == slug)).first():
            counter += 1
            slug = f"{base}-{counter}"
        cooperative = Cooperative(**data.model_dump(exclude={"phone"}), phone=phone, slug=slug)
        self.session.add(cooperative)
        self.session.flush()
        return cooperative

    def approve(self, cooperative_id: int) -> Cooperative:
        cooperative = self.get(cooperative_id)
        if cooperative.status == CooperativeStatus.APPROVED:
            return cooperative
        cooperative.status = CooperativeStatus.APPROVED
        self.keys.issue_key(IssuerRef("cooperative", cooperative.id, cooperative.name))
        self.session.flush()
        return cooperative

    def get(self, cooperative_id: int) -> Cooperative:
        cooperative = self.session.get(Cooperative, cooperative_id)
        if cooperative is None:
            raise NotFound(gettext("Cooperative not found."))
        return cooperative

    def all(self) -> list[Cooperative]:
        return list(self.session.exec(select(Cooperative).order_by(Cooperative.name)))
