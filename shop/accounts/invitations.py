"""Invitations to join a cooperative, sent by its administrator by e-mail or SMS.

The token is 32 random bytes; the database keeps only its SHA-256, so reading the database is not
enough to join a cooperative. The clear token travels once, sealed (AES-GCM under a key derived
from the app's secret), through the outbox to the task that sends the link."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from datetime import timedelta

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask_babel import gettext
from sqlalchemy import update
from sqlmodel import Session, select

from kernel import address
from shop.accounts.models import InvitationStatus, MemberInvitation, Role, User
from shop.accounts.services import USERNAME_RE, AccountService
from kernel.audit.services import AuditLog
from shop.cooperatives.models import Cooperative, CooperativeStatus
from kernel.errors import Conflict, NotFound, ServiceError
from kernel.timeutil import utcnow

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
SEND_TASK = "nongsan.accounts.send_invitation"


class InvitationGone(ServiceError):
    """The link was good once: it expired, was used or was revoked."""

    status = 410


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_key(secret_key: str) -> bytes:
    return hashlib.sha256(b"nongsan invitation link\0" + secret_key.encode()).digest()


def seal_token(key: bytes, invitation_id: int, token: str) -> str:
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(key).encrypt(nonce, token.encode(), str(invitation_id).encode())
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def open_token(key: bytes, invitation_id: int, sealed: str) -> str:
    raw = base64.urlsafe_b64decode(sealed.encode())
    return AESGCM(key).decrypt(raw[:12], raw[12:], str(invitation_id).encode()).decode()


def _snapshot(invitation: MemberInvitation) -> dict:
    return {"status": invitation.status, "channel": invitation.channel, "recipient": invitation.recipient,
            "expires_at": invitation.expires_at}


def _revoke(session: Session, invitation: MemberInvitation, reason: str | None = None) -> None:
    before = _snapshot(invitation)
    invitation.status = InvitationStatus.REVOKED
    invitation.revoked_at = utcnow()
    session.flush()
    after = _snapshot(invitation) | ({"reason": reason} if reason else {})
    AuditLog(session).record("invitation.revoke", "invitation", invitation.id, before=before, after=after,
                             cooperative_id=invitation.cooperative_id)


def revoke_pending(session: Session, cooperative_id: int, reason: str) -> int:
    """Withdraw every pending invitation of a cooperative (it was suspended), each audited; how many."""
    pending = session.exec(select(MemberInvitation).where(MemberInvitation.cooperative_id == cooperative_id,
                                                          MemberInvitation.status == InvitationStatus.PENDING)
                           .with_for_update()).all()
    for invitation in pending:
        _revoke(session, invitation, reason)
    return len(pending)


class InvitationService:
    def __init__(self, session: Session, *, link_key: bytes, valid_days: int = 7, sms_available: bool = False) -> None:
        self.session = session
        self.link_key = link_key
        self.valid_days = valid_days
        self.sms_available = sms_available

    # -- the cooperative's administrator ---------------------------------------------------------
    def invite(self, cooperative_id: int, recipient: str, invited_by: int | None) -> MemberInvitation:
        from kernel import outbox

        cooperative = self.session.get(Cooperative, cooperative_id)
        if cooperative is None or cooperative.status != CooperativeStatus.APPROVED:
            raise ServiceError(gettext("Only an approved cooperative can invite members."), field="recipient", status=403)
        recipient = (recipient or "").strip()
        if "@" in recipient:
            channel, recipient = "email", recipient.lower()
            if not EMAIL_RE.match(recipient) or len(recipient) > 254:
                raise ServiceError(gettext("This e-mail address does not look right."), field="recipient")
        else:
            channel, phone = "sms", address.normalize_phone(recipient)
            if phone is None:
                raise ServiceError(gettext("Enter an e-mail address or a Vietnamese mobile number."), field="recipient")
            if not self.sms_available:
                raise ServiceError(gettext("Text messages are not set up yet; invite by e-mail."), field="recipient")
            recipient = phone
        # Inviting the same person again replaces the earlier link (one live link per person).
        for earlier in self.session.exec(select(MemberInvitation).where(
                MemberInvitation.cooperative_id == cooperative_id, MemberInvitation.recipient == recipient,
                MemberInvitation.status == InvitationStatus.PENDING)):
            self._revoke(earlier)
        token = secrets.token_urlsafe(32)
        invitation = MemberInvitation(
            token_sha256=token_hash(token), cooperative_id=cooperative_id, channel=channel, recipient=recipient,
            invited_by=invited_by, expires_at=utcnow() + timedelta(days=self.valid_days))
        self.session.add(invitation)
        self.session.flush()
        AuditLog(self.session).record("invitation.create", "invitation", invitation.id, after=_snapshot(invitation),
                                      cooperative_id=cooperative_id)
        outbox.enqueue(self.session, SEND_TASK, invitation_id=invitation.id,
                       sealed_token=seal_token(self.link_key, invitation.id, token))
        return invitation

    def pending(self, cooperative_id: int) -> list[MemberInvitation]:
        return list(self.session.exec(
            select(MemberInvitation).where(MemberInvitation.cooperative_id == cooperative_id,
                                           MemberInvitation.status == InvitationStatus.PENDING)
            .order_by(MemberInvitation.created_at.desc())))  # type: ignore[attr-defined]

    def members(self, cooperative_id: int) -> list[User]:
        return list(self.session.exec(select(User).where(User.cooperative_id == cooperative_id).order_by(User.username)))

    def revoke(self, cooperative_id: int, invitation_id: int) -> MemberInvitation:
        invitation = self.session.exec(select(MemberInvitation).where(
            MemberInvitation.id == invitation_id, MemberInvitation.cooperative_id == cooperative_id)).first()
        if invitation is None:
            raise NotFound(gettext("Unknown invitation."), field="invitation_id")
        if invitation.status != InvitationStatus.PENDING:
            raise Conflict(gettext("This invitation was already used or revoked."), field="invitation_id")
        self._revoke(invitation)
        return invitation

    def _revoke(self, invitation: MemberInvitation) -> None:
        _revoke(self.session, invitation)

    # -- the person invited ----------------------------------------------------------------------
    def open(self, token: str) -> tuple[MemberInvitation, Cooperative]:
        """The live invitation behind a link, or a clear refusal: 400 unknown, 410 used up."""
        if not TOKEN_RE.match(token or ""):
            raise ServiceError(gettext("This invitation link is not valid. Check that you copied all of it."), field="token")
        invitation = self.session.exec(select(MemberInvitation).where(MemberInvitation.token_sha256 == token_hash(token))).first()
        if invitation is None:
            raise ServiceError(gettext("This invitation link is not valid. Check that you copied all of it."), field="token")
        if invitation.status == InvitationStatus.ACCEPTED:
            raise InvitationGone(gettext("This invitation was already used. Log in with the account made with it."), field="token")
        if invitation.status == InvitationStatus.REVOKED:
            raise InvitationGone(gettext("This invitation was withdrawn. Ask your cooperative for a new one."), field="token")
        if invitation.expires_at <= utcnow():
            raise InvitationGone(gettext("This invitation has expired. Ask your cooperative for a new one."), field="token")
        cooperative = self.session.get(Cooperative, invitation.cooperative_id)
        if cooperative is None or cooperative.status != CooperativeStatus.APPROVED:
            # Suspension withdraws pending invitations; this also covers links made before that rule.
            raise InvitationGone(gettext("This cooperative cannot take new members at the moment, so the invitation "
                                         "no longer works."), field="token")
        return invitation, cooperative

    def accept(self, token: str, *, username: str, password: str, display_name: str) -> User:
        invitation, cooperative = self.open(token)
        if not USERNAME_RE.match((username or "").strip().lower()):
            raise ServiceError(gettext("The username may use lower-case letters, digits and . _ - (3 to 80)."), field="username")
        user = AccountService(self.session).create_user(
            username=username, password=password, display_name=(display_name or username).strip()[:120],
            role=Role.MEMBER, cooperative_id=cooperative.id,
            email=invitation.recipient if invitation.channel == "email" else None)
        # Conditional, so two people racing with one link cannot both join.
        used = self.session.exec(update(MemberInvitation).where(
            MemberInvitation.id == invitation.id, MemberInvitation.status == InvitationStatus.PENDING)
            .values(status=InvitationStatus.ACCEPTED, accepted_at=utcnow(), accepted_user_id=user.id))
        if used.rowcount != 1:
            raise InvitationGone(gettext("This invitation was already used. Log in with the account made with it."), field="token")
        self.session.flush()
        AuditLog(self.session).record("invitation.accept", "invitation", invitation.id, before={"status": InvitationStatus.PENDING},
                                      after={"status": InvitationStatus.ACCEPTED, "user": user.username},
                                      cooperative_id=cooperative.id, actor_user_id=user.id, actor_label=user.username)
        return user
