"""Cooperatives: applying, the alliance's decision (approval issues their signing key), suspension,
key management and listing. Every decision and key action is written to the audit log."""

from __future__ import annotations

import re

from flask_babel import gettext
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from kernel import address
from kernel.audit.services import AuditLog
from shop.cooperatives.models import Cooperative, CooperativeStatus
from shop.cooperatives.schemas import CooperativeApplication, CooperativeCreate
from kernel.errors import Conflict, NotFound, ServiceError
from kernel.textutil import slugify
from kernel.timeutil import utcnow
from traceability.models import KeyStatus
from traceability.schemas import IssuerRef
from traceability.services import KeyService

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_REASON_LENGTH = 10
NOTICE_TASK = "nongsan.cooperatives.send_application_notice"


def cooperative_may_sign(session: Session, issuer: IssuerRef) -> bool:
    """The signing policy the key store asks: only approved cooperatives sign (partners always may)."""
    if issuer.kind != "cooperative":
        return True
    status = session.exec(select(Cooperative.status).where(Cooperative.id == issuer.owner_id)).first()
    return status == CooperativeStatus.APPROVED


def normalize_registration_no(value: str) -> str:
    return re.sub(r"\s+", " ", (value or "").strip()).upper()


def check_bank(bank_bin: str | None, bank_account: str | None) -> tuple[str | None, str | None]:
    """Both or neither; the BIN from the known list, the account as VietQR accepts it."""
    from shop.payments import vietqr

    bank_bin = (bank_bin or "").strip() or None
    bank_account = re.sub(r"[\s.-]", "", bank_account or "") or None
    if bank_bin is None and bank_account is None:
        return None, None
    if bank_bin is None or bank_bin not in {bank.bin for bank in vietqr.BANK_BINS.values()}:
        raise ServiceError(gettext("Choose the bank from the list."), field="bank_bin")
    if bank_account is None:
        raise ServiceError(gettext("Enter the account number for bank transfers."), field="bank_account")
    try:
        vietqr.build_vietqr_payload(bank_bin, bank_account, 1000, "KIEM TRA")
    except vietqr.VietQRError as error:
        raise ServiceError(gettext("The account number may have only letters and digits, at most 19."),
                           field="bank_account") from error
    return bank_bin, bank_account


def _status_snapshot(cooperative: Cooperative) -> dict:
    return {"status": cooperative.status, "reason": cooperative.decision_reason}


