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

    def signing_keys(self, cooperative_id: int):
        cooperative = self.get(cooperative_id)
        return self.keys.keys_of(self.keys_service_issuer(cooperative))

    @staticmethod
    def keys_service_issuer(cooperative: Cooperative) -> IssuerRef:
        return IssuerRef("cooperative", cooperative.id, cooperative.name)

    def rotate_key(self, cooperative_id: int):
        cooperative = self.get(cooperative_id)
        if cooperative.status != CooperativeStatus.APPROVED:
            raise ServiceError(gettext("Only approved cooperatives have signing keys."), field="cooperative_id", status=409)
        return self.keys.rotate(self.keys_service_issuer(cooperative))

    def revoke_key(self, cooperative_id: int, kid: str, reason: str):
        cooperative = self.get(cooperative_id)
        owned = {k.kid for k in self.keys.keys_of(self.keys_service_issuer(cooperative))}
        if kid not in owned:
            raise NotFound(gettext("Unknown key."), field="kid")
        if len((reason or "").strip()) < 5:
            raise ServiceError(gettext("Give the reason for the revocation (at least 5 characters)."), field="reason")
        return self.keys.revoke(kid, reason)

    def recall_batch(self, gtin: str, lot: str, reason: str, actor: str):
        """The alliance withdraws a batch of any cooperative, signing the recall with its own key."""
        from traceability import gs1
        from traceability.schemas import BatchRef
        from traceability.services import CredentialService, RecallService, TraceabilityError

        try:
            link = gs1.DigitalLink(gtin=gs1.normalize_gtin(gtin.strip()), lot=gs1.validate_lot(lot.strip()))
        except gs1.GS1Error as error:
            raise ServiceError(error.message_vi + " / " + error.message, field=error.field) from error
        alliance = IssuerRef("alliance", None, self.keys.alliance_name)
        location = {"id": self.keys.base_url, "name": self.keys.alliance_name}
        try:
            recall = RecallService(self.session, CredentialService(self.session, self.keys)).recall(
                alliance, BatchRef(link.gtin, link.lot), reason, actor, location)
        except TraceabilityError as error:
            if error.status == 404:
                raise NotFound(gettext("Unknown batch."), field="lot") from error
            raise ServiceError(gettext("Give the reason for the recall (at least 5 characters)."), field="reason") from error
        from shop.catalog.services import withdraw_from_sale

        withdraw_from_sale(self.session, link.gtin, link.lot)
        return recall

    def all(self) -> list[Cooperative]:
        return list(self.session.exec(select(Cooperative).order_by(Cooperative.name)))