class CooperativeService:
    def __init__(self, session: Session, keys: KeyService) -> None:
        self.session = session
        self.keys = keys

    def register(self, data: CooperativeCreate) -> Cooperative:
        if not address.is_valid(data.province_code, data.ward_code):
            raise ServiceError(gettext("Choose a commune or ward of the selected province."), field="ward_code")
        phone = address.normalize_contact_phone(data.phone)
        if phone is None:
            raise ServiceError(gettext("Enter a Vietnamese phone number."), field="phone")
        if self.session.exec(select(Cooperative.id).where(Cooperative.registration_no == data.registration_no)).first():
            raise ServiceError(gettext("A cooperative with this registration number exists."), field="registration_no", status=409)
        cooperative = Cooperative(**data.model_dump(exclude={"phone"}), phone=phone, slug=self._unique_slug(data.name))
        self.session.add(cooperative)
        self.session.flush()
        return cooperative

    def _unique_slug(self, name: str) -> str:
        slug = base = slugify(name) or "htx"
        counter = 1
        while self.session.exec(select(Cooperative.id).where(Cooperative.slug == slug)).first():
            counter += 1
            slug = f"{base}-{counter}"
        return slug

    # -- onboarding ------------------------------------------------------------------------------
    def apply(self, data: CooperativeApplication) -> Cooperative:
        """A cooperative applies: a pending cooperative and its first user (inactive until approval).

        A registration number already on the alliance's registry (status "registered", imported
        by staff) is that cooperative applying: the row is completed and becomes pending. Any
        other existing number is a conflict. Everything is checked before anything is written."""
        from shop.accounts.services import MIN_PASSWORD_LENGTH, USERNAME_RE, AccountService
        from shop.accounts.models import Role, User

        registration_no = normalize_registration_no(data.registration_no)
        if len(registration_no) < 3:
            raise ServiceError(gettext("Enter the registration number."), field="registration_no")
        address.check_place(data.province_code, data.ward_code, data.address, street_field="address")
        phone = address.normalize_contact_phone(data.phone)
        if phone is None:
            raise ServiceError(gettext("Enter a Vietnamese phone number, e.g. 0912 345 678."), field="phone")
        email = data.email.strip().lower()
        if not EMAIL_RE.match(email):
            raise ServiceError(gettext("This e-mail address does not look right."), field="email")
        bank_bin, bank_account = check_bank(data.bank_bin, data.bank_account)
        username = data.username.strip().lower()
        if not USERNAME_RE.match(username):
            raise ServiceError(gettext("The username may use lower-case letters, digits and . _ - (3 to 80)."), field="username")
        if len(data.password) < MIN_PASSWORD_LENGTH:
            raise ServiceError(gettext("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
                               field="password")
        if self.session.exec(select(User.id).where(User.username == username)).first():
            raise Conflict(gettext("This username is already taken."), field="username")
        existing = self.session.exec(
            select(Cooperative).where(func.upper(Cooperative.registration_no) == registration_no)).first()
        if existing is not None and existing.status != CooperativeStatus.REGISTERED:
            raise Conflict(gettext("A cooperative with registration number %(number)s has already applied.",
                                   number=registration_no), field="registration_no")
        facts = dict(name=data.name.strip(), province_code=data.province_code, ward_code=data.ward_code,
                     address=data.address.strip(), legal_representative=data.legal_representative.strip(),
                     phone=phone, email=email, bank_bin=bank_bin, bank_account=bank_account,
                     main_products=data.main_products.strip(), status=CooperativeStatus.PENDING, applied_at=utcnow())
        before = None
        try:
            # A savepoint: a concurrent application with the same number or username loses cleanly.
            with self.session.begin_nested():
                if existing is not None:
                    before = _status_snapshot(existing)
                    for name, value in facts.items():
                        setattr(existing, name, value)
                    cooperative = existing
                else:
                    cooperative = Cooperative(registration_no=registration_no, slug=self._unique_slug(data.name), **facts)
                    self.session.add(cooperative)
                self.session.flush()
                user = AccountService(self.session).create_user(
                    username=username, password=data.password, display_name=data.legal_representative.strip(),
                    role=Role.MEMBER, cooperative_id=cooperative.id, email=email)
                user.is_active = False  # until the alliance approves the cooperative
                user.is_coop_admin = True
                self.session.flush()
        except IntegrityError as error:
            raise Conflict(gettext("A cooperative with registration number %(number)s has already applied.",
                                   number=registration_no), field="registration_no") from error
        entry = AuditLog(self.session).record(
            "cooperative.apply", "cooperative", cooperative.id, before=before,
            after={"status": cooperative.status, "first_user": username}, cooperative_id=cooperative.id,
            actor_label=f"applicant:{username}")
        self._notify(cooperative, "received", entry.id)
        return cooperative

    def pending_applications(self) -> list[Cooperative]:
        return list(self.session.exec(
            select(Cooperative).where(Cooperative.status == CooperativeStatus.PENDING)
            .order_by(Cooperative.applied_at, Cooperative.id)))

    def first_users(self, cooperative_id: int):
        from shop.accounts.models import User

        return list(self.session.exec(select(User).where(User.cooperative_id == cooperative_id, User.is_coop_admin == True)  # noqa: E712
                                      .order_by(User.id)))

    def _notify(self, cooperative: Cooperative, kind: str, entry_id: int | None) -> None:
        from kernel import outbox

        outbox.enqueue(self.session, NOTICE_TASK, cooperative_id=cooperative.id, kind=kind, notice_id=entry_id)

    def _decide(self, cooperative: Cooperative, status: str, reason: str | None) -> dict:
        before = _status_snapshot(cooperative)
        cooperative.status = status
        cooperative.decision_reason = reason
        cooperative.decided_at = utcnow()
        self.session.flush()
        return before

    def approve(self, cooperative_id: int) -> Cooperative:
        """Approval issues the cooperative's signing key and certificate and opens its first login."""
        cooperative = self.get(cooperative_id)
        if cooperative.status == CooperativeStatus.APPROVED:
            return cooperative
        if cooperative.status != CooperativeStatus.PENDING:
            raise Conflict(gettext("Only a pending application can be approved."), field="status")
        before = self._decide(cooperative, CooperativeStatus.APPROVED, None)
        key = self._ensure_key(cooperative)
        activated = []
        for user in self.first_users(cooperative.id):
            if not user.is_active:
                user.is_active = True
                activated.append(user.username)
        self.session.flush()
        entry = AuditLog(self.session).record(
            "cooperative.approve", "cooperative", cooperative.id, before=before,
            after={"status": cooperative.status, "kid": key.kid, "activated_users": activated}, cooperative_id=cooperative.id)
        if cooperative.applied_at is not None:  # staff approving a registry entry themselves tell nobody
            self._notify(cooperative, "approved", entry.id)
        return cooperative

    def _ensure_key(self, cooperative: Cooperative):
        issuer = self.keys_service_issuer(cooperative)
        active = [k for k in self.keys.keys_of(issuer) if k.status == KeyStatus.ACTIVE]
        return active[-1] if active else self.keys.issue_key(issuer)

    @staticmethod
    def _reason(reason: str) -> str:
        reason = (reason or "").strip()
        if len(reason) < MIN_REASON_LENGTH:
            raise ServiceError(gettext("Give the reason (at least %(n)d characters); the cooperative will read it.",
                                       n=MIN_REASON_LENGTH), field="reason")
        return reason[:1000]

    def reject(self, cooperative_id: int, reason: str) -> Cooperative:
        cooperative = self.get(cooperative_id)
        reason = self._reason(reason)
        if cooperative.status != CooperativeStatus.PENDING:
            raise Conflict(gettext("Only a pending application can be rejected."), field="status")
        before = self._decide(cooperative, CooperativeStatus.REJECTED, reason)
        entry = AuditLog(self.session).record("cooperative.reject", "cooperative", cooperative.id, before=before,
                                              after=_status_snapshot(cooperative), cooperative_id=cooperative.id)
        self._notify(cooperative, "rejected", entry.id)
        return cooperative

    def suspend(self, cooperative_id: int, reason: str) -> Cooperative:
        """Stops selling and signing at once; keys stay (what was signed keeps verifying)."""
        cooperative = self.get(cooperative_id)
        reason = self._reason(reason)
        if cooperative.status != CooperativeStatus.APPROVED:
            raise Conflict(gettext("Only an approved cooperative can be suspended."), field="status")
        from shop.accounts.invitations import revoke_pending  # accounts already imports this package

        before = self._decide(cooperative, CooperativeStatus.SUSPENDED, reason)
        entry = AuditLog(self.session).record("cooperative.suspend", "cooperative", cooperative.id, before=before,
                                              after=_status_snapshot(cooperative), cooperative_id=cooperative.id)
        # Nobody joins a suspended cooperative through a link sent before; reinstating does not revive them.
        revoke_pending(self.session, cooperative.id, reason)
        self._notify(cooperative, "suspended", entry.id)
        return cooperative

    def reinstate(self, cooperative_id: int) -> Cooperative:
        cooperative = self.get(cooperative_id)
        if cooperative.status != CooperativeStatus.SUSPENDED:
            raise Conflict(gettext("Only a suspended cooperative can be reinstated."), field="status")
        before = self._decide(cooperative, CooperativeStatus.APPROVED, None)
        key = self._ensure_key(cooperative)
        entry = AuditLog(self.session).record("cooperative.reinstate", "cooperative", cooperative.id, before=before,
                                              after={"status": cooperative.status, "kid": key.kid}, cooperative_id=cooperative.id)
        self._notify(cooperative, "reinstated", entry.id)
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
        issuer = self.keys_service_issuer(cooperative)
        retired = [k.kid for k in self.keys.keys_of(issuer) if k.status == KeyStatus.ACTIVE]
        key = self.keys.rotate(issuer)
        AuditLog(self.session).record("key.rotate", "signing_key", key.kid, before={"active": retired},
                                      after={"active": [key.kid], "retired": retired}, cooperative_id=cooperative.id)
        return key

    def revoke_key(self, cooperative_id: int, kid: str, reason: str):
        cooperative = self.get(cooperative_id)
        owned = {k.kid for k in self.keys.keys_of(self.keys_service_issuer(cooperative))}
        if kid not in owned:
            raise NotFound(gettext("Unknown key."), field="kid")
        if len((reason or "").strip()) < 5:
            raise ServiceError(gettext("Give the reason for the revocation (at least 5 characters)."), field="reason")
        before = next(k.status for k in self.keys.keys_of(self.keys_service_issuer(cooperative)) if k.kid == kid)
        key = self.keys.revoke(kid, reason)
        AuditLog(self.session).record("key.revoke", "signing_key", kid, before={"status": before},
                                      after={"status": key.status, "reason": key.revocation_reason,
                                             "revoked_at": key.revoked_at}, cooperative_id=cooperative.id)
        return key

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
        from shop.catalog.models import Product
        from shop.catalog.services import withdraw_from_sale

        withdraw_from_sale(self.session, link.gtin, link.lot)
        owner = self.session.exec(select(Product.cooperative_id).where(Product.gtin == link.gtin)).first()
        AuditLog(self.session).record("batch.recall", "batch", f"{link.gtin}/{link.lot}", before={"recalled": False},
                                      after={"recalled": True, "reason": reason, "by": "alliance"}, cooperative_id=owner)
        return recall

    @staticmethod
    def bank_name(bank_bin: str | None) -> str | None:
        from shop.payments.vietqr import BANK_BINS

        return next((f"{bank.short_name} ({bank.bin})" for bank in BANK_BINS.values() if bank.bin == bank_bin), bank_bin)

    def all(self) -> list[Cooperative]:
        """Cooperatives on the platform (applied, whatever the outcome). Entries that are only on
        the alliance's registry, which can run to thousands, are listed by the registry pages."""
        return list(self.session.exec(select(Cooperative).where(Cooperative.status != CooperativeStatus.REGISTERED)
                                      .order_by(Cooperative.name)))
